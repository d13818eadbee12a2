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
                     entropy: torch.Tensor | None = None, entropy_coef: float = 0.0,
                     surrogate=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The policy part shared by GRPO and PPO (all token tensors (B, C)):

        L_π = L_clip + β · mean_t KL_k3(π || π_ref) - c_H · mean_t H(π(·|s_t))

    `surrogate(logp, old_logp, advantages, mask)` replaces L_clip (Clip-Cov, KL-Cov:
    `POLICY_LOSSES`); by default it is `clipped_policy_loss`.
    """
    if surrogate is None:
        loss, stats = clipped_policy_loss(logp, old_logp, advantages, mask, clip_low, clip_high)
    else:
        loss, stats = surrogate(logp, old_logp, advantages, mask)
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


# --------------------------------------------------------------------------- Clip-Cov, KL-Cov
# Cui et al. 2025, "The Entropy Mechanism of Reinforcement Learning for Reasoning Language
# Models": under policy gradient the entropy falls by the covariance of a token's log-prob
# and its advantage, and a few tokens carry most of it. Both losses act on those tokens only.
# Defaults are the paper's (ratio 2e-4, Clip-Cov bounds (1, 5), KL-Cov coefficient 1).
def covariance_terms(logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor
                     ) -> torch.Tensor:
    """Per-token centred products over the kept tokens (no gradient), (B, C), 0 off the mask:

        c_t = (log π_t - mean_m log π)(A_t - mean_m A)
    """
    adv = (advantages[:, None] if advantages.dim() == 1 else advantages).expand_as(logp)
    with torch.no_grad():
        lp = logp.detach()
        centred_lp = lp - masked_mean(lp, mask)                                 # (B, C)
        centred_adv = adv.detach() - masked_mean(adv.detach(), mask)            # (B, C)
        return centred_lp * centred_adv * (mask > 0)


def _selection_size(ratio: float, mask: torch.Tensor) -> int:
    """k = max(1, ⌊ratio · N⌋) tokens of the N kept ones (0 when none is kept)."""
    n = int((mask > 0).sum())
    return min(n, max(1, int(ratio * n))) if n else 0


def clip_cov_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                         mask: torch.Tensor, clip_low: float, clip_high: float,
                         clip_cov_ratio: float = 2e-4, cov_low: float = 1.0,
                         cov_high: float = 5.0, generator: torch.Generator | None = None
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clip-Cov: PPO's clipped loss with the gradient of a few high-covariance tokens cut.

        ℓ_t = max(-A ρ_t, -A clip(ρ_t, 1 - ε_low, 1 + ε_high))     (PPO's token loss)
        I   = {t : cov_low < c_t < cov_high, and PPO's clip does not already bind at t}
        S   = n = max(1, ⌊r·N⌋) tokens drawn uniformly from I (all of I if fewer)
        L   = mean_t ℓ_t · 1[t ∉ S]

    (c_t from `covariance_terms`, r = `clip_cov_ratio`, N kept tokens). `generator` makes
    the draw reproducible. Returns `clipped_policy_loss`'s diagnostics plus `cov_clipfrac`
    (fraction of tokens in S) and `cov_mean` (mean c_t).
    """
    if not 0 < clip_cov_ratio <= 1 or not cov_low < cov_high:
        raise ValueError(f"Clip-Cov needs 0 < clip_cov_ratio <= 1 and cov_low < cov_high, got "
                         f"{clip_cov_ratio}, ({cov_low}, {cov_high})")
    adv = advantages[:, None] if advantages.dim() == 1 else advantages        # (B, 1|C)
    ratio = torch.exp(logp - old_logp)                                        # (B, C)
    unclipped = -adv * ratio                                                  # (B, C)
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)      # (B, C)
    cov = covariance_terms(logp, advantages, mask)                            # (B, C)
    with torch.no_grad():
        candidates = ((cov > cov_low) & (cov < cov_high) & (mask > 0)
                      & ~(clipped > unclipped)).flatten().nonzero().squeeze(-1)
        order = torch.randperm(candidates.numel(), generator=generator)
        chosen = candidates[order[:_selection_size(clip_cov_ratio, mask)].to(candidates.device)]
        keep = torch.ones(logp.numel(), device=logp.device)
        keep[chosen] = 0.0
        keep = keep.view_as(logp)                                             # (B, C)
        _, stats = clipped_policy_loss(logp, old_logp, advantages, mask, clip_low, clip_high)
        stats["cov_clipfrac"] = masked_mean(1.0 - keep, mask)
        stats["cov_mean"] = masked_mean(cov, mask)
    loss = masked_mean(torch.maximum(unclipped, clipped) * keep, mask)
    return loss, stats


def kl_cov_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                       mask: torch.Tensor, kl_cov_ratio: float = 2e-4, kl_cov_coef: float = 1.0
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """KL-Cov: the plain policy-gradient surrogate, with a KL penalty on the top-covariance
    tokens only (as in the paper, no ratio clipping):

        ℓ_t = -A ρ_t + β |log π_t - log π_old,t| · 1[t ∈ top-k of c_t]
        L   = mean_t ℓ_t,   k = max(1, ⌊r·N⌋)

    (r = `kl_cov_ratio`, β = `kl_cov_coef`). Returns `approx_kl`, `ratio_mean`, `clipfrac`
    (always 0: nothing is clipped), `kl_cov_frac` (fraction of tokens penalised),
    `kl_cov_abs_kl` (mean |log π - log π_old| over all tokens) and `cov_mean`.
    """
    if not 0 < kl_cov_ratio <= 1 or kl_cov_coef < 0:
        raise ValueError(f"KL-Cov needs 0 < kl_cov_ratio <= 1 and kl_cov_coef >= 0, got "
                         f"{kl_cov_ratio}, {kl_cov_coef}")
    adv = advantages[:, None] if advantages.dim() == 1 else advantages        # (B, 1|C)
    log_ratio = logp - old_logp                                               # (B, C)
    ratio = torch.exp(log_ratio)                                              # (B, C)
    cov = covariance_terms(logp, advantages, mask)                            # (B, C)
    with torch.no_grad():
        ranked = torch.where(mask > 0, cov, torch.full_like(cov, -torch.inf)).flatten()
        top = torch.topk(ranked, _selection_size(kl_cov_ratio, mask)).indices
        penalised = torch.zeros(logp.numel(), device=logp.device)
        penalised[top] = 1.0
        penalised = penalised.view_as(logp)                                   # (B, C)
    loss = masked_mean(-adv * ratio + kl_cov_coef * log_ratio.abs() * penalised, mask)
    with torch.no_grad():
        stats = {
            "approx_kl": masked_mean(ratio - 1.0 - log_ratio, mask),
            "ratio_mean": masked_mean(ratio, mask),
            "clipfrac": torch.zeros((), device=logp.device),
            "kl_cov_frac": masked_mean(penalised, mask),
            "kl_cov_abs_kl": masked_mean(log_ratio.abs(), mask),
            "cov_mean": masked_mean(cov, mask),
        }
    return loss, stats


def _clip_loss(logp, old_logp, advantages, mask, cfg, generator=None):
    return clipped_policy_loss(logp, old_logp, advantages, mask, cfg.clip_low, cfg.clip_high)


def _clip_cov_loss(logp, old_logp, advantages, mask, cfg, generator=None):
    return clip_cov_policy_loss(logp, old_logp, advantages, mask, cfg.clip_low, cfg.clip_high,
                                cfg.clip_cov_ratio, cfg.clip_cov_low, cfg.clip_cov_high,
                                generator)


def _kl_cov_loss(logp, old_logp, advantages, mask, cfg, generator=None):
    return kl_cov_policy_loss(logp, old_logp, advantages, mask, cfg.kl_cov_ratio,
                              cfg.kl_cov_coef)


#: `policy_loss` config value -> fn(logp, old_logp, advantages, mask, cfg, generator=None)
#: returning (loss, stats); `cfg` is read for clip_low/high, clip_cov_*, kl_cov_*.
POLICY_LOSSES = {"clip": _clip_loss, "clip_cov": _clip_cov_loss, "kl_cov": _kl_cov_loss}


def surrogate(cfg):
    """The policy surrogate `cfg.policy_loss` names, as `policy_objective` takes it."""
    loss = POLICY_LOSSES[cfg.policy_loss]
    return lambda logp, old_logp, advantages, mask: loss(logp, old_logp, advantages, mask, cfg)
