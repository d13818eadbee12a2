"""Losses of GRPO and PPO: pure functions of tensors, each with its own tests.

Shapes: B sequences (one per turn) and C completion positions; `mask` (B, C) is 1 on
the policy's completion tokens only (prompt and padding are never trained on). Token
losses are averaged over every completion token of the minibatch (DAPO's token-level
mean), so a long completion weighs as much per token as a short one.
"""
from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ m x / Σ m  (0 when the mask is empty)."""
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def clipped_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                        mask: torch.Tensor, clip_low: float, clip_high: float
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate with separate clip ranges (clip-higher, DAPO).

        ρ_t = exp(log π(a_t) - log π_old(a_t))
        L   = -mean_t min(ρ_t A, clip(ρ_t, 1 - ε_low, 1 + ε_high) A)

    `advantages` is (B,) (one per sequence, broadcast to its tokens) or (B, C).
    Returns the loss and detached diagnostics: `approx_kl` (k3 of old vs new),
    `clipfrac` (tokens whose gradient the clip removed), `clip_low` / `clip_high`
    (the two sides of it) and `ratio_mean`.
    """
    adv = advantages[:, None] if advantages.dim() == 1 else advantages       # (B, 1|C)
    log_ratio = logp - old_logp                                               # (B, C)
    ratio = torch.exp(log_ratio)                                              # (B, C)
    unclipped = ratio * adv                                                   # (B, C)
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv       # (B, C)
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    with torch.no_grad():
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).float()
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).float()
        stats = {
            "approx_kl": masked_mean(ratio - 1.0 - log_ratio, mask),
            "clipfrac": masked_mean(low + high, mask),
            "clip_low": masked_mean(low, mask),
            "clip_high": masked_mean(high, mask),
            "ratio_mean": masked_mean(ratio, mask),
        }
    return loss, stats


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(π || π_ref) (Schulman): unbiased, always >= 0.

        KL_t = exp(log π_ref - log π) - (log π_ref - log π) - 1
    """
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1.0


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each next-token distribution, (..., V) -> (...), in nats."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
                       clip: float, weight: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped value loss over B turns (all (B,)).

        V_clip = V_old + clip(V - V_old, -ε_v, ε_v)
        L_V    = ½ mean max((V - R)², (V_clip - R)²)
    """
    weight = torch.ones_like(values) if weight is None else weight
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)    # (B,)
    unclipped_err = (values - returns) ** 2                                   # (B,)
    clipped_err = (v_clipped - returns) ** 2                                  # (B,)
    loss = 0.5 * masked_mean(torch.maximum(unclipped_err, clipped_err), weight)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean((clipped_err > unclipped_err).float(), weight)}
    return loss, stats


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target); nan when the target is constant."""
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - predicted).var() / var)


def policy_objective(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                     mask: torch.Tensor, clip_low: float, clip_high: float,
                     ref_logp: torch.Tensor | None = None, kl_coef: float = 0.0,
                     entropy: torch.Tensor | None = None, entropy_coef: float = 0.0
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The policy part shared by GRPO and PPO (all token tensors (B, C)):

        L_π = L_clip + β · mean_t KL_k3(π || π_ref) - c_H · mean_t H(π(·|s_t))
    """
    loss, stats = clipped_policy_loss(logp, old_logp, advantages, mask, clip_low, clip_high)
    stats["policy_loss"] = loss.detach()
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs the reference log-probs")
        kl = masked_mean(k3_kl(logp, ref_logp), mask)
        loss = loss + kl_coef * kl
        stats["kl_ref"] = kl.detach()
    if entropy_coef > 0:
        if entropy is None:
            raise ValueError("entropy_coef > 0 needs the token entropies")
        mean_entropy = masked_mean(entropy, mask)
        loss = loss - entropy_coef * mean_entropy
        stats["entropy_bonus"] = mean_entropy.detach()
    return loss, stats
