"""Branching: K distinct non-expert alternatives per expert state, each with its own outcome."""
from __future__ import annotations

import random

import pytest

import earlyexp.envs as envs
from earlyexp.agents.policy import Generation
from earlyexp.agents.prompts import State
from earlyexp.errors import ConfigError
from earlyexp.experience.branching import PolicySampler, UniformSampler, collect_task


def test_branching_yields_k_distinct_non_expert_actions(corridor):
    env = envs.make("corridor")
    result = collect_task(env, "train-3", 0, 3, UniformSampler(), random.Random(0))
    assert result.trajectory.success and result.trajectory.steps
    by_step: dict[int, list] = {}
    for t in result.transitions:
        by_step.setdefault(t.step, []).append(t)
    assert sorted(by_step) == list(range(len(result.trajectory.steps)))
    for rows in by_step.values():
        expert = [r for r in rows if r.is_expert]
        alternatives = [r for r in rows if not r.is_expert]
        assert len(expert) == 1 and len(alternatives) == 3
        assert len({r.action for r in alternatives}) == 3
        assert expert[0].action not in {r.action for r in alternatives}
        assert all(r.state == expert[0].state for r in rows)
        # each alternative's next observation is what that action really does from the state
        for r in alternatives:
            env.reset(seed=0, options={"task_id": "train-3"})
            for past in r.state.history:
                env.step(past["action"])
            assert env.step(r.action)[0] == r.next_obs


def test_expert_states_chain(corridor):
    env = envs.make("corridor")
    result = collect_task(env, "train-1", 0, 2, UniformSampler(), random.Random(0))
    experts = [t for t in result.transitions if t.is_expert]
    for before, after in zip(experts, experts[1:]):
        assert after.state.observation == before.next_obs
        assert after.state.history[-1] == {"observation": before.state.observation,
                                           "action": before.action}


def test_uniform_sampler_refuses_open_action_space():
    state = State("g", "o", [], None)
    with pytest.raises(ConfigError, match="sampler=policy"):
        UniformSampler().sample(state, "a", 2, random.Random(0))


class ScriptedPolicy:
    """Test double for a model: returns fixed completions."""

    def __init__(self, texts):
        self.texts, self.calls = texts, []

    def generate(self, prompts, n=1, temperature=1.0, max_new_tokens=32):
        self.calls.append((prompts, n))
        return [[Generation(t) for t in self.texts[:n]] for _ in prompts]


def test_policy_sampler_dedupes_and_excludes_expert():
    policy = ScriptedPolicy([" right", "left", "right\nmore", "take key", "", " left "])
    state = State("goal", "obs", [], ["left", "right", "take key"])
    actions = PolicySampler(policy).sample(state, "right", 3, random.Random(0))
    assert actions == ["left", "take key"]
    prompt, n = policy.calls[0]
    assert n == 6 and prompt[0].endswith("Action:") and "Goal: goal" in prompt[0]
