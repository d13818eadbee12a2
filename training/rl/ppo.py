"""PPO over turns: a value head on the policy, per-turn rewards, GAE, clipped value loss.

One iteration, top to bottom (the loop itself is `trainer.py`, shared with GRPO):

    1. rollouts   as GRPO (groups are kept for logging; `group_size=1` is fine).
    2. values     V(s_t) from the value head on the last prompt token of every turn,
                  computed with the behaviour log-probs before the update.
    3. advantages per episode, over its T turns with rewards r_t:
                      δ_t = r_t + γ V(s_{t+1}) - V(s_t)
                      A_t = δ_t + γλ A_{t+1},   R_t = A_t + V(s_t)
                  where V(s_T), after the last turn, is 0 when the episode *terminated*
                  (the task ended: nothing follows) and the value head's V of the state
                  it stopped in when the step limit *truncated* it (the task was still
                  open; treating the cut as an end would teach V that time-outs are
                  worth nothing). The env's terminated/truncated flags say which.
                  Then whitened over the batch (`whiten_advantages`); A_t is broadcast
                  to every token of turn t's completion (or to the turn's choice).
    4. update     for `ppo_epochs` passes over minibatches of turns:
                  L = clipped surrogate + kl_coef · k3 KL - entropy_coef · H
                      + vf_coef · ½ max((V - R)², (V_clip - R)²)

The critic shares the policy's trunk (see `model.py` for why).
"""
from __future__ import annotations

import torch

from earlyexp.training.rl.advantages import gae
from earlyexp.training.rl.config import RLConfig
from earlyexp.training.rl.grpo import Advantages
from earlyexp.training.rl.losses import (
    clipped_value_loss, explained_variance, policy_objective, surrogate,
)
from earlyexp.training.rl.model import Minibatch
from earlyexp.training.rl.rollout import Rollouts, TurnSample


class PPO:
    name = "ppo"
    uses_values = True

    def __init__(self, cfg: RLConfig):
        self.cfg = cfg

    def advantages(self, rollouts: Rollouts, samples: list[TurnSample],
                   values: torch.Tensor | None = None,
                   bootstrap: dict[int, float] | None = None) -> Advantages:
        """GAE per episode; `bootstrap` maps truncated episodes to V(s_T)."""
        cfg = self.cfg
        if values is None:
            raise ValueError("PPO needs the rollout's state values")
        advantages = torch.zeros(len(samples))                                  # (S,)
        returns = torch.zeros(len(samples))                                     # (S,)
        by_episode: dict[int, list[int]] = {}
        for i, s in enumerate(samples):
            by_episode.setdefault(s.episode, []).append(i)                      # turn order
        for episode, idx in by_episode.items():
            rewards = torch.tensor([samples[i].reward for i in idx])            # (T,)
            last_value = (bootstrap or {}).get(episode, 0.0)                    # V(s_T)
            adv, ret = gae(rewards, values[idx].float(), cfg.gamma, cfg.lam, last_value)
            advantages[idx], returns[idx] = adv, ret
        metrics = {"charts/explained_variance": explained_variance(values.float(), returns),
                   "charts/value_mean": float(values.mean()),
                   "rl/advantage_abs_mean": float(advantages.abs().mean())}
        if cfg.whiten_advantages and len(samples) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        return Advantages(advantages, torch.ones(len(samples)), returns, metrics)

    def has_signal(self, adv: Advantages, index: list[int]) -> bool:
        return True   # the value loss always has something to learn

    def loss(self, mb: Minibatch, logp: torch.Tensor, entropy: torch.Tensor | None,
             values: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        loss, stats = policy_objective(logp, mb.old_logp, mb.advantages, mb.loss_mask,
                                       cfg.clip_low, cfg.clip_high, mb.ref_logp, cfg.kl_coef,
                                       entropy, cfg.entropy_coef, surrogate(cfg))
        v_loss, v_stats = clipped_value_loss(values, mb.old_values, mb.returns, cfg.vf_clip,
                                             mb.weight)
        stats.update(v_stats, value_loss=v_loss.detach())
        return loss + cfg.vf_coef * v_loss, stats

