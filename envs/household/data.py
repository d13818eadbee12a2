"""The fixed splits: generated once per parameter set, cached as JSON, loaded once per process.

Cache layout: `<EARLYEXP_CACHE or ~/.cache/earlyexp>/household/<key>/<split>-<size>.json`,
where `<key>` names the generator version, the seed and a digest of the
catalog tables, so editing the catalog or the generator never serves stale
rooms. Files are written to a temporary name and moved into place with
`os.replace`, so a killed run leaves either no file or a complete one; a file
that fails to parse or does not match its parameters is regenerated.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from earlyexp.envs.household import catalog
from earlyexp.envs.household.generator import generate_task
from earlyexp.envs.household.world import TaskSpec
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

#: Bump when the generator's output for the same parameters changes.
GENERATOR_VERSION = 1
SPLITS = ("train", "test", "ood")


def cache_root() -> Path:
    return family_cache_root("household")


def _catalog_digest() -> str:
    """A digest of every table the generator reads, in a canonical (sorted) form."""
    tables = {
        "objects": {n: [o.scenes, o.spawns, sorted(o.props)] for n, o in catalog.OBJECT_TYPES.items()},
        "ood": sorted(catalog.OOD_OBJECT_TYPES),
        "layouts": catalog.LAYOUTS,
        "scene_tasks": catalog.SCENE_TASKS,
        "openable": sorted(catalog.OPENABLE),
        "lamps": [catalog.LAMP_TYPES, catalog.LAMP_SURFACES],
    }
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:12]


def params_key(seed: int) -> str:
    """The cache directory name of one generation parameter set."""
    return f"v{GENERATOR_VERSION}-seed{seed}-{_catalog_digest()}"


def split_path(seed: int, split: str, size: int) -> Path:
    return cache_root() / params_key(seed) / f"{split}-{size}.json"


def load_split(seed: int, split: str, size: int) -> tuple[TaskSpec, ...]:
    """The `size` tasks of `split` for generation seed `seed`, from cache or generated."""
    return _load_split(str(cache_root()), seed, split, size)


@functools.lru_cache(maxsize=32)
def _load_split(root: str, seed: int, split: str, size: int) -> tuple[TaskSpec, ...]:
    # `root` is part of the memo key so that a changed EARLYEXP_CACHE is honoured.
    path = split_path(seed, split, size)
    header = {"version": GENERATOR_VERSION, "seed": seed, "split": split, "size": size,
              "key": params_key(seed)}
    cached = _read(path, header)
    if cached is not None:
        return cached
    specs = tuple(generate_task(seed, split, index) for index in range(size))
    payload = {**header, "tasks": [s.to_dict() for s in specs]}
    write_text_atomic(path, json.dumps(payload, separators=(",", ":")))
    return specs


def _read(path: Path, header: dict) -> tuple[TaskSpec, ...] | None:
    """The cached specs, or None if the file is missing, unreadable or for other parameters."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if any(data.get(k) != v for k, v in header.items()) or len(data["tasks"]) != header["size"]:
            return None
        return tuple(TaskSpec.from_dict(t) for t in data["tasks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


