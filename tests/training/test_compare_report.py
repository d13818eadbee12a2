"""The comparison report from recorded cells: numbers re-derived by hand, partial and
failed cells shown while the rest is written; the run report survives a missing run.json."""
from __future__ import annotations

import json

import numpy as np
import pytest

from earlyexp.experience.diversity import wilson_interval
from earlyexp.training.compare_report import build_comparison, load_cells, success_table
from earlyexp.training.report import build_report, write_run_record

TASKS = [f"t{i}" for i in range(20)]


def outcomes(wins: set[int]) -> list[dict]:
    return [{"task_id": t, "seed": 1000, "success": i in wins, "score": float(i in wins),
             "length": 3} for i, t in enumerate(TASKS)]


def record(run_dir, seed: int, wins: dict[str, set[int]]) -> None:
    results = []
    for method, won in wins.items():
        rate = len(won) / len(TASKS)
        results.append({"warmstart": method, "phase": "before_rl", "split": "test",
                        "success": rate, "success_ci": list(wilson_interval(len(won), 20)),
                        "episodes": 20, "seeds": 1})
        (run_dir / "episodes").mkdir(parents=True, exist_ok=True)
        (run_dir / "episodes" / f"{method}__before_rl__test.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in outcomes(won)))
    baselines = [{"agent": "expert", "split": "test", "success": 1.0, "episodes": 20},
                 {"agent": "random", "split": "test", "success": 0.1, "episodes": 20}]
    write_run_record(run_dir, "household", seed, {"baselines": baselines},
                     {"trajectories": 30}, results, [{"stage": "collect", "seconds": 4.0,
                                                      "note": ""}])
    (run_dir / "cell.json").write_text(json.dumps({"status": "done", "seconds": 9.5,
                                                   "threads": 1}))


def plan(out, cells) -> None:
    (out / "compare.json").write_text(json.dumps({
        "format": 1, "families": ["household", "bfcl"], "seeds": [0, 1],
        "methods": ["il", "iwm"], "budget": "paper", "run_rl": False,
        "eval_splits": ["test"], "overrides": [],
        "config": {"compare": {"ablations": {"methods": None, "run_rl": False}}},
        "cells": [{"key": k, "family": k.split("/")[0], "seed": int(k[-1]),
                   "run_dir": str(out / k), "ablation": None, "values": [],
                   "run_dirs": [str(out / k)]} for k in cells]}))


def test_comparison_numbers_partial_and_failed_cells(tmp_path):
    il0, iwm0 = set(range(0, 6)), set(range(0, 10))      # seed 0: +4 episodes, no losses
    il1, iwm1 = set(range(0, 8)), set(range(2, 12))      # seed 1: +4 wins, -2 losses
    record(tmp_path / "household/seed0", 0, {"il": il0, "iwm": iwm0})
    record(tmp_path / "household/seed1", 1, {"il": il1, "iwm": iwm1})
    (tmp_path / "bfcl/seed0").mkdir(parents=True)  # failed before writing run.json
    (tmp_path / "bfcl/seed0/cell.json").write_text(json.dumps(
        {"status": "failed", "error": "RuntimeError: no JVM"}))
    plan(tmp_path, ["household/seed0", "household/seed1", "bfcl/seed0", "bfcl/seed1"])
    page = build_comparison(tmp_path).with_suffix(".md").read_text()

    by_hand = np.mean([(len(iwm0) - len(il0)) / 20, (len(iwm1) - len(il1)) / 20])
    assert f"| iwm − il | household | before RL | test | {100 * by_hand:+.1f} [" in page
    assert "| iwm − il | before RL | test | 1 |" in page  # one family compared, Δ > 0
    assert "| bfcl/seed0 | failed | RuntimeError: no JVM |" in page
    assert "| bfcl/seed1 | not started |" in page
    assert "| household/seed0 | done |  | 10 | 4 | 1 | trajectories=30 |" in page
    assert "78.1 (ALFWorld)" in page and "83.6 (ALFWorld)" in page
    assert "budget=paper" in page
    _, cells = load_cells(tmp_path)
    head, rows = success_table(json.loads((tmp_path / "compare.json").read_text()), cells)
    il_row = next(r for r in rows if r[:2] == ["household", "il"])
    assert il_row[2].startswith(f"{100 * np.mean([6 / 20, 8 / 20]):.1f} [")
    expert = next(r for r in rows if r[:2] == ["household", "expert (bound)"])
    # 40 of 40 (two seeds x 20): no variation, so Wilson's lower bound n / (n + z^2)
    wilson_lo = 40 / (40 + 1.959963984540054 ** 2)
    assert expert[2].startswith(f"100.0 [{100 * wilson_lo:.1f}, 100.0]* s=2")


def test_run_report_leaves_out_a_directory_without_run_json(tmp_path):
    record(tmp_path / "a", 0, {"il": {1, 2}})
    (tmp_path / "b").mkdir()
    md = build_report([str(tmp_path / "a"), str(tmp_path / "b")],
                      str(tmp_path / "r")).with_suffix(".md").read_text()
    assert "Left out" in md and str(tmp_path / "b") in md and "household/seed0" in md
    with pytest.raises(Exception, match="no run.json|not a run directory"):
        build_report([str(tmp_path / "b")])
