"""Fault injection on RL checkpoints: deleted files, a deleted pointer, a kill between the
log line and the checkpoint, and a real SIGKILL mid-run.

The rule checked everywhere: a resumed run never restarts from `init` silently, never
overwrites a checkpoint, and logs every iteration exactly once (metrics.jsonl, episodes.jsonl
and, for a run dir of its own, TensorBoard).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from earlyexp.errors import CorruptCheckpointError
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.rl import RLConfig, train_rl
from earlyexp.training.tracking import read_metrics

DOORS = EnvConfig("doors", {"num_doors": 3})


def rl_config(init, out, **overrides) -> RLConfig:
    settings = dict(env=DOORS, init=str(init), iterations=3, tasks_per_iteration=2,
                    group_size=2, minibatch_size=8, learning_rate=1e-3, out_dir=str(out),
                    num_envs=4, checkpoint_every=1)
    return RLConfig(**{**settings, **overrides})


def logged_steps(out) -> list[int]:
    return [r["step"] for r in read_metrics(out / "metrics.jsonl")]


def episode_iterations(out) -> list[int]:
    lines = (out / "episodes.jsonl").read_text().splitlines()
    return [json.loads(line)["iteration"] for line in lines]


def tensorboard_steps(out, tag: str = "rl/success") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


def weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(path / "model.safetensors"))


def test_deleted_latest_pointer_resumes_from_the_newest_checkpoint(doors_model, tmp_path, caplog):
    train_rl(rl_config(doors_model, tmp_path))
    (tmp_path / "checkpoints" / "latest").unlink()
    with caplog.at_level(logging.WARNING):
        result = train_rl(rl_config(doors_model, tmp_path, iterations=4))
    assert [h["iteration"] for h in result.history] == [1, 2, 3, 4]  # before: restart at 1
    assert "iter-000003" in caplog.text and "latest" in caplog.text
    assert logged_steps(tmp_path) == [1, 2, 3, 4]                     # before: 1,2,3,1,2,3,4
    assert tensorboard_steps(tmp_path) == [1, 2, 3, 4]


def test_deleted_trainer_state_resumes_from_the_previous_checkpoint_and_keeps_the_damaged_one(
        doors_model, tmp_path, caplog):
    train_rl(rl_config(doors_model, tmp_path))
    damaged = tmp_path / "checkpoints" / "iter-000003"
    (damaged / "trainer_state.pt").unlink()
    iter2 = weights(tmp_path / "checkpoints" / "iter-000002" / "model")
    with caplog.at_level(logging.WARNING):
        result = train_rl(rl_config(doors_model, tmp_path))
    assert "skipping checkpoint iter-000003: trainer_state.pt is missing" in caplog.text
    assert [h["iteration"] for h in result.history] == [1, 2, 3]
    assert logged_steps(tmp_path) == [1, 2, 3] and episode_iterations(tmp_path) == [1, 2, 3]
    kept = tmp_path / "checkpoints" / "incomplete" / "iter-000003"
    assert (kept / "model").is_dir() and "trainer_state.pt is missing" in (kept / "WHY.txt").read_text()
    for name, tensor in weights(tmp_path / "checkpoints" / "iter-000002" / "model").items():
        assert torch.equal(tensor, iter2[name])                       # never rewritten


def test_no_complete_checkpoint_is_an_error_that_changes_nothing(doors_model, tmp_path):
    train_rl(rl_config(doors_model, tmp_path, iterations=2))
    for name in ("iter-000001", "iter-000002"):
        (tmp_path / "checkpoints" / name / "trainer_state.pt").unlink()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(CorruptCheckpointError, match="no checkpoint is complete"):
        train_rl(rl_config(doors_model, tmp_path))   # before: a silent restart from init
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_changed_weight_file_is_caught_by_its_checksum(doors_model, tmp_path, caplog):
    train_rl(rl_config(doors_model, tmp_path, iterations=2))
    model = tmp_path / "checkpoints" / "iter-000002" / "model" / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF                                  # same size, different weights
    model.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        result = train_rl(rl_config(doors_model, tmp_path, iterations=2))
    assert "iter-000002: model/model.safetensors does not match the SHA-256" in caplog.text
    assert [h["iteration"] for h in result.history] == [1, 2]


def test_missing_rng_state_is_an_error_unless_resume_rng_is_false(doors_model, tmp_path, caplog):
    train_rl(rl_config(doors_model, tmp_path, iterations=1))
    (tmp_path / "checkpoints" / "iter-000001" / "rng-0.pt").unlink()
    with pytest.raises(CorruptCheckpointError, match=r"rng-0.pt is missing.*resume_rng=false"):
        train_rl(rl_config(doors_model, tmp_path, iterations=2))  # before: resumed silently
    assert logged_steps(tmp_path) == [1]
    with caplog.at_level(logging.WARNING):
        result = train_rl(rl_config(doors_model, tmp_path, iterations=2, resume_rng=False))
    assert "no longer bit-for-bit reproducible" in caplog.text
    assert [h["iteration"] for h in result.history] == [1, 2]


def test_kill_between_the_log_line_and_the_checkpoint_logs_the_iteration_once(
        doors_model, tmp_path, monkeypatch):
    import earlyexp.training.rl.trainer as trainer

    real_save = trainer.save_checkpoint

    def killed_at_iteration_2(out_dir, iteration, *args):
        if iteration == 2:
            raise KeyboardInterrupt   # after iteration 2 was logged, before its checkpoint
        return real_save(out_dir, iteration, *args)

    monkeypatch.setattr(trainer, "save_checkpoint", killed_at_iteration_2)
    with pytest.raises(KeyboardInterrupt):
        train_rl(rl_config(doors_model, tmp_path, iterations=2))
    assert logged_steps(tmp_path) == [1, 2]
    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    train_rl(rl_config(doors_model, tmp_path, iterations=2))
    assert logged_steps(tmp_path) == [1, 2]           # before: 1, 2, 2
    assert episode_iterations(tmp_path) == [1, 2]
    assert tensorboard_steps(tmp_path) == [1, 2]


KILLABLE = """
import sys
import earlyexp.envs as envs
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.rl import RLConfig, train_rl
envs.register("doors", "earlyexp.envs.testing:DoorsEnv", override=True)
train_rl(RLConfig(env=EnvConfig("doors", {"num_doors": 3}), init=sys.argv[1], iterations=500,
                  tasks_per_iteration=2, group_size=2, minibatch_size=8, learning_rate=1e-3,
                  out_dir=sys.argv[2], num_envs=4, checkpoint_every=1))
"""


@pytest.mark.slow
def test_sigkill_mid_run_resumes_bit_for_bit_with_every_iteration_logged_once(
        doors_model, tmp_path):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(doors_model), str(killed)])
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "checkpoints" / "iter-000003").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "final").exists(), "the kill must land mid-run"
    saved = max(int(p.name[5:]) for p in (killed / "checkpoints").glob("iter-*"))

    iterations = saved + 3
    train_rl(rl_config(doors_model, killed, iterations=iterations))
    train_rl(rl_config(doors_model, straight, iterations=iterations))
    assert logged_steps(killed) == list(range(1, iterations + 1))
    assert episode_iterations(killed) == list(range(1, iterations + 1))
    resumed_w, straight_w = weights(killed / "final"), weights(straight / "final")
    assert all(torch.equal(resumed_w[k], straight_w[k]) for k in straight_w)
