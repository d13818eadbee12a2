"""Evaluation: batched rollouts of an agent over many live episodes at once.

`run_episodes` keeps `num_envs` environments busy; on every turn it makes
ONE `agent.act` call for all live episodes (so a model runs one batched
forward pass per turn, not one per episode), steps each environment and
starts the next episode in any slot that finished. RL reuses it to collect
its rollouts, with every turn's decision kept.

Success rates are reported with their 95% Wilson interval (`wilson_interval`, in
experience/diversity.py) and the number of
episodes and seeds behind them; with several samples per task, pass@k uses
the unbiased estimator.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from earlyexp.agents.actors import Agent, Decision
from earlyexp.agents.prompts import State
from earlyexp.errors import ConfigError
from earlyexp.experience.diversity import pass_at_k, wilson_interval
from earlyexp.experience.collect import EnvConfig


@dataclass
class Turn:
    decision: Decision
    reward: float
    valid_action: bool
    observation: str


@dataclass
class Episode:
    task_id: str
    seed: int
    actions: list[str] = field(default_factory=list)
    success: bool = False
    score: float = 0.0
    invalid_actions: int = 0
    turns: list[Turn] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        return sum(t.reward for t in self.turns)


@dataclass
class EvalResult:
    split: str
    episodes: list[Episode]
    seeds: int
    pass_k: dict[int, float] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return sum(e.success for e in self.episodes) / max(1, len(self.episodes))

    def summary(self) -> dict[str, Any]:
        n = len(self.episodes)
        wins = sum(e.success for e in self.episodes)
        steps = sum(e.length for e in self.episodes)
        return {
            "split": self.split, "episodes": n, "seeds": self.seeds,
            "success": wins / max(1, n), "success_ci": list(wilson_interval(wins, n)),
            "score": sum(e.score for e in self.episodes) / max(1, n),
            "mean_length": steps / max(1, n),
            "invalid_rate": sum(e.invalid_actions for e in self.episodes) / max(1, steps),
            **{f"pass@{k}": v for k, v in self.pass_k.items()},
        }


def run_episodes(agent: Agent, make_env: Callable[[], Any], jobs: list[tuple[str, int]],
                 num_envs: int = 16, keep_turns: bool = False,
                 on_episode: Callable[[Episode], None] | None = None) -> list[Episode]:
    """Play every `(task_id, seed)` job to its end; returns episodes in job order."""
    envs = [make_env() for _ in range(min(num_envs, len(jobs)))]
    episodes: list[Episode | None] = [None] * len(jobs)
    live: dict[int, tuple[int, State, dict, Episode]] = {}  # slot -> (job index, state, info, ep)
    next_job = 0
    try:
        while next_job < len(jobs) or live:
            for slot, env in enumerate(envs):
                if slot not in live and next_job < len(jobs):
                    task_id, seed = jobs[next_job]
                    obs, info = env.reset(seed=seed, options={"task_id": task_id})
                    state = State(info["goal"], obs, [], info["admissible_actions"])
                    live[slot] = (next_job, state, info, Episode(task_id, seed))
                    next_job += 1
            slots = sorted(live)
            decisions = agent.act([live[s][1] for s in slots], [live[s][2] for s in slots])
            for slot, decision in zip(slots, decisions):
                index, state, info, episode = live[slot]
                action = decision.action if decision.action is not None else ""
                obs, reward, terminated, truncated, info = envs[slot].step(action)
                episode.actions.append(action)
                episode.invalid_actions += not info["valid_action"]
                if keep_turns:
                    episode.turns.append(Turn(decision, float(reward), info["valid_action"], obs))
                if terminated or truncated:
                    episode.success, episode.score = bool(info["success"]), float(info["score"])
                    episodes[index] = episode
                    del live[slot]
                    if on_episode:
                        on_episode(episode)
                else:
                    live[slot] = (index, state.advance(action, obs, info["admissible_actions"]),
                                  info, episode)
    finally:
        for env in envs:
            env.close()
    return episodes  # type: ignore[return-value]


@dataclass
class EvalConfig:
    split: str = "test"
    num_tasks: int | None = None      # first N tasks of the split; null = all
    seeds: int = 1                    # episodes per task (seeds seed..seed+n-1)
    seed: int = 1000
    num_envs: int = 16                # live episodes per batched turn
    mode: str = "rank"                # rank | generate
    temperature: float = 0.0          # 0 = greedy
    max_new_tokens: int = 24
    pass_k: list[int] = field(default_factory=lambda: [1])

    def __post_init__(self):
        if self.seeds < 1 or self.num_envs < 1:
            raise ConfigError("seeds/num_envs", (self.seeds, self.num_envs), "must be >= 1")
        if any(k < 1 or k > self.seeds for k in self.pass_k):
            raise ConfigError("pass_k", self.pass_k, f"every k must be in 1..seeds={self.seeds}")


def evaluate(agent: Agent, env_cfg, cfg: EvalConfig,
             on_episode: Callable[[Episode], None] | None = None) -> EvalResult:
    """Success, score, length and pass@k of `agent` on `cfg.split` of the environment."""
    probe = env_cfg.make()
    try:
        tasks = probe.tasks(cfg.split)
    finally:
        probe.close()
    tasks = tasks[: cfg.num_tasks] if cfg.num_tasks else tasks
    jobs = [(t, cfg.seed + i) for t in tasks for i in range(cfg.seeds)]
    episodes = run_episodes(agent, env_cfg.make, jobs, cfg.num_envs, on_episode=on_episode)
    per_task: dict[str, list[bool]] = {}
    for e in episodes:
        per_task.setdefault(e.task_id, []).append(e.success)
    pass_k = {k: sum(pass_at_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
              for k in cfg.pass_k}
    return EvalResult(cfg.split, episodes, cfg.seeds, pass_k)


def episode_record(e: Episode) -> dict[str, Any]:
    """An episode as a JSON-ready dict (turn details dropped)."""
    row = asdict(e)
    row.pop("turns")
    return row


@dataclass
class EvaluateCommandConfig:
    """Configuration of `earlyexp evaluate` (configs/evaluate.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    checkpoint: str | None = None
    agent: str = "lm"
    device: str = "auto"
    out: str | None = None
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self):
        if self.agent not in ("lm", "expert", "random"):
            raise ConfigError("agent", self.agent, "must be lm, expert or random")
        if self.agent == "lm" and not self.checkpoint:
            raise ConfigError("checkpoint", self.checkpoint,
                              "agent=lm needs checkpoint=<dir> (or use agent=expert|random)")


def build_agent(cfg: EvaluateCommandConfig):
    from earlyexp.agents.actors import ExpertAgent, LMAgent, RandomAgent

    if cfg.agent == "expert":
        return ExpertAgent()
    if cfg.agent == "random":
        return RandomAgent(cfg.eval.seed)
    from earlyexp.agents.hf_policy import load_policy
    return LMAgent(load_policy(cfg.checkpoint, cfg.device), cfg.eval.mode,
                   cfg.env.prompt_format(), cfg.eval.temperature, cfg.eval.max_new_tokens,
                   seed=cfg.eval.seed, name=str(cfg.checkpoint))
