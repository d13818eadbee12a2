"""The registry: names, Gymnasium ids, duplicates, unknown names, lazy imports."""
from __future__ import annotations

import subprocess
import sys

import gymnasium
import pytest

import earlyexp.envs as envs
from earlyexp.errors import DuplicateEnvError, UnknownEnvError


def test_register_make_and_gymnasium_id(corridor):
    assert "corridor" in envs.list_envs()
    env = envs.make("corridor", length=3)
    assert env.name == "corridor" and env.length == 3
    gym_env = gymnasium.make("earlyexp/Corridor-v0", length=4)
    assert gym_env.unwrapped.length == 4


def test_registry_refuses_duplicates(corridor):
    with pytest.raises(DuplicateEnvError, match="already registered"):
        envs.register("corridor", "earlyexp.envs.testing:CorridorEnv")


def test_unknown_name_suggests_and_lists(corridor):
    with pytest.raises(UnknownEnvError) as err:
        envs.make("corridr")
    assert "Did you mean 'corridor'" in str(err.value)
    assert "corridor" in str(err.value) and "earlyexp envs" in str(err.value)


def test_step_before_reset_raises_and_bad_actions_do_not(corridor):
    from earlyexp.errors import ResetNeeded
    env = envs.make("corridor")
    with pytest.raises(ResetNeeded):
        env.step("right")
    env.reset(seed=0, options={"task_id": "train-0"})
    for bad in (None, 3, "", "   ", "fly"):
        obs, reward, terminated, truncated, info = env.step(bad)
        assert info["valid_action"] is False and obs and not terminated


def test_replay_restore_detects_non_determinism(corridor):
    from earlyexp.errors import NonDeterministicEnvError
    env = envs.make("corridor")
    env.reset(seed=0, options={"task_id": "train-2"})
    env.step("right")
    snap = env.snapshot(mode="replay")
    assert env.restore(snap)[0] == snap.observation
    forged = type(snap)(snap.task_id, snap.seed, snap.actions, "a different world", 1, False)
    with pytest.raises(NonDeterministicEnvError, match="not deterministic"):
        env.restore(forged)


def test_truncation_at_max_steps(corridor):
    env = envs.make("corridor", max_steps=3)
    env.reset(seed=0, options={"task_id": "train-0"})
    flags = [env.step("look")[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_listing_envs_imports_no_engine():
    code = ("import sys, earlyexp.envs as e; e.list_envs(); "
            "print(sorted(m for m in ('textworld', 'scienceworld', 'torch', 'bm25s') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
