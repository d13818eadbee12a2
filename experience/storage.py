"""Append-only Parquet shards with a manifest written last and atomically.

Layout of an experience directory:

    manifest.json                    format, what was collected, the finished shards
    trajectories/shard-00000.parquet
    transitions/shard-00000.parquet
    quarantine/                      corrupt shards moved aside by `repair=True`

A shard is written to a temporary name and renamed into place; only then is
the manifest rewritten (again temp + rename) to list it. A run killed at any
moment therefore leaves a manifest that names only complete shards: the
shard in flight is lost, and a restarted writer deletes its leftovers and
skips every task the manifest already lists, so nothing is duplicated or
missed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from earlyexp.envs.cache import write_text_atomic
from earlyexp.errors import ConfigError, CorruptShardError, StoreFormatError
from earlyexp.experience.records import (
    TRAJECTORY_SCHEMA, TRANSITION_SCHEMA, Trajectory, Transition, to_table,
)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KINDS = {"trajectories": TRAJECTORY_SCHEMA, "transitions": TRANSITION_SCHEMA}
log = logging.getLogger(__name__)


def task_key(task_id: str, seed: int) -> str:
    """The identity of one unit of collection work."""
    return f"{task_id}@{seed}"


def _atomic_write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


@dataclass
class TaskResult:
    """Everything one task produced: its expert trajectory and its transitions."""

    trajectory: Trajectory
    transitions: list[Transition] = field(default_factory=list)

    @property
    def key(self) -> str:
        return task_key(self.trajectory.task_id, self.trajectory.seed)


class ExperienceWriter:
    """Buffers task results and writes them as shards of `shard_size` tasks.

    `meta` describes the collection (env, k, sampler, ...); reopening a
    directory with a different `meta` refuses and names the differing keys,
    because mixing two configurations in one dataset would be silent damage.
    """

    def __init__(self, root: str | Path, meta: dict[str, Any], shard_size: int = 8):
        if shard_size < 1:
            raise ConfigError("shard_size", shard_size, "must be at least 1")
        self.root, self.meta, self.shard_size = Path(root), meta, shard_size
        self._buffer: list[TaskResult] = []
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        self.manifest = self._open_manifest()
        self._remove_unlisted_shards()

    @property
    def done(self) -> set[str]:
        """Keys of tasks already stored (listed by the manifest)."""
        return {key for shard in self.manifest["shards"] for key in shard["tasks"]}

    def add(self, result: TaskResult) -> None:
        self._buffer.append(result)
        if len(self._buffer) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        name = f"shard-{self.manifest['next_shard']:05d}"
        trajectories = [r.trajectory for r in self._buffer]
        transitions = [t for r in self._buffer for t in r.transitions]
        _atomic_write_parquet(to_table(trajectories, TRAJECTORY_SCHEMA),
                              self.root / "trajectories" / f"{name}.parquet")
        _atomic_write_parquet(to_table(transitions, TRANSITION_SCHEMA),
                              self.root / "transitions" / f"{name}.parquet")
        self.manifest["shards"].append({
            "name": name, "tasks": [r.key for r in self._buffer],
            "trajectories": len(trajectories), "transitions": len(transitions),
        })
        self.manifest["next_shard"] += 1
        self._write_manifest()
        self._buffer.clear()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "ExperienceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- internals
    def _open_manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.exists():
            return {"format": FORMAT_VERSION, "meta": self.meta, "shards": [], "next_shard": 0}
        manifest = read_manifest(self.root)
        differing = sorted(
            k for k in set(manifest["meta"]) | set(self.meta)
            if manifest["meta"].get(k) != self.meta.get(k)
        )
        if differing:
            raise ConfigError(
                "out_dir", str(self.root),
                f"it holds experience collected with a different configuration (keys "
                f"{differing} differ). Use a new out_dir, or the same configuration to resume.",
            )
        return manifest

    def _write_manifest(self) -> None:
        write_text_atomic(self.root / MANIFEST, json.dumps(self.manifest, indent=1))

    def _remove_unlisted_shards(self) -> None:
        listed = {shard["name"] for shard in self.manifest["shards"]}
        for kind in KINDS:
            for path in (self.root / kind).iterdir():
                if path.name.startswith(".") or path.stem not in listed:
                    log.info("removing %s left over by an interrupted run", path)
                    path.unlink()


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of an experience directory, checked for format and readability."""
    path = Path(root) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"{root} holds no experience ({MANIFEST} is missing). Run `earlyexp collect` first."
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise StoreFormatError(f"{path} is not valid JSON ({e}); the directory is damaged.") from e
    if manifest.get("format") != FORMAT_VERSION:
        raise StoreFormatError(
            f"{path} has format {manifest.get('format')!r}; this version reads format "
            f"{FORMAT_VERSION}. Recollect the experience with this version."
        )
    return manifest


class ExperienceStore:
    """Reads an experience directory. A corrupt shard raises `CorruptShardError`
    naming the file, unless `repair=True`: then it is moved to quarantine/,
    dropped from the manifest (so a resumed collection redoes its tasks) and
    reported in `self.repaired`."""

    def __init__(self, root: str | Path, repair: bool = False):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self.repaired: list[str] = []
        if repair:
            self._repair()

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest["meta"]

    def table(self, kind: str) -> pa.Table:
        tables = [self._read(kind, shard) for shard in self.manifest["shards"]]
        return pa.concat_tables(tables) if tables else KINDS[kind].empty_table()

    def trajectories(self) -> list[Trajectory]:
        return [Trajectory.from_row(r) for r in self.table("trajectories").to_pylist()]

    def transitions(self) -> list[Transition]:
        return [Transition.from_row(r) for r in self.table("transitions").to_pylist()]

    def counts(self) -> dict[str, int]:
        shards = self.manifest["shards"]
        return {"shards": len(shards),
                "trajectories": sum(s["trajectories"] for s in shards),
                "transitions": sum(s["transitions"] for s in shards)}

    def _read(self, kind: str, shard: dict[str, Any]) -> pa.Table:
        path = self.root / kind / f"{shard['name']}.parquet"
        try:
            table = pq.read_table(path, schema=KINDS[kind])
        except (OSError, pa.ArrowException) as e:
            raise CorruptShardError(str(path), f"{type(e).__name__}: {e}") from e
        if table.num_rows != shard[kind]:
            raise CorruptShardError(
                str(path), f"{table.num_rows} rows where the manifest lists {shard[kind]}"
            )
        return table

    def _repair(self) -> None:
        healthy = []
        for shard in self.manifest["shards"]:
            try:
                for kind in KINDS:
                    self._read(kind, shard)
                healthy.append(shard)
            except CorruptShardError as e:
                log.warning("quarantining %s: %s", shard["name"], e.reason)
                self.repaired.append(e.path)
                self._quarantine(shard)
        if self.repaired:
            self.manifest["shards"] = healthy
            write_text_atomic(self.root / MANIFEST, json.dumps(self.manifest, indent=1))

    def _quarantine(self, shard: dict[str, Any]) -> None:
        for kind in KINDS:
            src = self.root / kind / f"{shard['name']}.parquet"
            if src.exists():
                dst = self.root / "quarantine" / kind
                dst.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), dst / src.name)
