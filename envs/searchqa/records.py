"""Passages and questions, and their JSONL form (the format user data plugs in with).

Corpus file, one JSON object a line:  {"id": str, "title": str, "text": str}
QA file, one JSON object a line:      {"question": str, "answers": [str, ...]}
    optional keys: "id" (unique str), "split" ("train" | "test" | "ood"),
    "queries" (list of str: the searches the expert issues, one per hop;
    default: the question itself).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earlyexp.errors import ConfigError


SPLITS = ("train", "test", "ood")


@dataclass(frozen=True)
class Passage:
    """One corpus entry."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Hop:
    """One search of the expert's plan and the passage it is meant to bring back (if known)."""

    query: str
    passage_id: str | None = None


@dataclass(frozen=True)
class Question:
    """One task: a question, its gold answers and the expert's search plan."""

    id: str
    split: str
    question: str
    answers: tuple[str, ...]
    hops: tuple[Hop, ...]
    kind: str = "user"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "split": self.split, "question": self.question,
            "answers": list(self.answers), "kind": self.kind,
            "queries": [hop.query for hop in self.hops],
            "passage_ids": [hop.passage_id for hop in self.hops],
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Question:
        hops = tuple(Hop(q, p) for q, p in zip(row["queries"], row["passage_ids"]))
        return cls(row["id"], row["split"], row["question"], tuple(row["answers"]), hops,
                   row["kind"])


def iter_jsonl(path: Path, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; `key` names the config field in errors."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ConfigError(key, str(path), f"line {number} is not JSON ({error.msg}); "
                                      "each line must be one JSON object") from error
                if not isinstance(row, dict):
                    raise ConfigError(key, str(path), f"line {number} is a JSON "
                                      f"{type(row).__name__}, not an object")
                yield number, row
    except OSError as error:
        raise ConfigError(key, str(path), f"cannot read the file ({error.strerror}); "
                          "give the path of an existing JSONL file") from error


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _text_field(row: dict, name: str, key: str, path: Path, number: int) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, str(path), f"line {number}: field {name!r} must be a non-empty "
                          f"string, got {value!r}")
    return value


def load_passages(path: Path, key: str = "corpus_path") -> list[Passage]:
    """Read and validate a corpus JSONL file (unique ids, non-empty title and text)."""
    passages, seen = [], set()
    for number, row in iter_jsonl(path, key):
        passage = Passage(*(_text_field(row, name, key, path, number)
                            for name in ("id", "title", "text")))
        if passage.id in seen:
            raise ConfigError(key, str(path), f"line {number}: passage id {passage.id!r} is used "
                              "twice; ids must be unique")
        seen.add(passage.id)
        passages.append(passage)
    if not passages:
        raise ConfigError(key, str(path), "the corpus is empty; it needs at least one passage")
    return passages


def load_questions(path: Path, key: str = "qa_path") -> list[Question]:
    """Read and validate a QA JSONL file; lines without a split go to `train`."""
    questions, counters, seen = [], dict.fromkeys(SPLITS, 0), set()
    for number, row in iter_jsonl(path, key):
        question = _text_field(row, "question", key, path, number)
        answers = row.get("answers")
        if (not isinstance(answers, list) or not answers
                or not all(isinstance(a, str) and a.strip() for a in answers)):
            raise ConfigError(key, str(path), f"line {number}: 'answers' must be a non-empty list "
                              f"of non-empty strings, got {answers!r}")
        split = row.get("split", "train")
        if split not in SPLITS:
            raise ConfigError(key, str(path),
                              f"line {number}: split {split!r} is not one of {SPLITS}")
        queries = row.get("queries", [question])
        if (not isinstance(queries, list) or not queries
                or not all(isinstance(q, str) and q.strip() for q in queries)):
            raise ConfigError(key, str(path), f"line {number}: 'queries' must be a non-empty list "
                              f"of non-empty strings, got {queries!r}")
        task_id = str(row.get("id", f"{split}-{counters[split]:05d}"))
        if task_id in seen:
            raise ConfigError(key, str(path),
                              f"line {number}: question id {task_id!r} is used twice")
        seen.add(task_id)
        counters[split] += 1
        hops = tuple(Hop(q.strip()) for q in queries)
        questions.append(Question(task_id, split, question.strip(), tuple(answers), hops))
    if not questions:
        raise ConfigError(key, str(path), "the QA file is empty; it needs at least one question")
    return questions
