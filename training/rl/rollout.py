"""RL rollouts: batched episodes in groups, turned into token-level training samples.

    jobs     = sample_jobs(tasks, tasks_per_iteration, group_size, rng)   # group-major
    rollouts = collect(agent, env_cfg, jobs, group_size, num_envs)        # run_episodes + timing
    samples  = to_samples(rollouts, tokenizer, ...)                       # one per turn

A group is `group_size` episodes of the same task and the same seed. Every turn
becomes one sample: the rendered state's prompt ids, the completion ids the policy
produced (generate mode: the sampled tokens with their stop token; rank mode: the
chosen action " <action>" + EOS, whose summed log-prob is the action's score), the
turn's reward and the indices of its episode and group. Behaviour log-probs are
recomputed by the trainer on exactly these ids, so vLLM and HF rollouts train alike.
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
    completion_ids: list[int]
    reward: float
    episode: int          # index into Rollouts.episodes
    turn: int             # 0-based turn within the episode
    group: int            # index into Rollouts.groups


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
        """Per group: task, seed, each episode's actions, success and return (for diversity)."""
        return [{"task_id": self.episodes[g[0]].task_id, "seed": self.episodes[g[0]].seed,
                 "actions": [self.episodes[i].actions for i in g],
                 "success": [self.episodes[i].success for i in g],
                 "return": [self.episodes[i].episode_return for i in g]} for g in self.groups]


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


def to_samples(rollouts: Rollouts, tokenizer, max_positions: int, max_new_tokens: int
               ) -> list[TurnSample]:
    """Every turn of every episode as a (prompt ids, completion ids) training sample.

    Prompts are cut from the left exactly as the policy cut them when it acted:
    to `max_positions - max_new_tokens` tokens for generated completions (HFPolicy's
    generation), to `max_positions - len(completion)` for ranked ones (its scoring).
    """
    turns = [(e, g, t, turn) for g, members in enumerate(rollouts.groups) for e in members
             for t, turn in enumerate(rollouts.episodes[e].turns)]
    prompts = tokenizer([turn.decision.prompt for *_, turn in turns],
                        add_special_tokens=False)["input_ids"]
    samples = []
    for (e, g, t, turn), p_ids in zip(turns, prompts):
        decision = turn.decision
        if decision.token_ids:  # sampled tokens, stop token included
            c_ids = list(decision.token_ids)
            room = max(8, max_positions - max_new_tokens)
        else:                   # ranked action: " <action>" + EOS, as HFPolicy.score saw it
            c_ids = tokenizer(decision.completion, add_special_tokens=False)["input_ids"]
            c_ids = c_ids + [tokenizer.eos_token_id]
            room = max(1, max_positions - len(c_ids))
        samples.append(TurnSample(p_ids[-room:], c_ids, turn.reward, e, t, g))
    return samples
