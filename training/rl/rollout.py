"""RL rollouts: batched episodes in groups, turned into token-level training samples.

    jobs     = sample_jobs(tasks, tasks_per_iteration, group_size, rng)   # group-major
    rollouts = collect(agent, env_cfg, jobs, group_size, num_envs)        # run_episodes + timing
    samples  = to_samples(rollouts, tokenizer, ...)                       # one per turn

A group is `group_size` episodes of the same task and the same seed. Every turn
becomes one sample holding exactly the ids the policy acted on (`Decision.prompt_ids`,
never re-encoded from text) and one of two kinds of action:

- generate mode: the sampled token ids (stop token included), one log-prob per token;
- rank mode: every candidate's ids and the index chosen. The action's probability is
  `softmax(score / T)[chosen]` over those candidates, a single log-prob per turn.

plus the turn's reward and the indices of its episode and group. The log-probs the
policy reported when it acted come along (`behaviour_logp`); the trainer uses them as
the behaviour policy where the backend's numbers are its own (HF), else recomputes.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from earlyexp.training.evaluate import Episode, run_episodes
from earlyexp.training.rl.errors import RewardRangeError


@dataclass
class TurnSample:
    prompt_ids: list[int]
    completion_ids: list[int]             # generate: sampled ids; rank: [] (see candidates)
    reward: float
    episode: int                          # index into Rollouts.episodes
    turn: int                             # 0-based turn within the episode
    group: int                            # index into Rollouts.groups
    candidate_ids: list[list[int]] | None = None   # rank: every candidate's ids (+ EOS)
    chosen: int = 0                       # rank: index of the candidate taken
    behaviour_logp: list[float] = field(default_factory=list)   # as reported when acting
    behaviour_entropy: list[float] = field(default_factory=list)

    @property
    def is_choice(self) -> bool:
        return self.candidate_ids is not None

    @property
    def length(self) -> int:
        """Log-prob entries of this action: its tokens, or 1 for a choice."""
        return 1 if self.is_choice else len(self.completion_ids)


@dataclass
class Rollouts:
    """One iteration's episodes, grouped, with where the time went."""

    episodes: list[Episode]
    groups: list[list[int]]                       # episode indices of each group
    timings: dict[str, float] = field(default_factory=dict)   # generate_s, env_s

    @property
    def returns(self) -> list[float]:
        return [e.episode_return for e in self.episodes]

    def group_records(self) -> list[dict[str, Any]]:
        """Per group: task, seed, goal, each episode's actions, success, return and whether it
        ended by its own action (not the step limit) — what the diversity metrics read."""
        return [{"task_id": self.episodes[g[0]].task_id, "seed": self.episodes[g[0]].seed,
                 "goal": self.episodes[g[0]].goal,
                 "actions": [self.episodes[i].actions for i in g],
                 "success": [self.episodes[i].success for i in g],
                 "return": [self.episodes[i].episode_return for i in g],
                 "terminated": [self.episodes[i].terminated for i in g]} for g in self.groups]


def sample_jobs(tasks: list[str], num_groups: int, group_size: int, rng: random.Random
                ) -> list[tuple[str, int]]:
    """`num_groups` (task, seed) pairs, each repeated `group_size` times (group-major).
    Tasks are drawn without replacement while the pool lasts."""
    if not tasks:
        raise ValueError("the task pool is empty")
    chosen = (rng.sample(tasks, num_groups) if num_groups <= len(tasks)
              else [rng.choice(tasks) for _ in range(num_groups)])
    return [(task, seed) for task in chosen for seed in [rng.randrange(2**31 - 1)]
            for _ in range(group_size)]


class _TimedAgent:
    """Delegates to an agent and adds the seconds spent in `act` to a clock."""

    def __init__(self, agent, clock: dict[str, float]):
        self.agent, self.clock, self.name = agent, clock, agent.name

    def act(self, states, infos):
        start = time.perf_counter()
        try:
            return self.agent.act(states, infos)
        finally:
            self.clock["generate_s"] += time.perf_counter() - start


class _TimedEnv:
    """Delegates to an environment and adds the seconds spent in reset/step to a clock."""

    def __init__(self, env, clock: dict[str, float]):
        self.env, self.clock = env, clock

    def _timed(self, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.clock["env_s"] += time.perf_counter() - start

    def reset(self, **kwargs):
        return self._timed(self.env.reset, **kwargs)

    def step(self, action):
        return self._timed(self.env.step, action)

    def close(self):
        self.env.close()


def collect(agent, env_cfg, jobs: list[tuple[str, int]], group_size: int, num_envs: int,
            reward_range: tuple[float, float]) -> Rollouts:
    """Play `jobs` (group-major) with every turn kept; checks each reward against the range."""
    clock = {"generate_s": 0.0, "env_s": 0.0}

    def make_env():
        start = time.perf_counter()
        env = env_cfg.make()
        clock["env_s"] += time.perf_counter() - start
        return _TimedEnv(env, clock)

    episodes = run_episodes(_TimedAgent(agent, clock), make_env, jobs, num_envs, keep_turns=True)
    check_rewards(episodes, reward_range, env_cfg.name)
    groups = [list(range(start, start + group_size)) for start in range(0, len(jobs), group_size)]
    return Rollouts(episodes, groups, clock)


def check_rewards(episodes: list[Episode], reward_range: tuple[float, float], env: str) -> None:
    low, high = reward_range
    for episode in episodes:
        for t, turn in enumerate(episode.turns):
            if not low <= turn.reward <= high:  # also catches NaN
                raise RewardRangeError(env, episode.task_id, episode.seed, t, turn.reward,
                                       reward_range)


def to_samples(rollouts: Rollouts) -> list[TurnSample]:
    """Every turn of every episode as a training sample, on the ids its decision recorded."""
    samples = []
    for g, members in enumerate(rollouts.groups):
        for e in members:
            for t, turn in enumerate(rollouts.episodes[e].turns):
                d = turn.decision
                if not d.prompt_ids or not (d.token_ids or d.candidate_ids):
                    raise ValueError(f"turn {t} of episode {e} has no recorded ids: RL needs "
                                     "decisions from an LMAgent (prompt_ids + tokens or candidates)")
                samples.append(TurnSample(
                    list(d.prompt_ids), list(d.token_ids), turn.reward, e, t, g,
                    candidate_ids=d.candidate_ids, chosen=d.chosen or 0,
                    behaviour_logp=list(d.logprobs), behaviour_entropy=list(d.entropies)))
    return samples


def merge(parts: list[Rollouts]) -> Rollouts:
    """Several collections as one (episode and group indices renumbered)."""
    episodes, groups, timings = [], [], {}
    for part in parts:
        offset = len(episodes)
        episodes += part.episodes
        groups += [[offset + i for i in g] for g in part.groups]
        for key, value in part.timings.items():
            timings[key] = timings.get(key, 0.0) + value
    return Rollouts(episodes, groups, timings)


def select_groups(rollouts: Rollouts, keep: list[int]) -> Rollouts:
    """Only the groups `keep` (their episodes renumbered), timings kept."""
    episodes, groups = [], []
    for g in keep:
        groups.append(list(range(len(episodes), len(episodes) + len(rollouts.groups[g]))))
        episodes += [rollouts.episodes[i] for i in rollouts.groups[g]]
    return Rollouts(episodes, groups, dict(rollouts.timings))
