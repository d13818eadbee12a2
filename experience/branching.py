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
from earlyexp.agents.context import prompt_room
from earlyexp.agents.prompts import PromptFormat, PromptRenderer, State, parse_action, render
from earlyexp.errors import ConfigError
from earlyexp.experience.records import EXPERT_BRANCH, Step, Trajectory, Transition
from earlyexp.experience.storage import TaskResult

STEP_INFO_DROPPED = ("admissible_actions",)  # stored once per state in transitions instead


class AlternativeSampler(Protocol):
    """Proposes up to `k` distinct alternatives to `expert_action` at `state` (`env` is the
    environment at that state, for samplers that ask it for candidates)."""

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random,
               env=None) -> list[str]:
        ...


class UniformSampler:
    """Draws alternatives uniformly, without replacement, from the admissible actions, or,
    where the action space is open, from the candidates the family proposes
    (`TextEnv.propose_actions`; bfcl builds them from its function docs and state)."""

    name = "uniform"

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random,
               env=None) -> list[str]:
        candidates = state.admissible_actions
        if candidates is None and env is not None:
            candidates = env.propose_actions(2 * k + 1, rng)  # the expert's may be among them
        if candidates is None:
            raise ConfigError(
                "sampler", "uniform",
                "this environment has an open action space (no admissible actions) and "
                "proposes no alternatives; use sampler=policy to sample them from a model",
            )
        pool = [a for a in dict.fromkeys(candidates) if a != expert_action]
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

    def sample(self, state: State, expert_action: str, k: int, rng: random.Random,
               env=None) -> list[str]:
        generations = self.policy.generate(
            [self._prompt(state)], n=self.oversample * k,
            temperature=self.temperature, max_new_tokens=self.max_new_tokens,
        )[0]
        actions = (parse_action(g.text) for g in generations)
        distinct = dict.fromkeys(a for a in actions if a and a != expert_action)
        return list(distinct)[:k]

    def _prompt(self, state: State) -> str:
        """The state rendered within the policy's budget (the room evaluation uses), when the
        policy exposes its tokenizer and context; else rendered whole."""
        tokenizer = getattr(self.policy, "tokenizer", None)
        positions = getattr(self.policy, "max_positions", None)
        if tokenizer is None or not positions:
            return render(state, self.fmt)
        renderer = PromptRenderer.for_tokenizer(self.fmt, tokenizer)
        return renderer.render(state, prompt_room(positions, self.max_new_tokens)).text


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
            for branch, alternative in enumerate(sampler.sample(state, expert, k, rng, env=env)):
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
