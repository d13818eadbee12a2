"""ScienceWorld's 30 tasks, the fixed splits built from the package's variations, and caches.

Splits (task ids look like ``boil-var3``):

* ``train`` / ``dev`` / ``test``: the package's own train / dev / test variations of every
  task whose topic is *not* held out;
* ``ood``: the package's test variations of the tasks whose topic *is* held out
  (``ood_topics``, by default Chemistry and Forces), so no variation of those
  topics appears in ``train``.

The variation lists come from the JVM (``getVariationsTrain`` etc.), so they are
computed once and cached as JSON under ``$EARLYEXP_CACHE/scienceworld/<key>/``,
where the key hashes every parameter that shapes them. Gold paths (the expert)
are cached the same way, one file per task id, because generating one takes up
to 6 s (the genetics tasks). Every cache write is atomic (temp file + rename).
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from scienceworld.constants import TASKS
from scienceworld.version import __version__ as SCIENCEWORLD_VERSION

from earlyexp.envs.scienceworld.engine import DETERMINISM_JAVA_OPTS
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

SPLITS = ("train", "dev", "test", "ood")
DEFAULT_OOD_TOPICS = ("Chemistry", "Forces")
#: Task name -> topic ("Matter", "Biology", ...), in the package's order (1-1 ... 10-2).
TOPIC_OF_TASK = {task["task_name"]: task["topic"] for task in TASKS}
TASK_NAMES = tuple(TOPIC_OF_TASK)
TOPICS = tuple(dict.fromkeys(TOPIC_OF_TASK.values()))
# Bump when the format of cached files or the way they are computed changes.
CACHE_FORMAT = 1
# The splits file alone: 2 added the ids left out as unsolved.
SPLITS_FORMAT = 2


def task_id_of(task_name: str, variation: int) -> str:
    return f"{task_name}-var{variation}"


def parse_task_id(task_id: str) -> tuple[str, int] | None:
    """``"boil-var3"`` -> ``("boil", 3)``; None when it is not a ScienceWorld task id."""
    name, sep, variation = task_id.rpartition("-var")
    if not sep or name not in TOPIC_OF_TASK or not variation.isdigit():
        return None
    return name, int(variation)


def cache_root() -> Path:
    return family_cache_root("scienceworld")


def parameters_key(params: dict) -> str:
    """A short stable hash of generation parameters (names a cache folder)."""
    blob = json.dumps(params, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_json(path: Path):
    """The cached JSON at `path`, or None if it is missing or unreadable (then regenerated)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class SplitConfig:
    """Everything that decides the task ids of each split."""

    task_names: tuple[str, ...] = TASK_NAMES
    ood_topics: tuple[str, ...] = DEFAULT_OOD_TOPICS
    variations_per_task: int | None = None
    seed: int = 0
    #: Task ids left out: their gold path was verified not to solve the task (verified.py).
    unsolved: frozenset[str] = frozenset()

    def __post_init__(self):
        unknown = [t for t in self.task_names if t not in TOPIC_OF_TASK]
        if unknown:
            raise ValueError(f"Unknown ScienceWorld task(s) {unknown}; known: {list(TASK_NAMES)}")
        bad_topics = [t for t in self.ood_topics if t not in TOPICS]
        if bad_topics:
            raise ValueError(f"Unknown topic(s) {bad_topics} in ood_topics; known: {list(TOPICS)}")
        if self.variations_per_task is not None and self.variations_per_task < 1:
            raise ValueError(
                f"variations_per_task must be at least 1 or None (all), got {self.variations_per_task}")

    def key(self) -> str:
        return parameters_key({"kind": "splits", "format": CACHE_FORMAT, "splits": SPLITS_FORMAT,
                               "scienceworld": SCIENCEWORLD_VERSION, **asdict(self),
                               "unsolved": sorted(self.unsolved)})

    def is_ood(self, task_name: str) -> bool:
        return TOPIC_OF_TASK[task_name] in self.ood_topics


def build_splits(config: SplitConfig, variations_of: Callable[[str], dict[str, list[int]]]
                 ) -> tuple[dict[str, list[str]], list[str]]:
    """Task ids per split, and the ids left out as unsolved (`config.unsolved`) before any
    sampling; `variations_of(task)` gives the package's train/dev/test variations."""
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    left_out: list[str] = []
    for task_name in config.task_names:
        variations = variations_of(task_name)
        wanted = {"ood": variations["test"]} if config.is_ood(task_name) else {
            split: variations[split] for split in ("train", "dev", "test")}
        for split, indices in wanted.items():
            solved = [v for v in indices if task_id_of(task_name, v) not in config.unsolved]
            left_out += [task_id_of(task_name, v) for v in indices if v not in solved]
            for variation in _subsample(solved, config, f"{task_name}/{split}"):
                splits[split].append(task_id_of(task_name, variation))
    return splits, sorted(left_out)


def _subsample(indices: list[int], config: SplitConfig, salt: str) -> list[int]:
    if config.variations_per_task is None or len(indices) <= config.variations_per_task:
        return sorted(indices)
    return sorted(random.Random(f"{config.seed}/{salt}").sample(indices, config.variations_per_task))


def load_or_build_splits(config: SplitConfig, variations_of
                         ) -> tuple[dict[str, list[str]], list[str]]:
    """`build_splits`, cached as ``{"splits": {...}, "left_out": [...]}``."""
    path = cache_root() / config.key() / "splits.json"
    cached = read_json(path)
    if isinstance(cached, dict) and set(cached.get("splits", ())) == set(SPLITS):
        return cached["splits"], list(cached.get("left_out", []))
    splits, left_out = build_splits(config, variations_of)
    write_text_atomic(path, json.dumps({"splits": splits, "left_out": left_out}))
    return splits, left_out


class GoldPathStore:
    """Gold action sequences per task id, generated by the simulator once and cached on disk."""

    def __init__(self):
        self.folder = cache_root() / parameters_key({
            "kind": "gold", "format": CACHE_FORMAT, "scienceworld": SCIENCEWORLD_VERSION,
            "java_opts": list(DETERMINISM_JAVA_OPTS)})
        self._memory: dict[str, list[str]] = {}

    def get(self, task_id: str, generate: Callable[[], list[str]]) -> list[str]:
        if task_id in self._memory:
            return self._memory[task_id]
        path = self.folder / f"{task_id}.json"
        gold = read_json(path)
        if not (isinstance(gold, list) and all(isinstance(a, str) for a in gold)):
            gold = generate()
            write_text_atomic(path, json.dumps(gold))
        self._memory[task_id] = gold
        return gold
