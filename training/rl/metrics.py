"""What the tracker logs for every RL iteration, from the rollouts and the behaviour pass.

    rollout_metrics(groups, played, dist, ctx)          success, return, length, diversity,
                                                        pass@k ladder, search, templates
    entropy_metrics(samples, behaviour, dist)           the acting policy's entropy
    reasoning_metrics(samples, tokenizer)               planning vs execution tokens
    covariance_metrics(samples, behaviour, adv, top)    Cov(log π, A), and its top tokens
    collapse_metrics(history, episodes)                 R = -a·exp(H) + b on the iterations so far
    update_sparsity(init_state, module)                 fraction of parameters RL changed

The functions behind them (formulas, tests) live in `earlyexp.experience.diversity`,
`collapse` and `search_metrics`; this module only decides what an iteration feeds them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from earlyexp.experience.collapse import (
    fit_collapse, logprob_advantage_covariance_stats, parameter_change,
)
from earlyexp.experience.diversity import (
    diversity_metrics, pass_k_ladder, reasoning_action_entropy, token_pieces,
)


@dataclass
class EnvDeclarations:
    """What the environment family declares about its actions (see `TextEnv`)."""

    search_query: Callable[[str], str | None] | None = None
    template: Callable[[str], str] | None = None


def rollout_metrics(groups: list[dict[str, Any]], played, dist, group_size: int,
                    env: EnvDeclarations) -> dict[str, float]:
    """Success, return, length, invalid rate and every trajectory-level diversity metric
    over every rank's episodes (pass@k for k = 1, 2, 4, ... up to the group size)."""
    successes = [s for g in groups for s in g["success"]]
    returns = [r for g in groups for r in g["return"]]
    lengths = [len(a) for g in groups for a in g["actions"]]
    invalid = dist.reduce(sum(e.invalid_actions for e in played.episodes))
    metrics = {
        "return_mean": sum(returns) / len(returns),
        "return_std": float(np.std(returns)),
        "episode_length": sum(lengths) / len(lengths),
        "invalid_rate": invalid / max(1, sum(lengths)),
        "rl/episodes": float(len(successes)),
        "rl/turns": float(sum(lengths)),
    }
    goals = [g.get("goal") for g in groups]
    metrics.update(diversity_metrics(
        [g["actions"] for g in groups], [g["success"] for g in groups],
        ks=pass_k_ladder(group_size), search_query=env.search_query, template=env.template,
        goals=goals if any(goals) else None, ended=[g.get("terminated") for g in groups]))
    return metrics


def entropy_metrics(samples, behaviour: dict[str, Any], dist) -> dict[str, float]:
    """The acting policy's entropy (nats) at the rollout temperature, under the behaviour
    weights: `policy_entropy/choice` over rank-mode turns (the categorical over the
    candidates), `policy_entropy/token` over generated tokens, `policy_entropy` (the
    choice entropy where any turn was ranked, else the token one) and `entropy`, the mean
    over every action unit (a choice or a token)."""
    sums = {"choice": 0.0, "token": 0.0}
    counts = {"choice": 0.0, "token": 0.0}
    for sample, entropy in zip(samples, behaviour["entropy"]):
        kind = "choice" if sample.is_choice else "token"
        sums[kind] += float(entropy.sum())
        counts[kind] += len(entropy)
    metrics = {}
    for kind in ("token", "choice"):
        total, n = dist.reduce(sums[kind]), dist.reduce(counts[kind])
        if n:
            metrics[f"policy_entropy/{kind}"] = total / n
            metrics["policy_entropy"] = total / n     # choice wins: it is written last
    metrics["entropy"] = (dist.reduce(sums["choice"] + sums["token"])
                          / max(1.0, dist.reduce(counts["choice"] + counts["token"])))
    return metrics


def reasoning_metrics(samples, tokenizer) -> dict[str, float]:
    """Token entropy of the reasoning before "Action:" vs the action after it, over the
    generated completions that carry per-token entropies."""
    generated = [s for s in samples if not s.is_choice and s.behaviour_entropy]
    return reasoning_action_entropy((token_pieces(tokenizer, s.completion_ids),
                                     s.behaviour_entropy) for s in generated)


def covariance_metrics(samples, behaviour: dict[str, Any], advantages: torch.Tensor,
                       top_fraction: float) -> dict[str, float]:
    """Cov(log π, A) over every action unit of the batch (Cui et al. 2025), its mean over
    the top `top_fraction` units and their share."""
    if not samples:
        return {}
    logp = torch.cat([lp.float() for lp in behaviour["logp"]])
    adv = torch.cat([advantages[i].expand(len(lp)) for i, lp in enumerate(behaviour["logp"])])
    return logprob_advantage_covariance_stats(logp, adv, top_fraction=top_fraction)


def collapse_metrics(history: list[dict[str, Any]], episodes: int) -> dict[str, float]:
    """The collapse fit R = -a·exp(H) + b on (policy entropy, success) of the iterations so
    far; `collapse/ok` = 0 (with nothing else) while it is refused."""
    points = [(h["metrics"]["policy_entropy"], h["metrics"]["success"]) for h in history
              if "policy_entropy" in h["metrics"]]
    fit = fit_collapse([h for h, _ in points], [r for _, r in points], episodes=episodes)
    return fit.to_metrics()


def update_sparsity(init_state: dict[str, torch.Tensor], module) -> dict[str, float]:
    """Fraction of the policy's parameters changed since the warm-start, per layer type."""
    return parameter_change(init_state, module.lm.state_dict()).to_metrics()
