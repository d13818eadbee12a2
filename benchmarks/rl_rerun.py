"""One RL run of a pipeline again, with some of its settings changed: a paired probe.

    python benchmarks/rl_rerun.py RUN_DIR LABEL OUT_DIR KEY=VALUE [KEY=VALUE ...]

Reads the RL config that `RUN_DIR/rl/LABEL` ran with (its `final/rl.json`: warm-start,
environment, seed and every hyperparameter), changes the keys given (`learning_rate=1e-4
iterations=36`; any field of `RLConfig`, converted to its type; `env`, `init` and
`out_dir` cannot be changed) and trains again into OUT_DIR. The RL seed fixes which
tasks each iteration draws, so the rerun sees the same tasks in the same order as the
original: a run whose learning rate is too small to move the policy shows what the task
draw alone does to success and entropy. Prints one JSON line: per iteration success and
the acting policy's entropy, of the original and of the rerun. Not part of `make bench`
(no bench_ prefix).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import emit

FIXED = ("env", "init", "out_dir")   # what makes it the same run, and where it goes


def changed_config(stored: dict, changes: list[str], out_dir: str):
    """The stored RLConfig with `changes` ("key=value") applied, each value converted to
    the field's type by OmegaConf (as on the command line); an unknown or fixed key is
    refused by name."""
    import dataclasses

    from omegaconf import OmegaConf

    from earlyexp.errors import ConfigError
    from earlyexp.training.rl import RLConfig

    known = {f.name for f in dataclasses.fields(RLConfig)}   # a key newer than the run too
    updates = {}
    for change in changes:
        key, sep, value = change.partition("=")
        if not sep or key not in known or key in FIXED:
            raise ConfigError(key, value, "give KEY=VALUE with a key of the RL config "
                              f"other than {', '.join(FIXED)}")
        updates[key] = value
    merged = OmegaConf.merge(OmegaConf.structured(RLConfig), stored, updates, {"out_dir": out_dir})
    return OmegaConf.to_object(merged)


def curves(history: list[dict]) -> dict[str, list[float]]:
    return {key: [round(h["metrics"].get(key, float("nan")), 4) for h in history]
            for key in ("success", "policy_entropy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("label", help="the RL run: il, iwm+clip_cov, ... (RUN_DIR/rl/LABEL)")
    parser.add_argument("out_dir")
    parser.add_argument("changes", nargs="+", metavar="KEY=VALUE")
    args = parser.parse_args()

    from earlyexp.training.rl import train_rl

    original = json.loads((args.run_dir / "rl" / args.label / "final" / "rl.json").read_text())
    cfg = changed_config(original["config"], args.changes, args.out_dir)
    result = train_rl(cfg)
    emit(benchmark="rl_rerun", run=str(args.run_dir / "rl" / args.label), changes=args.changes,
         original=curves(original["history"]), rerun=curves(result.history))


if __name__ == "__main__":
    main()
