"""RL checkpoints: write, find, verify and resume from them; export the final policy.

`out_dir/checkpoints/iter-NNNNNN/` holds `model/`, `trainer_state.pt`, `rng-<rank>.pt` and
`config.json`; it is written to a temporary directory and renamed, with
`out_dir/checkpoints/latest` updated last. `out_dir/final` is the trained policy as a
plain Hugging Face checkpoint plus `rl.json`.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from earlyexp.errors import ConfigError
from earlyexp.training.rl.config import RESUMABLE_KEYS, RLConfig
from earlyexp.training.rl.distributed import Distributed
from earlyexp.training.rl.errors import ResumeMismatchError
from earlyexp.training.rl.model import ActorCritic

CHECKPOINTS, LATEST, FINAL = "checkpoints", "latest", "final"


def save_checkpoint(out_dir: Path, iteration: int, module: ActorCritic, tokenizer, optimizer,
                    history: list, config_dict: dict, dist: Distributed) -> Path:
    """Write `checkpoints/iter-NNNNNN` atomically (temp dir, rename, then `latest`)."""
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
                    "history": history}, tmp / "trainer_state.pt")
        (tmp / "config.json").write_text(json.dumps(config_dict, indent=1))
    dist.barrier()
    torch.save(_rng_state(), tmp / f"rng-{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _write_atomic(root / LATEST, final.name)
    dist.barrier()
    return final



def latest_checkpoint(out_dir: Path) -> Path | None:
    pointer = Path(out_dir) / CHECKPOINTS / LATEST
    if not pointer.exists():
        return None
    path = pointer.parent / pointer.read_text().strip()
    return path if (path / "trainer_state.pt").exists() else None



def _resume_point(out_dir: Path, cfg: RLConfig, config_dict: dict) -> Path | None:
    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        return None
    if not cfg.resume:
        raise ConfigError("resume", False,
                          f"{out_dir} already holds checkpoint {checkpoint.name}; pass resume=true "
                          "to continue it, or choose a new out_dir")
    saved = _flatten(json.loads((checkpoint / "config.json").read_text()))
    now = _flatten(config_dict)
    differences = {k: (saved.get(k), now.get(k)) for k in sorted(set(saved) | set(now))
                   if k.split(".")[0] not in RESUMABLE_KEYS and saved.get(k) != now.get(k)}
    if differences:
        raise ResumeMismatchError(str(checkpoint), differences)
    return checkpoint



def _load_trainer_state(checkpoint: Path, module: ActorCritic, optimizer, rank: int):
    state = torch.load(checkpoint / "trainer_state.pt", weights_only=False)
    if module.value_head is not None:
        module.value_head.load_state_dict(state["value_head"])
    optimizer.load_state_dict(state["optimizer"])
    rng_file = checkpoint / f"rng-{rank}.pt"
    if rng_file.exists():
        _set_rng_state(torch.load(rng_file, weights_only=False))
    return state["iteration"], state["history"]



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



def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out



def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

