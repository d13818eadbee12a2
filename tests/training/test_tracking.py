"""The Tracker writes JSONL, TensorBoard and config, and reads them back."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch
from rich.console import Console

from earlyexp.errors import ConfigError
from earlyexp.training.tracking import Tracker, make_run_name, read_metrics


@pytest.fixture
def console():
    return Console(record=True, width=200, force_terminal=False)


def test_jsonl_tensorboard_and_config_are_written_and_readable(tmp_path, console):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = {"env": {"name": "textworld"}, "rl": {"lr": 1e-5}, "out": tmp_path}
    with Tracker(tmp_path / "run", "textworld__grpo__0__1", config, console=console) as tracker:
        for it in range(3):
            tracker.log({"success": 0.1 * it, "entropy": torch.tensor(1.5 - 0.5 * it),
                         "vendi": np.float32(2.0), "pass@2": 1}, step=it, stage="rl/il")
        tracker.log({"success": 0.5, "nan_metric": float("nan")}, step=0, stage="eval/il/test")
        # flushed per call: readable while the run is still going
        assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 4

    assert json.loads((tmp_path / "run" / "config.json").read_text()) == \
        {"env": {"name": "textworld"}, "rl": {"lr": 1e-5}, "out": str(tmp_path)}
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [(r["stage"], r["step"]) for r in records] == \
        [("rl/il", 0), ("rl/il", 1), ("rl/il", 2), ("eval/il/test", 0)]
    assert records[2]["metrics"] == {"success": pytest.approx(0.2), "entropy": 0.5, "vendi": 2.0,
                                     "pass@2": 1.0}
    assert records[3]["metrics"]["nan_metric"] is None  # valid JSON, not NaN
    assert all(records[i]["time"] <= records[i + 1]["time"] for i in range(3))

    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"rl/il/success", "rl/il/entropy", "rl/il/vendi", "rl/il/pass@2",
            "eval/il/test/success"} <= tags
    assert "eval/il/test/nan_metric" not in tags
    entropy = acc.Scalars("rl/il/entropy")
    assert [e.step for e in entropy] == [0, 1, 2]
    assert [e.value for e in entropy] == pytest.approx([1.5, 1.0, 0.5])

    text = console.export_text()
    assert "rl/il step 2" in text and "entropy=0.5" in text


def test_log_rejects_bad_input_and_use_after_close(tmp_path, console):
    tracker = Tracker(tmp_path, "r", {}, console=console, echo=False)
    with pytest.raises(TypeError, match="'success'"):
        tracker.log({"success": "high"}, step=0, stage="rl/il")
    with pytest.raises(ValueError, match="stage"):
        tracker.log({"x": 1.0}, step=0, stage="/rl/")
    with pytest.raises(ValueError, match="step"):
        tracker.log({"x": 1.0}, step=-1, stage="rl/il")
    tracker.close()
    tracker.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        tracker.log({"x": 1.0}, step=0, stage="rl/il")
    assert read_metrics(tmp_path / "metrics.jsonl") == []


def test_resumed_run_appends_and_a_truncated_last_line_is_dropped(tmp_path, console):
    for step in range(2):
        with Tracker(tmp_path, "r", {"k": step}, console=console, echo=False) as tracker:
            tracker.log({"x": float(step)}, step=step, stage="rl/il")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"stage": "rl/il", "st')  # killed mid-write
    assert [r["metrics"]["x"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0.0, 1.0]
    (tmp_path / "bad.jsonl").write_text('oops\n{"stage": "a", "step": 0, "metrics": {}}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_metrics(tmp_path / "bad.jsonl")


def test_progress_bar_reports_throughput_and_eta(tmp_path, console):
    tracker = Tracker(tmp_path, "r", {}, console=console, echo=False)
    with tracker.progress(total=4, description="eval test", unit="episodes") as bar:
        for _ in range(4):
            bar.advance()
    tracker.close()
    text = console.export_text()
    assert "eval test" in text and "4/4" in text and "episodes/s" in text and "ETA" in text


def test_wandb_missing_gives_an_actionable_error(tmp_path, monkeypatch, console):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(ConfigError, match="pip install wandb"):
        Tracker(tmp_path, "r", {}, wandb=True, console=console)


def test_wandb_logs_each_stage_against_its_own_step(tmp_path, monkeypatch, console):
    calls = []

    class FakeRun:
        def define_metric(self, name, step_metric=None):
            calls.append(("define", name, step_metric))

        def log(self, data):
            calls.append(("log", data))

        def finish(self):
            calls.append(("finish",))

    class FakeWandb:
        @staticmethod
        def init(**kwargs):
            calls.append(("init", kwargs["name"], kwargs["config"]))
            return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", FakeWandb)
    with Tracker(tmp_path, "env__il__0__1", {"a": 1}, wandb=True, console=console, echo=False) as t:
        t.log({"success": 0.5}, step=3, stage="rl/il")
        t.log({"success": 0.6}, step=4, stage="rl/il")
    assert calls[0] == ("init", "env__il__0__1", {"a": 1})
    assert ("define", "rl/il/*", "rl/il/step") in calls
    assert sum(c[0] == "define" for c in calls) == 2  # defined once per stage
    assert ("log", {"rl/il/step": 4, "rl/il/success": 0.6}) in calls and calls[-1] == ("finish",)


def test_run_name_convention():
    assert make_run_name("textworld", "grpo-il", 3, when=1700000000.7) == \
        "textworld__grpo-il__3__1700000000"
    assert re.fullmatch(r"webshop__sr__0__\d+", make_run_name("webshop", "sr", 0))
