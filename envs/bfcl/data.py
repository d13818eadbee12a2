"""BFCL multi-turn tasks as read from the installed `bfcl-eval` package, and the fixed splits.

Each category file (`BFCL_v4_multi_turn_<category>.json`) holds one JSON
object per line: the user turns, the backend classes involved, their initial
configuration and, for `miss_func`, the functions held out until a later turn.
The per-turn ground-truth calls live in `possible_answer/` under the same id.

Splits: the 200 `base` tasks are split once into `train` and `test`,
stratified by the set of backend classes a task involves, deterministically
from a seed; the assignment is cached as JSON (written atomically) under
`$EARLYEXP_CACHE/bfcl/<key>/`. `ood` is every `long_context`, `miss_func` and
`miss_param` task.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

ID_PREFIX = "multi_turn_"
IN_DISTRIBUTION_CATEGORY = "base"
OOD_CATEGORIES = ("long_context", "miss_func", "miss_param")
CATEGORIES = (IN_DISTRIBUTION_CATEGORY, *OOD_CATEGORIES)
SPLIT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class BfclTask:
    """One multi-turn task: its user turns, backends, initial state and ground truth."""

    task_id: str
    category: str
    user_turns: tuple[str, ...]  # "" for a turn that only announces held-out functions
    involved_classes: tuple[str, ...]
    initial_config: dict[str, Any]
    ground_truth: tuple[tuple[str, ...], ...]  # the calls of each turn, as BFCL writes them
    missed_functions: dict[int, tuple[str, ...]]  # turn index -> functions that appear then

    @property
    def num_turns(self) -> int:
        return len(self.user_turns)

    @property
    def long_context(self) -> bool:
        # BFCL loads its backends with extra filler state for this category only.
        return self.category == "long_context"


def data_dir() -> Path:
    """The `data/` folder of the installed `bfcl-eval` package."""
    return Path(str(resources.files("bfcl_eval"))) / "data"


def category_of(task_id: str) -> str:
    """`multi_turn_miss_func_12` -> `miss_func` (raises KeyError for a foreign id)."""
    category = task_id.removeprefix(ID_PREFIX).rsplit("_", 1)[0]
    if not task_id.startswith(ID_PREFIX) or category not in CATEGORIES:
        raise KeyError(task_id)
    return category


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _user_text(messages: list[dict[str, str]]) -> str:
    return "\n".join(m["content"] for m in messages if m.get("role") == "user")


@cache
def load_category(category: str) -> dict[str, BfclTask]:
    """Every task of one category, by id, in file order."""
    file_name = f"BFCL_v4_{ID_PREFIX}{category}.json"
    entries = _read_jsonl(data_dir() / file_name)
    answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(data_dir() / "possible_answer" / file_name)}
    tasks = {}
    for entry in entries:
        truth = answers[entry["id"]]
        if len(truth) != len(entry["question"]):
            raise ValueError(f"{entry['id']}: {len(truth)} ground-truth turns for "
                             f"{len(entry['question'])} user turns in {file_name}")
        tasks[entry["id"]] = BfclTask(
            task_id=entry["id"],
            category=category,
            user_turns=tuple(_user_text(turn) for turn in entry["question"]),
            involved_classes=tuple(entry["involved_classes"]),
            initial_config=entry.get("initial_config", {}),
            ground_truth=tuple(tuple(turn) for turn in truth),
            missed_functions={int(k): tuple(v) for k, v in entry.get("missed_function", {}).items()},
        )
    return tasks


def load_task(task_id: str) -> BfclTask:
    """The task with this id (raises KeyError when there is none)."""
    return load_category(category_of(task_id))[task_id]


def _numeric_order(task_id: str) -> tuple[str, int]:
    prefix, _, number = task_id.rpartition("_")
    return prefix, int(number)


# ---------------------------------------------------------------- splits
def cache_root() -> Path:
    return family_cache_root("bfcl")


def split_key(seed: int, test_fraction: float) -> str:
    """Cache key of a split assignment: its parameters plus a digest of the data it splits."""
    ids = "\n".join(load_category(IN_DISTRIBUTION_CATEGORY))
    digest = hashlib.sha1(f"{metadata.version('bfcl-eval')}\n{ids}".encode()).hexdigest()[:12]
    return f"splits-v{SPLIT_FORMAT_VERSION}-seed{seed}-test{test_fraction:g}-{digest}"


def stratified_split(seed: int, test_fraction: float) -> dict[str, list[str]]:
    """Split `base` into train/test, stratified by the set of involved backend classes."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for task in load_category(IN_DISTRIBUTION_CATEGORY).values():
        groups.setdefault(tuple(sorted(task.involved_classes)), []).append(task.task_id)
    train, test = [], []
    for group in sorted(groups):
        ids = sorted(groups[group], key=_numeric_order)
        random.Random(f"{seed}:{'+'.join(group)}").shuffle(ids)
        n_test = round(len(ids) * test_fraction)
        test += ids[:n_test]
        train += ids[n_test:]
    return {"train": sorted(train, key=_numeric_order), "test": sorted(test, key=_numeric_order)}


def _valid_split(data: Any) -> bool:
    known = set(load_category(IN_DISTRIBUTION_CATEGORY))
    if not isinstance(data, dict) or set(data) != {"train", "test"}:
        return False
    train, test = data["train"], data["test"]
    return set(train) | set(test) == known and not set(train) & set(test)


@cache
def base_splits(seed: int, test_fraction: float) -> dict[str, tuple[str, ...]]:
    """The cached train/test assignment of `base` (computed and written on first use)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    path = cache_root() / split_key(seed, test_fraction) / "splits.json"
    data = None
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
    if not _valid_split(data):  # absent, or written by something else: recompute
        data = stratified_split(seed, test_fraction)
        write_text_atomic(path, json.dumps(data, indent=1))
    return {name: tuple(ids) for name, ids in data.items()}


def ood_ids() -> tuple[str, ...]:
    """Every task of the out-of-distribution categories, category by category."""
    return tuple(tid for category in OOD_CATEGORIES for tid in load_category(category))
