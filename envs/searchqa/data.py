"""Where the corpus, the questions and the index come from, and how they are cached.

Generated data is a pure function of its `GenerationParams`; it lives under
`$EARLYEXP_CACHE/searchqa/gen-<hash of the params>/` (default cache root
`~/.cache/earlyexp`). A user corpus gets its index cached under
`user-<hash of the corpus file>/`. Each cache directory is built in a
temporary sibling and moved into place with one `os.replace`, with its
manifest written last, so a killed build never leaves a directory that a
later run trusts. Within a process, loaded bundles are memoised, so many
environments (branching copies, parallel workers) share one index.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from earlyexp.envs.searchqa.questions import QuestionWriter
from earlyexp.envs.searchqa.records import (
    SPLITS, Passage, Question, iter_jsonl, load_passages, load_questions, write_jsonl,
)
from earlyexp.envs.searchqa.retrieval import INDEX_VERSION, SearchIndex
from earlyexp.envs.searchqa.world import generate_world, passage_text
from earlyexp.errors import ConfigError
from earlyexp.envs.cache import cache_root as family_cache_root


#: Bumped whenever the generator's output changes for the same parameters.
GENERATOR_VERSION = 5
MANIFEST = "manifest.json"
#: Share of the generated passages in each split's sub-world.
SPLIT_SHARES = {"train": 0.6, "test": 0.2, "ood": 0.2}


@dataclass(frozen=True)
class GenerationParams:
    """Everything the generated corpus and questions depend on."""

    num_passages: int = 20_000
    num_train: int = 2_000
    num_test: int = 500
    num_ood: int = 500
    seed: int = 0

    def key(self) -> str:
        spec = {**asdict(self), "generator": GENERATOR_VERSION, "index": INDEX_VERSION}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        return f"gen-{digest[:16]}"

    def counts(self) -> dict[str, int]:
        return {"train": self.num_train, "test": self.num_test, "ood": self.num_ood}


@dataclass
class Bundle:
    """A corpus, its index and the questions of each split (in task order)."""

    passages: list[Passage]
    questions: dict[str, list[Question]]
    index: SearchIndex
    directory: Path
    by_task: dict[str, Question] = field(init=False)
    by_passage: dict[str, Passage] = field(init=False)

    def __post_init__(self) -> None:
        self.by_task = {q.id: q for split in self.questions.values() for q in split}
        self.by_passage = {p.id: p for p in self.passages}


def forget_loaded() -> None:
    """Drop the bundles memoised in this process (the next environment loads from disk)."""
    _generated_bundle.cache_clear()
    _user_bundle.cache_clear()


def cache_root() -> Path:
    return family_cache_root("searchqa")


def ensure_cached(directory: Path, build: Callable[[Path], dict]) -> Path:
    """Return `directory`, building it first (atomically) unless a finished build is there.

    `build(staging)` writes the files into an empty staging directory and returns
    the manifest, which is written last; the staging directory then replaces
    `directory` in one rename.
    """
    if (directory / MANIFEST).is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        manifest = build(staging)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if directory.exists() and not (directory / MANIFEST).is_file():
            shutil.rmtree(directory)  # left by an older layout: unfinished, never trusted
        try:
            os.replace(staging, directory)
        except OSError:
            if not (directory / MANIFEST).is_file():
                raise
            # another process finished the same build first; its copy is identical
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


# ---------------------------------------------------------------- generated data
def generated_bundle(params: GenerationParams) -> Bundle:
    return _generated_bundle(params, cache_root())


@functools.lru_cache(maxsize=4)
def _generated_bundle(params: GenerationParams, root: Path) -> Bundle:
    directory = ensure_cached(root / params.key(), functools.partial(_build_generated, params))
    passages = load_passages(directory / "corpus.jsonl", key="cache")
    questions: dict[str, list[Question]] = {split: [] for split in SPLITS}
    for _, row in iter_jsonl(directory / "qa.jsonl", key="cache"):
        questions[row["split"]].append(Question.from_json(row))
    return Bundle(passages, questions, SearchIndex.load(directory / "index", passages), directory)


def _build_generated(params: GenerationParams, staging: Path) -> dict:
    world = generate_world(params.num_passages, SPLIT_SHARES, params.seed)
    wording = random.Random(f"searchqa-passages-{params.seed}")
    passages = [Passage(e.id, e.name, passage_text(world, e, wording))
                for e in world.entities.values()]
    questions = []
    for split, count in params.counts().items():
        writer = QuestionWriter(world, split, random.Random(f"searchqa-qa-{params.seed}-{split}"))
        questions += writer.write(count)
    write_jsonl(staging / "corpus.jsonl", [asdict(p) for p in passages])
    write_jsonl(staging / "qa.jsonl", [q.to_json() for q in questions])
    SearchIndex.build(passages).save(staging / "index")
    return {"params": asdict(params), "generator": GENERATOR_VERSION, "index": INDEX_VERSION,
            "passages": len(passages), "questions": params.counts()}


# ---------------------------------------------------------------- user data
def user_bundle(corpus_path: str, qa_path: str) -> Bundle:
    corpus, qa = Path(corpus_path).expanduser().resolve(), Path(qa_path).expanduser().resolve()
    # The file stamps are part of the memo key, so an edited file is read again.
    return _user_bundle(corpus, qa, _stamp(corpus, "corpus_path"), _stamp(qa, "qa_path"),
                        cache_root())


@functools.lru_cache(maxsize=4)
def _user_bundle(corpus: Path, qa: Path, corpus_stamp, qa_stamp, root: Path) -> Bundle:
    passages = load_passages(corpus)
    questions: dict[str, list[Question]] = {split: [] for split in SPLITS}
    for question in load_questions(qa):
        questions[question.split].append(question)
    key = hashlib.sha256(f"{_file_digest(corpus)}-{INDEX_VERSION}".encode()).hexdigest()[:16]

    def build(staging: Path) -> dict:
        SearchIndex.build(passages).save(staging / "index")
        return {"corpus": str(corpus), "index": INDEX_VERSION, "passages": len(passages)}

    directory = ensure_cached(root / f"user-{key}", build)
    return Bundle(passages, questions, SearchIndex.load(directory / "index", passages), directory)


def _stamp(path: Path, key: str) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError as error:
        raise ConfigError(key, str(path), f"cannot read the file ({error.strerror}); give the "
                          "path of an existing JSONL file") from error
    return stat.st_mtime_ns, stat.st_size


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
