"""bfcl's alternative-action proposer: branching without a policy in an open action space."""
from __future__ import annotations

import random

import pytest

import earlyexp.envs as envs
from earlyexp.envs.bfcl.calls import END_TURN, parse_action
from earlyexp.experience.branching import UniformSampler, collect_task


@pytest.fixture(scope="module")
def env():
    environment = envs.make("bfcl", limit=4)
    yield environment
    environment.close()


def test_proposals_parse_name_task_functions_and_leave_the_episode_alone(env):
    twin = envs.make("bfcl", limit=4)  # the same episodes, never asked for proposals
    for task_id in env.tasks("train"):
        obs, info = env.reset(seed=0, options={"task_id": task_id})
        twin.reset(seed=0, options={"task_id": task_id})
        docs = set(env._toolbox.docs)
        for _ in range(4):
            expert = info["expert_action"]
            proposals = env.propose_actions(9, random.Random(task_id))
            assert proposals and len(proposals) == len(set(proposals)) <= 9
            for action in proposals:
                calls = parse_action(action)  # ast-only parser; raises on anything else
                assert calls is None and action == END_TURN or {c.name for c in calls} <= docs
            if expert != END_TURN:
                wanted = parse_action(expert)[0]
                assert END_TURN in proposals
                # near misses: the expert's function with other arguments
                near = [a for a in proposals if a != END_TURN
                        and parse_action(a)[0].name == wanted.name]
                assert all(parse_action(a)[0].kwargs != wanted.kwargs for a in near)
            assert env.propose_actions(9, random.Random(task_id)) == proposals  # seeded
            step = env.step(expert)
            assert step == twin.step(expert)  # proposing changed nothing in the episode
            obs, _, terminated, truncated, info = step
            if terminated or truncated:
                break
    twin.close()


def test_uniform_branching_records_what_each_proposal_really_does(env):
    task_id = env.tasks("train")[1]
    result = collect_task(env, task_id, 0, 3, UniformSampler(), random.Random(0))
    alternatives = [t for t in result.transitions if not t.is_expert]
    experts = {t.step: t.action for t in result.transitions if t.is_expert}
    assert alternatives and result.trajectory.success
    assert len({t.step for t in alternatives}) == len(experts)  # every state branched
    for t in alternatives[:6]:
        assert t.action != experts[t.step]
        env.reset(seed=0, options={"task_id": task_id})
        for past in t.state.history:
            env.step(past["action"])
        assert env.step(t.action)[0] == t.next_obs


def test_collect_accepts_uniform_on_bfcl(tmp_path):
    from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
    from earlyexp.experience.storage import ExperienceStore

    cfg = CollectConfig(env=EnvConfig("bfcl", {"limit": 2}), k=2, num_workers=0,
                        out_dir=str(tmp_path / "exp"))
    summary = collect(cfg)
    assert summary.trajectories == 2 and not summary.failures
    assert any(not t.is_expert for t in ExperienceStore(cfg.out_dir).transitions())
