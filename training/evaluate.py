"""Evaluation: batched rollouts of an agent over many live episodes at once.

`run_episodes` keeps `num_envs` environments busy; on every turn it makes
ONE `agent.act` call for all live episodes (so a model runs one batched
forward pass per turn, not one per episode), steps each environment and
starts the next episode in any slot that finished. RL reuses it to collect
its rollouts, with every turn's decision kept.

Success rates are reported with their 95% Wilson interval (`wilson_interval`, in
experience/diversity.py) and the number of
episodes and seeds behind them; with several samples per task, pass@k uses
the unbiased estimator. `evaluation_metrics` adds every metric of the diversity
tracker (the acting policy's entropy, distinct-n, Vendi, template entropy, pass@k
up to 16, the search metrics where the family declares a search tool), so an
evaluation is logged under the same keys as an RL iteration.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from earlyexp.agents.actors import MODES, Agent, Decision
from earlyexp.agents.prompts import State
from earlyexp.errors import ConfigError, closest
from earlyexp.experience.diversity import (
    ACTION_MARKER, diversity_metrics, pass_at_k, pass_k_ladder, policy_entropy,
    reasoning_action_entropy, token_pieces, wilson_interval,
)
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
    terminated: bool = False          # the task ended (won or lost): nothing follows
    truncated: bool = False           # cut by the step limit while the task was still open
    final_state: State | None = None  # with keep_turns, the state a truncated episode stopped in
    goal: str = ""                    # the instruction (search metrics compare queries with it)

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
    diversity: dict[str, float] = field(default_factory=dict)   # `evaluation_metrics`

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
            **self.diversity,
            **{f"pass@{k}": v for k, v in self.pass_k.items()},
        }


#: pass@k of an evaluation goes up to this k (when that many samples per task exist).
EVAL_MAX_K = 16


def evaluation_metrics(episodes: list[Episode], temperature: float, *,
                       search_query: Callable[[str], str | None] | None = None,
                       template: Callable[[str], str] | None = None, tokenizer=None,
                       max_k: int = EVAL_MAX_K) -> dict[str, float]:
    """Every tracker metric of one evaluation, under the keys of `diversity.METRICS`.

    A group is the episodes of one task (its samples, seeds seed..seed+n-1): per-group
    metrics (unique-trajectory ratio, Vendi, unique-query ratio...) and pass@k for
    k = 1, 2, 4, ... up to min(samples per task, `max_k`) are taken over them. Needs
    `Episode.turns` (run with `keep_turns=True`) for `policy_entropy[/choice|/token]`
    (the acting policy at `temperature`), `entropy` (generated tokens' entropy) and,
    with the policy's `tokenizer`, `reasoning_token_entropy` / `action_token_entropy`.
    `search_query` (the family's declaration, `declared_search_query`) adds the search
    metrics; `query_question_overlap` needs `Episode.goal`, `answer_after_search_rate`
    uses `Episode.terminated` where the episodes carry them.
    """
    by_task: dict[str, list[Episode]] = {}
    for e in episodes:
        by_task.setdefault(e.task_id, []).append(e)
    groups = list(by_task.values())
    samples = min((len(g) for g in groups), default=0)
    goals = [getattr(g[0], "goal", None) for g in groups]
    ended = [[bool(getattr(e, "terminated", True)) for e in g] for g in groups]
    decisions = [t.decision for e in episodes for t in e.turns]
    generated = [d for d in decisions if not d.scores and d.token_ids
                 and len(getattr(d, "entropies", None) or []) == len(d.token_ids)]
    out = diversity_metrics([[e.actions for e in g] for g in groups],
                            [[e.success for e in g] for g in groups],
                            ks=pass_k_ladder(samples, max_k),
                            token_entropies=[d.entropies for d in generated] or None,
                            search_query=search_query, template=template,
                            goals=goals if any(goals) else None, ended=ended, unit="action")
    out.update(policy_entropy(decisions, temperature))
    if tokenizer is not None and generated:
        out.update(reasoning_action_entropy(_pieces(d, tokenizer) for d in generated))
    return out


def _pieces(decision: Decision, tokenizer) -> tuple[list[str], list[float]]:
    """(token pieces, entropies) of a generated decision; the decode is skipped when the
    completion has no "Action:" (then every token is an action token)."""
    if ACTION_MARKER not in decision.completion:
        return [""] * len(decision.token_ids), list(decision.entropies)
    return token_pieces(tokenizer, decision.token_ids), list(decision.entropies)


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
                    live[slot] = (next_job, state, info, Episode(task_id, seed, goal=info["goal"]))
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
                    episode.terminated, episode.truncated = bool(terminated), not terminated
                    if keep_turns and not terminated:  # PPO bootstraps V from this state
                        episode.final_state = state.advance(action, obs,
                                                            info["admissible_actions"])
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
    reflect_first: bool = False       # generate mode: prompt ends "Reflection:", the completion
                                      # is a reflection then "Action: ..." (an SR checkpoint)
    pass_k: list[int] = field(default_factory=lambda: [1])

    def __post_init__(self):
        if self.seeds < 1 or self.num_envs < 1:
            raise ConfigError("seeds/num_envs", (self.seeds, self.num_envs), "must be >= 1")
        if any(k < 1 or k > self.seeds for k in self.pass_k):
            raise ConfigError("pass_k", self.pass_k, f"every k must be in 1..seeds={self.seeds}")
        if self.mode not in MODES:
            raise ConfigError("eval.mode", self.mode, f"must be one of {list(MODES)}."
                              f"{closest(self.mode, MODES)}")
        if self.reflect_first and self.mode != "generate":
            raise ConfigError("eval.reflect_first", True, "needs eval.mode=generate (rank mode "
                              "scores the admissible actions, with no room to reflect)")


def evaluate(agent: Agent, env_cfg, cfg: EvalConfig,
             on_episode: Callable[[Episode], None] | None = None) -> EvalResult:
    """Success, score, length and pass@k of `agent` on `cfg.split` of the environment."""
    from earlyexp.experience.search_metrics import declared_search_query

    probe = env_cfg.make()
    try:
        tasks = probe.tasks(cfg.split)
        search_query, template = declared_search_query(probe), probe.action_template
    finally:
        probe.close()
    tasks = tasks[: cfg.num_tasks] if cfg.num_tasks else tasks
    jobs = [(t, cfg.seed + i) for t in tasks for i in range(cfg.seeds)]
    episodes = run_episodes(agent, env_cfg.make, jobs, cfg.num_envs, keep_turns=True,
                            on_episode=on_episode)
    diversity = evaluation_metrics(
        episodes, float(getattr(agent, "temperature", 0.0)), search_query=search_query,
        template=template, tokenizer=getattr(getattr(agent, "policy", None), "tokenizer", None))
    for e in episodes:  # the metrics are taken; do not hold every prompt in memory
        e.turns = []
    per_task: dict[str, list[bool]] = {}
    for e in episodes:
        per_task.setdefault(e.task_id, []).append(e.success)
    pass_k = {k: sum(pass_at_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
              for k in cfg.pass_k}
    return EvalResult(cfg.split, episodes, cfg.seeds, pass_k, diversity)


def episode_record(e: Episode) -> dict[str, Any]:
    """An episode as a JSON-ready dict (turn details dropped)."""
    row = asdict(e)
    row.pop("turns")
    return row


@dataclass
class EvaluateCommandConfig:
    """Configuration of `earlyexp evaluate` (configs/evaluate.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    checkpoint: str | None = None  # a checkpoint dir; or agent=expert / agent=random for the bounds
    agent: str = "lm"              # lm | expert | random
    device: str = "auto"
    out: str | None = None         # write the summary and episodes as JSON here
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
                   seed=cfg.eval.seed, name=str(cfg.checkpoint),
                   reflect_first=cfg.eval.reflect_first)
