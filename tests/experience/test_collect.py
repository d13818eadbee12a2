"""Parallel collection: crash recovery, failure recording and resume after SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from earlyexp.errors import ConfigError
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.experience.storage import ExperienceStore


def test_crashing_worker_is_restarted_and_task_retried(corridor, tmp_path):
    marker = tmp_path / "crashed-once"
    cfg = CollectConfig(env=EnvConfig("corridor", {"crash_marker": str(marker),
                                                   "crash_task": "train-4"}),
                        k=2, num_workers=2, num_tasks=8, out_dir=str(tmp_path / "exp"))
    summary = collect(cfg)
    assert marker.exists() and summary.worker_restarts == 1
    assert summary.failures == [] and summary.trajectories == 8
    assert all(t.success for t in ExperienceStore(cfg.out_dir).trajectories())


def test_task_failing_twice_is_recorded_and_run_goes_on(corridor, tmp_path):
    cfg = CollectConfig(env=EnvConfig("corridor", {"length": 5}), k=1, num_workers=0,
                        num_tasks=3, out_dir=str(tmp_path / "exp"))
    import earlyexp.envs.testing as testing
    original = testing.CorridorEnv._load_task

    def broken(self, task_id, seed):
        if task_id == "train-1":
            raise RuntimeError("engine exploded")
        return original(self, task_id, seed)

    testing.CorridorEnv._load_task = broken
    try:
        summary = collect(cfg)
    finally:
        testing.CorridorEnv._load_task = original
    assert [f["task"] for f in summary.failures] == ["train-1@0"]
    assert "engine exploded" in summary.failures[0]["error"]
    stored = {t.task_id: t for t in ExperienceStore(cfg.out_dir).trajectories()}
    assert set(stored) == {"train-0", "train-1", "train-2"}
    assert stored["train-1"].error and not stored["train-1"].success


def test_invalid_config_fails_before_work(tmp_path):
    with pytest.raises(ConfigError, match="sampler"):
        CollectConfig(sampler="beam")
    with pytest.raises(ConfigError, match="policy_path"):
        CollectConfig(sampler="policy")
    from earlyexp.errors import UnknownEnvError
    with pytest.raises(UnknownEnvError, match="Registered environments"):
        collect(CollectConfig(env=EnvConfig("no_such_env"), out_dir=str(tmp_path)))
    assert not (tmp_path / "manifest.json").exists()


KILLABLE = """
import sys
import earlyexp.envs as envs
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
if __name__ == "__main__":
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv")
    collect(CollectConfig(env=EnvConfig("corridor", {"num_tasks": 300, "length": 12}), k=4,
                          num_workers=0, shard_size=3, out_dir=sys.argv[1]))
"""


@pytest.mark.slow
def test_resume_after_sigkill_loses_and_duplicates_nothing(corridor, tmp_path):
    out = tmp_path / "exp"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(out)])
    manifest = out / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        if manifest.exists() and len(json.loads(manifest.read_text())["shards"]) >= 5:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    shards_at_kill = len(json.loads(manifest.read_text())["shards"])
    assert 5 <= shards_at_kill < 100, "the kill must land mid-run"

    cfg = CollectConfig(env=EnvConfig("corridor", {"num_tasks": 300, "length": 12}), k=4,
                        num_workers=0, shard_size=3, out_dir=str(out))
    summary = collect(cfg)
    assert summary.skipped == 3 * shards_at_kill
    keys = [(t.task_id, t.seed) for t in ExperienceStore(out).trajectories()]
    assert len(keys) == len(set(keys)) == 300
    transitions = ExperienceStore(out).transitions()
    assert len({(t.task_id, t.step, t.branch) for t in transitions}) == len(transitions)
