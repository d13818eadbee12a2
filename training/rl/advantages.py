"""Advantage estimators: pure functions over returns and rewards, each with its own tests.

    group_advantages   GRPO (and Dr. GRPO): episode return normalised within its group
    gae                PPO: generalised advantage estimation over the turns of one episode

Notation: G groups of N rollouts each (a group = one task, one seed); an episode has
T turns with per-turn rewards r_t and state values V_t.
"""
from __future__ import annotations

import torch


def group_advantages(returns: torch.Tensor, scale: str = "group", eps: float = 1e-4
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO advantages of a (G, N) block of episode returns; returns (advantages, zero_var).

        A_gi = (R_gi - mean_i R_gi) / (std_i R_gi + eps)     scale="group" (GRPO)
        A_gi =  R_gi - mean_i R_gi                            scale="none"  (Dr. GRPO)

    `std` is the sample standard deviation (N - 1 in the denominator), as in TRL.
    `zero_var` (G,) flags groups whose returns are all equal: their advantages are
    exactly 0 (no learning signal; counted as `rl/zero_variance_groups`).
    """
    if returns.dim() != 2 or returns.shape[1] < 2:
        raise ValueError(f"returns must be (groups, group_size >= 2), got {tuple(returns.shape)}")
    returns = returns.double()
    mean = returns.mean(dim=1, keepdim=True)                        # (G, 1)
    centred = returns - mean                                        # (G, N)
    zero_var = (returns == returns[:, :1]).all(dim=1)               # (G,)
    if scale == "group":
        std = returns.std(dim=1, keepdim=True)                      # (G, 1)
        advantages = centred / (std + eps)
    elif scale == "none":
        advantages = centred
    else:
        raise ValueError(f"scale must be 'group' or 'none', got {scale!r}")
    advantages = torch.where(zero_var[:, None], torch.zeros_like(advantages), advantages)
    return advantages.float(), zero_var


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float,
        last_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over the T turns of one episode; returns (advantages, returns), each (T,).

        δ_t = r_t + γ V_{t+1} - V_t            (V_T = last_value: 0 when the episode ended)
        A_t = δ_t + γ λ A_{t+1}                (A_T = 0)
        R_t = A_t + V_t                        (the value target)
    """
    if rewards.shape != values.shape or rewards.dim() != 1:
        raise ValueError(f"rewards and values must both be (T,), got {tuple(rewards.shape)} "
                         f"and {tuple(values.shape)}")
    rewards, values = rewards.double(), values.double()
    next_values = torch.cat([values[1:], values.new_tensor([last_value])])   # (T,)
    deltas = rewards + gamma * next_values - values                           # (T,)
    advantages = torch.zeros_like(deltas)
    running = 0.0
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * running
        advantages[t] = running
    return advantages.float(), (advantages + values).float()
