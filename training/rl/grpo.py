"""GRPO (DeepSeekMath), step-wise multi-turn, with the DAPO / Dr. GRPO options.

One iteration, top to bottom (the loop itself is `trainer.py`, shared with PPO):

    1. rollouts   `tasks_per_iteration` groups of `group_size` episodes, each group one
                  task and one seed; every turn keeps its prompt and completion ids.
    2. advantages R_g,i = the episode's return;  A_g,i = (R_g,i - mean_i R) / (std_i R + eps)
                  (Dr. GRPO, `scale_advantages=none`: no std division), broadcast to every
                  turn and token of the episode. A group whose returns are all equal has
                  A = 0: counted, and dropped from the loss with `filter_zero_variance`;
                  `dynamic_sampling` (DAPO) plays fresh groups until enough have a signal.
                  When no sample has a gradient at all the update is skipped.
    3. update     for `ppo_epochs` passes over minibatches of turns:
                  L = clipped surrogate(ratio, A; clip_low, clip_high)
                      + kl_coef · k3 KL(π || π_init) - entropy_coef · H(π)
                  on completion tokens only (losses.policy_objective).

No critic: `uses_values` is False, so the trained module has no value head.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from earlyexp.training.rl.advantages import group_advantages
from earlyexp.training.rl.config import RLConfig
from earlyexp.training.rl.losses import policy_objective, surrogate
from earlyexp.training.rl.model import Minibatch
from earlyexp.training.rl.rollout import Rollouts, TurnSample


@dataclass
class Advantages:
    """Per-sample (one per turn) advantage, loss weight and, for PPO, value target."""

    advantages: torch.Tensor                 # (S,)
    weight: torch.Tensor                     # (S,) 1 = trained on, 0 = filtered out
    returns: torch.Tensor | None = None      # (S,) value targets
    metrics: dict[str, float] = field(default_factory=dict)


class GRPO:
    name = "grpo"
    uses_values = False

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg

    def advantages(self, rollouts: Rollouts, samples: list[TurnSample],
                   values: torch.Tensor | None = None,
                   bootstrap: dict[int, float] | None = None) -> Advantages:
        cfg = self.cfg
        if not rollouts.groups:   # dynamic sampling found no group with a signal
            return Advantages(torch.zeros(0), torch.zeros(0), metrics={
                "rl/zero_variance_groups": 0.0, "rl/filtered_groups": 0.0})
        returns = torch.tensor([[rollouts.episodes[e].episode_return for e in g]
                                for g in rollouts.groups])                     # (G, N)
        group_adv, zero_var = group_advantages(returns, cfg.scale_advantages,
                                               cfg.advantage_eps)              # (G, N), (G,)
        keep = ~zero_var if cfg.filter_zero_variance else torch.ones_like(zero_var)  # (G,)
        episode_adv = group_adv.flatten()                                      # (G·N,)
        advantages = torch.stack([episode_adv[s.episode] for s in samples])   # (S,)
        weight = torch.tensor([float(keep[s.group]) for s in samples])          # (S,)
        return Advantages(advantages, weight, metrics={
            "rl/zero_variance_groups": float(zero_var.sum()),
            "rl/zero_variance_frac": float(zero_var.float().mean()),
            "rl/filtered_groups": float((~keep).sum()),
            "rl/advantage_abs_mean": float(episode_adv.abs().mean()),
        })

    def has_signal(self, adv: Advantages, index: list[int]) -> bool:
        """Whether the samples `index` give a non-zero gradient: some advantage is not 0,
        or a KL or entropy term is on (those pull even at zero advantage)."""
        cfg = self.cfg
        return (cfg.kl_coef > 0 or cfg.entropy_coef > 0
                or bool(index and adv.advantages[index].abs().max() > 0))

    def loss(self, mb: Minibatch, logp: torch.Tensor, entropy: torch.Tensor | None,
             values: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        return policy_objective(logp, mb.old_logp, mb.advantages, mb.loss_mask,
                                cfg.clip_low, cfg.clip_high, mb.ref_logp, cfg.kl_coef,
                                entropy, cfg.entropy_coef, surrogate(cfg))
