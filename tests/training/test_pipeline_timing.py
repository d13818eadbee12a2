"""The pipeline's per-stage time table: every stage, in run order, in run.json and printed."""
from __future__ import annotations

import json
import time

import pytest
from rich.console import Console

from earlyexp.training.evaluate import EvalConfig
from earlyexp.training.pipeline import CollectSettings, Pipeline, PipelineConfig
from earlyexp.training.rl import RLConfig
from earlyexp.training.warmstart import ModelConfig, TrainConfig

from .conftest import TINY

EXPECTED_STAGES = ["collect", "reference bounds (expert, random)", "warm-start il",
                   "evaluate il before rl test", "RL from il", "evaluate il after rl test"]


def _config(corridor_env, run_dir) -> PipelineConfig:
    return PipelineConfig(
        env=corridor_env, run_dir=str(run_dir), methods=["il"],
        collect=CollectSettings(num_tasks=4, k=1, num_workers=0),
        model=ModelConfig(tiny=TINY), train=TrainConfig(steps=3, batch_size=4, logging_steps=1),
        rl=RLConfig(init="(set per warm-start)", iterations=1, tasks_per_iteration=2,
                    group_size=2, num_tasks=4, minibatch_size=8, checkpoint_every=1),
        eval=EvalConfig(num_tasks=3))


def _stage_rows(run_dir) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["stage_seconds"]


def test_every_stage_is_timed_stored_printed_and_resumes_marked(corridor_env, tmp_path):
    cfg = _config(corridor_env, tmp_path / "run")
    cfg.run_rl = False
    console = Console(record=True, width=160)
    start = time.perf_counter()
    Pipeline(cfg, console=console).run()
    wall = time.perf_counter() - start

    rows = _stage_rows(tmp_path / "run")
    assert [row["stage"] for row in rows] == [s for s in EXPECTED_STAGES if "rl" not in s.lower()
                                              or s.endswith("before rl test")]
    assert all(row["seconds"] >= 0 and row["note"] == "" for row in rows)
    # The stages run one after another inside run(): their sum cannot exceed its wall time
    # (rounding to 0.1 s each aside) and leaves out only setup and the report.
    total = sum(row["seconds"] for row in rows)
    assert total <= wall + 0.05 * len(rows)
    assert total >= 0.5 * wall, (total, wall)
    printed = console.export_text()
    assert "time per stage" in printed
    for row in rows:
        assert row["stage"] in printed and f"{row['seconds']:.1f}" in printed
    assert f"{total:.1f}" in printed

    Pipeline(cfg).run()  # everything is on disk now
    notes = {row["stage"]: row["note"] for row in _stage_rows(tmp_path / "run")}
    assert notes["collect"] == "resumed: 4 of 4 tasks already stored"
    assert notes["warm-start il"] == "resumed: already trained"
    assert notes["evaluate il before rl test"] == ""


@pytest.mark.slow
def test_rl_runs_and_their_evaluations_are_timed(corridor_env, tmp_path):
    Pipeline(_config(corridor_env, tmp_path / "run")).run()
    rows = _stage_rows(tmp_path / "run")
    assert [row["stage"] for row in rows] == EXPECTED_STAGES
    assert all(row["seconds"] > 0 for row in rows if row["stage"] != "collect")
