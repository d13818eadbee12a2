"""Early experience: follow the expert and branch K alternatives at every expert state.

At each state `s_i` of the expert trajectory the sampler proposes up to `K`
alternative actions (never the expert's `a_i`, no duplicates); each is
executed from a restored snapshot of `s_i` and its next observation is
recorded as a non-expert `Transition`. Then the expert action is executed
and recorded, and the walk goes on from its result. No reward is used.
"""
from __future__ import annotations

import random
from typing import Protocol

from earlyexp.agents.policy import Policy
from earlyexp.agents.prompts import PromptFormat, State, parse_action, render
from earlyexp.errors import ConfigError
from earlyexp.experience.records import EXPERT_BRANCH, Step, Trajectory, Transition
from earlyexp.experience.storage import TaskResult

STEP_INFO_DROPPED = ("admissible_actions",)  # stored once per state in transitions instead


class AlternativeSampler(Protocol):
    """Proposes up to `k` distinct alternatives to `expert_action` at `state`."""

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random) -> list[str]:
        ...


class UniformSampler:
    """Draws alternatives uniformly, without replacement, from the admissible actions."""

    name = "uniform"

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random) -> list[str]:
        if state.admissible_actions is None:
            raise ConfigError(
                "sampler", "uniform",
                "this environment has an open action space (no admissible actions); "
                "use sampler=policy to sample alternatives from a model",
            )
        pool = [a for a in dict.fromkeys(state.admissible_actions) if a != expert_action]
        return rng.sample(pool, min(k, len(pool)))


class PolicySampler:
    """Samples alternatives from a policy at temperature `temperature`.

    Draws `oversample * k` completions, keeps distinct parseable actions that
    differ from the expert's, and returns the first `k` (fewer if the policy
    is too peaked to propose `k` distinct ones; the shortfall is visible in
    the data rather than padded with another sampler's actions).
    """

    name = "policy"

    def __init__(self, policy: Policy, fmt: PromptFormat | None = None,
                 temperature: float = 1.0, max_new_tokens: int = 48, oversample: int = 2):
        self.policy, self.fmt = policy, fmt or PromptFormat()
        self.temperature, self.max_new_tokens, self.oversample = (
            temperature, max_new_tokens, oversample)

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random) -> list[str]:
        generations = self.policy.generate(
            [render(state, self.fmt)], n=self.oversample * k,
            temperature=self.temperature, max_new_tokens=self.max_new_tokens,
        )[0]
        actions = (parse_action(g.text) for g in generations)
        distinct = dict.fromkeys(a for a in actions if a and a != expert_action)
        return list(distinct)[:k]


def collect_task(env, task_id: str, seed: int, k: int, sampler: AlternativeSampler,
                 rng: random.Random, snapshot_mode: str = "auto") -> TaskResult:
    """Walk the expert path of one task, branching `k` alternatives at every state.

    `snapshot_mode="replay"` forces the base class's replay restore (benchmarks
    compare it with the family's native snapshot)."""
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    state = State(info["goal"], obs, [], info["admissible_actions"])
    steps: list[Step] = []
    transitions: list[Transition] = []

    def record(action, branch, outcome):
        next_obs, reward, terminated, _, next_info = outcome
        transitions.append(Transition(
            env.name, task_id, seed, len(steps), state, action, next_obs,
            is_expert=branch == EXPERT_BRANCH, branch=branch, reward=float(reward),
            terminated=bool(terminated), valid_action=next_info["valid_action"],
            success=next_info["success"], score=next_info["score"],
        ))

    while info["expert_action"] is not None:
        expert = info["expert_action"]
        if k > 0:
            snap = env.snapshot(mode=snapshot_mode)
            for branch, alternative in enumerate(sampler.sample(state, expert, k, rng)):
                record(alternative, branch, env.step(alternative))
                env.restore(snap)
        outcome = env.step(expert)
        record(expert, EXPERT_BRANCH, outcome)
        next_obs, reward, terminated, truncated, info = outcome
        kept = {key: v for key, v in info.items() if key not in STEP_INFO_DROPPED}
        steps.append(Step(obs, expert, float(reward), kept))
        state = state.advance(expert, next_obs, info["admissible_actions"])
        obs = next_obs
        if terminated or truncated:
            break

    trajectory = Trajectory(env.name, task_id, seed, "expert", steps, bool(info["success"]),
                            float(info["score"]), final_obs=obs)
    return TaskResult(trajectory, transitions)
