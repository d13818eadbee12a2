"""RL checkpoints: write, verify and resume from them; export the final policy.

`out_dir/checkpoints/iter-NNNNNN/` holds `model/`, `trainer_state.pt`, `rng-<rank>.pt`,
`config.json` and, written last, `index.json`: every file of the checkpoint with its size
and SHA-256. The directory is written under a temporary name and renamed, and
`out_dir/checkpoints/latest` is updated after that.

Resume (`resume_point`) takes the newest *complete* checkpoint: one whose index lists
files that are all there with their recorded size and hash (the RNG files are judged
separately, below). It logs which one it took and why it skipped any newer one; when a
skipped iteration is redone, the old directory is moved to `checkpoints/incomplete/`, so
that nothing is ever overwritten. Checkpoints that exist but none complete is an error, never a silent
restart from `init`. A missing or unreadable `rng-<rank>.pt` is an error unless
`resume_rng=false` (then the run goes on, logged, but is no longer bit-reproducible).
`rewind_logs` then cuts `metrics.jsonl` (via the tracker) and `episodes.jsonl` back to the
resumed iteration, so that every iteration is logged once.

`out_dir/final` is the trained policy as a plain Hugging Face checkpoint plus `rl.json`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from earlyexp.errors import ConfigError, CorruptCheckpointError
from earlyexp.training.config import flatten
from earlyexp.training.rl.config import RESUMABLE_KEYS, RLConfig
from earlyexp.training.rl.distributed import Distributed
from earlyexp.errors import ResumeMismatchError
from earlyexp.training.rl.model import ActorCritic

CHECKPOINTS, LATEST, FINAL = "checkpoints", "latest", "final"
INDEX, STATE, CONFIG, EPISODES = "index.json", "trainer_state.pt", "config.json", "episodes.jsonl"
INCOMPLETE = "incomplete"
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- writing
def save_checkpoint(out_dir: Path, iteration: int, module: ActorCritic, tokenizer, optimizer,
                    history: list, config_dict: dict, dist: Distributed) -> Path:
    """Write `checkpoints/iter-NNNNNN` atomically (temp dir, index last, rename, `latest`)."""
    root = out_dir / CHECKPOINTS
    final = root / f"iter-{iteration:06d}"
    tmp = root / f".iter-{iteration:06d}.tmp"
    if dist.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        module.lm.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        torch.save({"iteration": iteration, "optimizer": optimizer.state_dict(),
                    "value_head": module.value_head.state_dict() if module.value_head else None,
                    "history": history}, tmp / STATE)
        (tmp / CONFIG).write_text(json.dumps(config_dict, indent=1))
    dist.barrier()
    torch.save(_rng_state(), tmp / f"rng-{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        index = {"iteration": iteration, "world_size": dist.world_size,
                 "files": {str(p.relative_to(tmp)): _file_record(p)
                           for p in sorted(tmp.rglob("*")) if p.is_file()}}
        _write_atomic(tmp / INDEX, json.dumps(index, indent=1))
        if final.exists():  # a redone iteration: keep the old one, never overwrite it
            problem = checkpoint_problem(final, full=False) or "was complete"
            _move_aside(final, f"redone after a resume; the old one: {problem}")
        os.replace(tmp, final)
        _write_atomic(root / LATEST, final.name)
    dist.barrier()
    return final


def export_final(out_dir: Path, module: ActorCritic, tokenizer, history: list, config_dict: dict,
                 dist: Distributed) -> Path:
    """`out_dir/final`: the trained policy as a plain HF checkpoint plus `rl.json`."""
    final = out_dir / FINAL
    if dist.is_main:
        module.lm.save_pretrained(final)
        tokenizer.save_pretrained(final)
        if module.value_head is not None:
            torch.save(module.value_head.state_dict(), final / "value_head.pt")
        summary = {"algo": config_dict["algo"], "init": config_dict["init"],
                   "iterations": len(history), "config": config_dict,
                   "history": [{"iteration": h["iteration"], "metrics": h["metrics"]}
                               for h in history]}
        _write_atomic(final / "rl.json", json.dumps(summary, indent=1))
    dist.barrier()
    return final


# --------------------------------------------------------------------------- verifying
def checkpoint_problem(checkpoint: Path, full: bool = True) -> str | None:
    """Why `checkpoint` cannot be resumed, or None when it is complete. `full` also
    compares every file's SHA-256 with the index (else sizes only). RNG files are left to
    `_load_trainer_state`, which knows the flag that excuses them."""
    index_path = checkpoint / INDEX
    if not index_path.exists():
        return _legacy_problem(checkpoint)
    try:
        files = json.loads(index_path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as e:
        return f"its {INDEX} is unreadable ({type(e).__name__})"
    for name, record in files.items():
        if name.startswith("rng-"):
            continue
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != record["bytes"]:
            return f"{name} has {path.stat().st_size} bytes where the index recorded {record['bytes']}"
        if full and _sha256(path) != record["sha256"]:
            return f"{name} does not match the SHA-256 in its index"
    return None


def _legacy_problem(checkpoint: Path) -> str | None:
    """Checkpoints written before the index existed: the required files must be there."""
    for name in (STATE, CONFIG, "model/config.json"):
        if not (checkpoint / name).is_file():
            return f"{name} is missing (and it has no {INDEX})"
    return None


def checkpoints(out_dir: Path) -> list[Path]:
    """Every `iter-NNNNNN` directory under `out_dir/checkpoints`, newest first."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("iter-")
             and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]), reverse=True)


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint of `out_dir` (sizes checked), or None."""
    return next((c for c in checkpoints(out_dir) if checkpoint_problem(c, full=False) is None),
                None)


# --------------------------------------------------------------------------- resuming
def resume_point(out_dir: Path, cfg: RLConfig, config_dict: dict) -> Path | None:
    """The checkpoint a run in `out_dir` continues from (see the module docstring), or None
    when `out_dir` holds no checkpoint at all."""
    found = checkpoints(out_dir)
    if not found:
        return None
    if not cfg.resume:
        raise ConfigError("resume", False,
                          f"{out_dir} already holds checkpoint {found[0].name}; pass resume=true "
                          "to continue it, or choose a new out_dir")
    skipped: list[tuple[Path, str]] = []
    for candidate in found:
        problem = checkpoint_problem(candidate)
        if problem is None:
            break
        skipped.append((candidate, problem))
    else:
        reasons = "; ".join(f"{c.name}: {why}" for c, why in skipped)
        raise CorruptCheckpointError(
            str(Path(out_dir) / CHECKPOINTS), f"no checkpoint is complete ({reasons})",
            "Restore the missing files, or move the checkpoints directory away to start "
            "again from init (resume=false refuses while it is there).")
    _refuse_other_config(candidate, config_dict)
    _report_choice(Path(out_dir), candidate, skipped)
    return candidate


def _report_choice(out_dir: Path, chosen: Path, skipped: list[tuple[Path, str]]) -> None:
    for path, why in skipped:
        log.warning("skipping checkpoint %s: %s; it is moved to %s/%s/ when its iteration "
                    "is redone", path.name, why, CHECKPOINTS, INCOMPLETE)
    pointer = out_dir / CHECKPOINTS / LATEST
    named = pointer.read_text().strip() if pointer.exists() else None
    if named != chosen.name:
        log.warning("the `latest` pointer %s; resuming from %s, the newest complete "
                    "checkpoint found by scanning", f"names {named}" if named else "is missing",
                    chosen.name)
    log.warning("resuming from %s", chosen)


def _refuse_other_config(checkpoint: Path, config_dict: dict) -> None:
    saved = flatten(json.loads((checkpoint / CONFIG).read_text()))
    now = flatten(config_dict)
    differences = {k: (saved.get(k), now.get(k)) for k in sorted(set(saved) | set(now))
                   if k.split(".")[0] not in RESUMABLE_KEYS and saved.get(k) != now.get(k)}
    if differences:
        raise ResumeMismatchError(f"from {checkpoint}", differences)


def _load_trainer_state(checkpoint: Path, module: ActorCritic, optimizer, rank: int,
                        resume_rng: bool = True):
    state = torch.load(checkpoint / STATE, weights_only=False)
    if module.value_head is not None:
        module.value_head.load_state_dict(state["value_head"])
    optimizer.load_state_dict(state["optimizer"])
    rng = _load_rng(checkpoint, rank)
    if isinstance(rng, dict):
        _set_rng_state(rng)
    elif resume_rng:
        raise CorruptCheckpointError(
            str(checkpoint), f"rng-{rank}.pt {rng}, so the run could not continue with the "
            "random streams it had", "Restore the file, or pass resume_rng=false to resume "
            "the weights and optimizer anyway (logged; the run is then no longer "
            "bit-for-bit reproducible).")
    else:
        log.warning("resuming %s without rng-%d.pt (%s) because resume_rng=false: the run "
                    "continues but is no longer bit-for-bit reproducible", checkpoint, rank, rng)
    return state["iteration"], state["history"]


def _load_rng(checkpoint: Path, rank: int) -> dict[str, Any] | str:
    """This rank's saved RNG state, or why it cannot be used."""
    path = checkpoint / f"rng-{rank}.pt"
    if not path.is_file():
        return "is missing"
    index = checkpoint / INDEX
    if index.exists():
        record = json.loads(index.read_text(encoding="utf-8"))["files"].get(path.name)
        if record is None or _sha256(path) != record["sha256"]:
            return "does not match its index"
    try:
        return torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "unusable"
        return f"is unreadable ({type(e).__name__})"


def rewind_logs(out_dir: Path, tracker, stage: str, iteration: int) -> None:
    """Drop what a killed run logged after `iteration` (the resumed one; 0 = none), so that
    the redone iterations are logged once: the tracker's records of `stage` (metrics.jsonl,
    TensorBoard where it can) and `episodes.jsonl`."""
    truncate = getattr(tracker, "truncate", None)
    if callable(truncate):
        truncate(stage, iteration)
    episodes = Path(out_dir) / EPISODES
    if episodes.exists():
        kept = [line for line in episodes.read_text(encoding="utf-8").splitlines(keepends=True)
                if _episode_iteration(line) is not None and _episode_iteration(line) <= iteration]
        _write_atomic(episodes, "".join(kept))


def _episode_iteration(line: str) -> int | None:
    try:
        return int(json.loads(line)["iteration"])
    except (ValueError, KeyError, TypeError):
        return None  # a line cut by the kill


# --------------------------------------------------------------------------- helpers
def _move_aside(path: Path, why: str) -> Path:
    target = path.parent / INCOMPLETE / path.name
    n = 1
    while target.exists():
        target, n = path.parent / INCOMPLETE / f"{path.name}.{n}", n + 1
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    (target / "WHY.txt").write_text(why + "\n")
    return target


def _file_record(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

