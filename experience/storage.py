"""Append-only Parquet shards with a verified manifest written last and atomically.

Layout of an experience directory:

    manifest.json                    format, what was collected, the finished shards
    trajectories/shard-00000.parquet
    transitions/shard-00000.parquet
    quarantine/                      shards moved aside by `repair=True`

A shard is written to a temporary name and renamed into place; only then is
the manifest rewritten (again temp + rename) to list it. A run killed at any
moment therefore leaves a manifest that names only complete shards: the
shard in flight is lost, and a restarted writer deletes its leftovers and
skips every task the manifest already lists, so nothing is duplicated or
missed.

What is verified, and when: the manifest records, per shard and kind, its row
count, byte size and SHA-256, and carries a SHA-256 of its own content.
Opening a store (reader or writer) checks the manifest's checksum, that no task
appears twice, and every listed shard's size (cheap: one `stat` per file);
reading a shard checks its SHA-256 and row count. A mismatch is a
`CorruptShardError` / `StoreFormatError` naming the file. `repair=True` moves
damaged shards to quarantine/ (their tasks are then recollected) and, when the
manifest itself is damaged or missing, rebuilds it from the shards on disk,
keeping each task once.
"""
from __future__ import annotations

import hashlib
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
from earlyexp.errors import ConfigError, CorruptShardError, MissingDataError, StoreFormatError
from earlyexp.experience.records import (
    TRAJECTORY_SCHEMA, TRANSITION_SCHEMA, Trajectory, Transition, to_table,
)

FORMAT_VERSION = 2   # 2: per-file size and SHA-256, manifest checksum
MANIFEST = "manifest.json"
KINDS = {"trajectories": TRAJECTORY_SCHEMA, "transitions": TRANSITION_SCHEMA}
REPAIR_HINT = ("Fix: re-run collect with repair=true (it quarantines damaged shards and "
               "rebuilds the manifest from the shards on disk, each task once).")
log = logging.getLogger(__name__)


def task_key(task_id: str, seed: int) -> str:
    """The identity of one unit of collection work."""
    return f"{task_id}@{seed}"


# --------------------------------------------------------------------------- files
def _write_parquet(table: pa.Table, path: Path) -> dict[str, Any]:
    """Write `table` atomically; return the `{"bytes", "sha256"}` record of what was written."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def shard_path(root: Path, kind: str, name: str) -> Path:
    return root / kind / f"{name}.parquet"


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content, its own `checksum` field left out."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["checksum"] = manifest_checksum(manifest)
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=1))


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of an experience directory, checked for encoding, format, its own
    checksum and duplicate tasks (see the module docstring)."""
    path = Path(root) / MANIFEST
    if not path.exists():
        raise MissingDataError(
            f"{root} holds no experience ({MANIFEST} is missing). Run `earlyexp collect` first."
        )
    manifest = _decode_manifest(path)
    if manifest.get("format") != FORMAT_VERSION:
        raise StoreFormatError(
            f"{path} has format {manifest.get('format')!r}; this version reads format "
            f"{FORMAT_VERSION}. Recollect the experience with this version."
        )
    if manifest.get("checksum") != manifest_checksum(manifest):
        raise StoreFormatError(
            f"{path} does not match its own checksum: it was edited or damaged after it was "
            f"written, so the shards it lists cannot be trusted. Nothing was read or "
            f"recollected. Restore the file, or: {REPAIR_HINT}")
    seen: set[str] = set()
    for shard in manifest["shards"]:
        twice = seen.intersection(shard["tasks"])
        if twice:
            raise StoreFormatError(f"{path} lists task {sorted(twice)[0]} twice. {REPAIR_HINT}")
        seen.update(shard["tasks"])
    return manifest


def _decode_manifest(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StoreFormatError(f"{path} is not UTF-8 text (byte {raw[e.start]:#04x} at offset "
                               f"{e.start}); the file is damaged. {REPAIR_HINT}") from e
    except json.JSONDecodeError as e:
        raise StoreFormatError(f"{path} is not valid JSON ({e}); the file is damaged. "
                               f"{REPAIR_HINT}") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards", []), list):
        raise StoreFormatError(f"{path} is not an experience manifest. {REPAIR_HINT}")
    return manifest


def check_sizes(root: Path, manifest: dict[str, Any]) -> None:
    """The fast check: every listed shard exists with the size the manifest recorded."""
    for shard in manifest["shards"]:
        for kind in KINDS:
            path = shard_path(root, kind, shard["name"])
            expected = shard["files"][kind]["bytes"]
            size = path.stat().st_size if path.exists() else None
            if size != expected:
                found = "the file is missing" if size is None else f"{size} bytes"
                raise CorruptShardError(str(path), f"{found} where the manifest recorded "
                                                   f"{expected}")


def read_shard(root: Path, kind: str, shard: dict[str, Any]) -> pa.Table:
    """The full check and read of one shard: size, SHA-256, Parquet, row count."""
    path = shard_path(root, kind, shard["name"])
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorruptShardError(str(path), f"{type(e).__name__}: {e}") from e
    record = shard["files"][kind]
    if len(data) != record["bytes"] or hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise CorruptShardError(str(path), f"{len(data)} bytes, SHA-256 differs from the "
                                           f"manifest's ({record['bytes']} bytes recorded)")
    table = _parse(path, data, kind)
    if table.num_rows != shard[kind]:
        raise CorruptShardError(
            str(path), f"{table.num_rows} rows where the manifest lists {shard[kind]}")
    return table


def _parse(path: Path, data: bytes, kind: str) -> pa.Table:
    try:
        return pq.read_table(pa.BufferReader(data), schema=KINDS[kind])
    except (OSError, pa.ArrowException) as e:
        raise CorruptShardError(str(path), f"{type(e).__name__}: {e}") from e


@dataclass
class TaskResult:
    """Everything one task produced: its expert trajectory and its transitions."""

    trajectory: Trajectory
    transitions: list[Transition] = field(default_factory=list)

    @property
    def key(self) -> str:
        return task_key(self.trajectory.task_id, self.trajectory.seed)


# --------------------------------------------------------------------------- writer
class ExperienceWriter:
    """Buffers task results and writes them as shards of `shard_size` tasks.

    `meta` describes the collection (env, k, sampler, ...); reopening a
    directory with a different `meta` refuses and names the differing keys,
    because mixing two configurations in one dataset would be silent damage.
    Reopening verifies the store (module docstring); `repair=True` repairs it first.
    """

    def __init__(self, root: str | Path, meta: dict[str, Any], shard_size: int = 8,
                 repair: bool = False):
        if shard_size < 1:
            raise ConfigError("shard_size", shard_size, "must be at least 1")
        self.root, self.meta, self.shard_size = Path(root), meta, shard_size
        self._buffer: list[TaskResult] = []
        self.repaired = repair_store(self.root, meta) if repair else []
        self.manifest = self._open_manifest()
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        self._remove_leftovers()

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
        files = {
            "trajectories": _write_parquet(to_table(trajectories, TRAJECTORY_SCHEMA),
                                           shard_path(self.root, "trajectories", name)),
            "transitions": _write_parquet(to_table(transitions, TRANSITION_SCHEMA),
                                          shard_path(self.root, "transitions", name)),
        }
        self.manifest["shards"].append({
            "name": name, "tasks": [r.key for r in self._buffer],
            "trajectories": len(trajectories), "transitions": len(transitions), "files": files,
        })
        self.manifest["next_shard"] += 1
        write_manifest(self.root, self.manifest)
        self._buffer.clear()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> "ExperienceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -------------------------------------------------------------- internals
    def _open_manifest(self) -> dict[str, Any]:
        if not (self.root / MANIFEST).exists():
            stray = _shard_files(self.root) - {"shard-00000"}
            if stray:  # only the first shard can be on disk before the first manifest
                raise StoreFormatError(
                    f"{self.root} holds shards ({', '.join(sorted(stray)[:3])}, ...) but no "
                    f"{MANIFEST}; starting afresh would discard them. {REPAIR_HINT}")
            return {"format": FORMAT_VERSION, "meta": self.meta, "shards": [], "next_shard": 0}
        manifest = read_manifest(self.root)
        _refuse_other_meta(self.root, manifest["meta"], self.meta)
        check_sizes(self.root, manifest)
        return manifest

    def _remove_leftovers(self) -> None:
        """Delete what a killed run left: temp files and the unlisted shard in flight.
        Any other unlisted shard means the manifest lost track of data: refuse."""
        listed = {shard["name"] for shard in self.manifest["shards"]}
        in_flight = f"shard-{self.manifest['next_shard']:05d}"
        for kind in KINDS:
            for path in (self.root / kind).iterdir():
                if path.name.startswith(".") or path.stem == in_flight:
                    log.info("removing %s left over by an interrupted run", path)
                    path.unlink()
                elif path.stem not in listed:
                    raise StoreFormatError(
                        f"{path} is not listed in {self.root / MANIFEST}; the manifest lost "
                        f"track of it. Nothing was deleted. {REPAIR_HINT}")


def _refuse_other_meta(root: Path, stored: dict[str, Any], meta: dict[str, Any]) -> None:
    differing = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
    if differing:
        raise ConfigError(
            "out_dir", str(root),
            f"it holds experience collected with a different configuration (keys "
            f"{differing} differ). Use a new out_dir, or the same configuration to resume.",
        )


def _shard_files(root: Path) -> set[str]:
    return {p.stem for kind in KINDS if (root / kind).is_dir()
            for p in (root / kind).iterdir() if not p.name.startswith(".")}


# --------------------------------------------------------------------------- repair
def repair_store(root: str | Path, meta: dict[str, Any] | None = None) -> list[str]:
    """Quarantine every damaged shard and make the manifest list exactly the healthy ones,
    each task once; returns the quarantined paths. A damaged or missing manifest is
    rebuilt from the shards on disk (its `meta` from the old manifest if that still
    parses, else `meta`)."""
    root = Path(root)
    if not root.exists():
        return []
    try:
        manifest = read_manifest(root)
        if meta is not None:
            _refuse_other_meta(root, manifest["meta"], meta)
        candidates = [(s["name"], s) for s in manifest["shards"]]
        quarantined = _quarantine_unlisted(root, manifest)
    except (StoreFormatError, MissingDataError) as damage:
        if not _shard_files(root) and not (root / MANIFEST).exists():
            return []
        log.warning("rebuilding %s from the shards on disk: %s", root / MANIFEST, damage)
        manifest = _rebuilt_manifest(root, meta)
        candidates = [(name, None) for name in sorted(_shard_files(root))]
        quarantined = []
    healthy, seen = [], set()
    for name, listed in candidates:
        try:
            shard = _verified_shard(root, name, listed)
            if seen.intersection(shard["tasks"]):
                raise CorruptShardError(str(shard_path(root, "trajectories", name)),
                                        "holds tasks another shard already holds")
            seen.update(shard["tasks"])
            healthy.append(shard)
        except CorruptShardError as e:
            log.warning("quarantining %s: %s", name, e.reason)
            quarantined.append(e.path)
            _quarantine(root, name)
    manifest["shards"] = healthy
    manifest["next_shard"] = max([manifest.get("next_shard", 0)] +
                                 [_shard_number(n) + 1 for n, _ in candidates])
    write_manifest(root, manifest)
    return quarantined


def _shard_number(name: str) -> int:
    prefix, _, number = name.partition("-")
    return int(number) if prefix == "shard" and number.isdigit() else -1


def _quarantine_unlisted(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Shards on disk that a valid manifest does not list (other than the one in flight):
    moved aside, since their tasks are either listed elsewhere or will be recollected."""
    listed = {shard["name"] for shard in manifest["shards"]}
    in_flight = f"shard-{manifest['next_shard']:05d}"
    moved = sorted(_shard_files(root) - listed - {in_flight})
    for name in moved:
        log.warning("quarantining %s: not listed in the manifest", name)
        _quarantine(root, name)
    return moved


def _rebuilt_manifest(root: Path, meta: dict[str, Any] | None) -> dict[str, Any]:
    old_meta = None
    try:
        old_meta = _decode_manifest(root / MANIFEST).get("meta")
    except (StoreFormatError, OSError):
        pass
    if old_meta is not None and meta is not None:
        _refuse_other_meta(root, old_meta, meta)
    if old_meta is None and meta is None:
        raise StoreFormatError(f"{root / MANIFEST} is unreadable and no configuration was "
                               "given to rebuild it with; repair it through `earlyexp collect "
                               "... repair=true`, which knows the configuration.")
    return {"format": FORMAT_VERSION, "meta": old_meta if old_meta is not None else meta,
            "shards": [], "next_shard": 0}


def _verified_shard(root: Path, name: str, listed: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest entry of shard `name`: `listed` checked in full, or (when rebuilding)
    derived from the files themselves."""
    if listed is not None:
        for kind in KINDS:
            read_shard(root, kind, listed)
        return listed
    tables, files = {}, {}
    for kind in KINDS:
        path = shard_path(root, kind, name)
        if not path.exists():
            raise CorruptShardError(str(path), "the file is missing (its other half exists)")
        data = path.read_bytes()
        tables[kind] = _parse(path, data, kind)
        files[kind] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    tasks = [task_key(r["task_id"], r["seed"])
             for r in tables["trajectories"].select(["task_id", "seed"]).to_pylist()]
    if len(set(tasks)) != len(tasks):
        raise CorruptShardError(str(shard_path(root, "trajectories", name)),
                                "holds the same task twice")
    return {"name": name, "tasks": tasks, "trajectories": tables["trajectories"].num_rows,
            "transitions": tables["transitions"].num_rows, "files": files}


def _quarantine(root: Path, name: str) -> None:
    for kind in KINDS:
        src = shard_path(root, kind, name)
        if src.exists():
            dst = root / "quarantine" / kind
            dst.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), dst / src.name)


# --------------------------------------------------------------------------- reader
class ExperienceStore:
    """Reads an experience directory. Opening checks the manifest and every shard's size;
    reading a shard checks its SHA-256 and row count. Damage raises `CorruptShardError`
    or `StoreFormatError` naming the file, unless `repair=True`: then `repair_store` runs
    first (damaged shards to quarantine/, their tasks recollected by a resumed collection)
    and `self.repaired` lists what it moved."""

    def __init__(self, root: str | Path, repair: bool = False,
                 meta: dict[str, Any] | None = None):
        self.root = Path(root)
        self.repaired: list[str] = repair_store(self.root, meta) if repair else []
        self.manifest = read_manifest(self.root)
        check_sizes(self.root, self.manifest)

    @property
    def meta(self) -> dict[str, Any]:
        return self.manifest["meta"]

    def table(self, kind: str) -> pa.Table:
        tables = [read_shard(self.root, kind, shard) for shard in self.manifest["shards"]]
        return pa.concat_tables(tables) if tables else KINDS[kind].empty_table()

    def trajectories(self) -> list[Trajectory]:
        return [Trajectory.from_row(r) for r in self.table("trajectories").to_pylist()]

    def transitions(self) -> list[Transition]:
        return [Transition.from_row(r) for r in self.table("transitions").to_pylist()]

    def verify(self) -> None:
        """Read every shard of every kind in full (SHA-256 and row counts)."""
        for shard in self.manifest["shards"]:
            for kind in KINDS:
                read_shard(self.root, kind, shard)

    def counts(self) -> dict[str, int]:
        shards = self.manifest["shards"]
        return {"shards": len(shards),
                "trajectories": sum(s["trajectories"] for s in shards),
                "transitions": sum(s["transitions"] for s in shards)}
