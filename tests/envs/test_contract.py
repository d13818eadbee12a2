"""The TextEnv contract, checked on every registered environment family.

Each family is built with its `smoke_kwargs` (a small, fast variant). A family
added under envs/ is picked up here without editing this file.
"""
from __future__ import annotations

import random
import string

import pytest
from gymnasium.utils.env_checker import check_env

import earlyexp.envs as envs
from earlyexp.envs.registration import EnvSpec

FAMILIES = envs.list_envs()
MALFORMED = ["", "   ", "\n", "🙂", "x" * 5000, "(((", "go to", "take", "click[", "search[]",
             "<search>", "cd(", "rm -rf /", "__import__('os').system('ls')", "\x00", "None"]


@pytest.fixture(scope="module", params=FAMILIES)
def family(request) -> EnvSpec:
    return envs.spec(request.param)


def make_small(spec: EnvSpec):
    return envs.make(spec.name, **spec.smoke_kwargs)


def test_check_env(family):
    env = make_small(family)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_info_keys_and_splits(family):
    env = make_small(family)
    try:
        for split in env.splits:
            assert env.tasks(split), f"{family.name} split {split} is empty"
        obs, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
        assert set(envs.INFO_KEYS) <= set(info)
        assert isinstance(obs, str) and obs
        assert info["goal"] and isinstance(info["goal"], str)
        assert 0.0 <= info["score"] <= 1.0
    finally:
        env.close()


def test_snapshot_restore_roundtrip(family):
    env = make_small(family)
    try:
        obs, info = env.reset(seed=1, options={"task_id": env.tasks("train")[0]})
        for _ in range(2):  # move off the start state along the expert path
            if info["expert_action"] is None:
                break
            obs, _, term, trunc, info = env.step(info["expert_action"])
            if term or trunc:
                break
        snap = env.snapshot()
        before = (obs, info["admissible_actions"], info["expert_action"])
        action = (info["admissible_actions"] or ["look"])[-1]
        for _ in range(2):
            env.step(action) if not env._done else None
            obs2, info2 = env.restore(snap)
            assert (obs2, info2["admissible_actions"], info2["expert_action"]) == before
    finally:
        env.close()


def test_malformed_actions_never_raise(family):
    env = make_small(family)
    rng = random.Random(0)
    try:
        env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
        actions = MALFORMED + [
            "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40)))
            for _ in range(1000 - len(MALFORMED))
        ]
        invalid = 0
        for action in actions:
            obs, reward, term, trunc, info = env.step(action)
            assert isinstance(obs, str)
            invalid += not info["valid_action"]
            if term or trunc:
                env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
        assert invalid >= len(actions) // 2, "random strings should mostly be invalid"
        # still usable: the expert path starts again cleanly
        obs, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
        if info["expert_action"] is not None:
            env.step(info["expert_action"])
    finally:
        env.close()


def test_expert_never_repeats_a_rejected_action(family):
    """No looping expert: once the env rejected an action in a state, the expert does not
    offer it again from that state (an invalid action leaves the state as it was). The
    walk mixes expert actions with random detours and malformed actions, the states where
    a replanning expert could propose something the env refuses."""
    env = make_small(family)
    rng = random.Random(0)
    try:
        for task_id in env.tasks("train")[:2]:
            _, info = env.reset(seed=0, options={"task_id": task_id})
            rejected_here: set[str] = set()
            for _ in range(30):
                assert info["expert_action"] is None or info["expert_action"] not in rejected_here, (
                    f"{family.name} {task_id}: the expert offers {info['expert_action']!r} again "
                    "after the env rejected it in this state")
                action = _contract_walk_action(info, rng)
                if action is None:
                    break
                _, _, term, trunc, info = env.step(action)
                if info["valid_action"]:
                    rejected_here.clear()
                else:
                    rejected_here.add(action)
                if term or trunc:
                    break
    finally:
        env.close()


def _contract_walk_action(info, rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(MALFORMED[5:])
    if roll < 0.3 and info["admissible_actions"]:
        return rng.choice(info["admissible_actions"])
    return info["expert_action"]
