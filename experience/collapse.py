"""Entropy-collapse diagnostics: the fit R = -a·exp(H) + b, Cov(log π, A), parameter change.

Cui et al. 2025 ("The Entropy Mechanism of Reinforcement Learning for Reasoning
Language Models") find that under policy gradient the policy's entropy H falls while
success R rises along R = -a·exp(H) + b, so that b - a is the success the run can
reach once entropy is spent, and that the entropy change is driven by the covariance
of a token's log-probability and its advantage, concentrated in a few tokens.

    fit = fit_collapse(entropies, successes, episodes=32)   # one point per RL iteration
    tracker.log(fit.to_metrics(), step=it, stage="rl/il")   # collapse/ok, a, b, ceiling, ...
    fit.reason                                              # why there is no fit, if none
    logprob_advantage_covariance_stats(logp, adv, mask)     # logp_adv_cov, .../top
    parameter_change(before, after).to_metrics()            # params/changed[/<layer type>]

A fit is refused, with the reason, rather than shown when it cannot mean anything:
fewer than `MIN_FIT_POINTS` points, or an entropy or success series whose spread is
not larger than its noise (e.g. success 0 throughout: any `a = 0, b = 0` "fits"
perfectly and says nothing).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

#: Fewer (entropy, success) points than this give no fit: two parameters need spare points.
MIN_FIT_POINTS = 4
#: Entropy differences below this many nats are not read as a trend (the float32 mean of
#: per-token entropies over a few hundred tokens already wobbles at 1e-4).
ENTROPY_RESOLUTION = 1e-3
#: Success differences below this are not read as a trend.
SUCCESS_RESOLUTION = 1e-9


# --- the collapse fit -------------------------------------------------------------------
@dataclass
class CollapseFit:
    """R = -a·exp(H) + b fitted to (entropy H, success R) points; `ok` False says why not.

    `holdout_rmse` is Cui et al.'s prediction check: the fit on the first half of the
    points predicting the second half (None with `holdout_reason` when that half-fit is
    refused itself)."""

    ok: bool
    n: int
    a: float | None = None
    b: float | None = None
    ceiling: float | None = None   # b - a: the success predicted when entropy is exhausted
    rmse: float | None = None
    r2: float | None = None
    reason: str | None = None
    holdout_n: int = 0             # points predicted by the first-half fit
    holdout_rmse: float | None = None
    holdout_reason: str | None = None

    def predict(self, entropy):
        """R̂(H) = -a·exp(H) + b."""
        if not self.ok:
            raise ValueError(f"no fit to predict with: {self.reason}")
        return -self.a * np.exp(np.asarray(entropy, dtype=np.float64)) + self.b

    def to_metrics(self) -> dict[str, float]:
        """Loggable scalars: `collapse/ok` (1 or 0) and `collapse/n` always; with a fit
        `collapse/{a,b,ceiling,rmse,r2}`; with a prediction check `collapse/holdout_rmse`
        and `collapse/holdout_n`. The reason of a refusal is text: read `reason`."""
        out = {"collapse/ok": float(self.ok), "collapse/n": float(self.n)}
        if self.ok:
            out.update({f"collapse/{k}": float(v) for k, v in asdict(self).items()
                        if k in ("a", "b", "ceiling", "rmse", "r2")})
        if self.holdout_rmse is not None:
            out["collapse/holdout_rmse"] = float(self.holdout_rmse)
            out["collapse/holdout_n"] = float(self.holdout_n)
        return out


def series_noise(values: np.ndarray, standard_errors=None) -> float:
    """Noise level σ of a series of per-iteration estimates.

    With `standard_errors` (one per point): their root mean square. Otherwise the
    second-difference estimate σ̂² = mean((x_{i+2} - 2x_{i+1} + x_i)²) / 6, which a
    linear trend does not inflate (white noise of variance σ² gives 6σ² per
    second difference). 0.0 for fewer than 3 points.
    """
    if standard_errors is not None:
        se = np.asarray(standard_errors, dtype=np.float64).ravel()
        return float(np.sqrt(np.mean(se ** 2))) if se.size else 0.0
    x = np.asarray(values, dtype=np.float64).ravel()
    return float(np.sqrt(np.mean(np.diff(x, 2) ** 2) / 6)) if x.size >= 3 else 0.0


def _spread_problem(name: str, unit: str, x: np.ndarray, noise: float,
                    resolution: float) -> str | None:
    """Why `x` cannot anchor a fit (no spread beyond its noise), or None when it can."""
    span = float(np.ptp(x))
    if span <= resolution:
        if span == 0:
            return f"{name} does not vary (all {x[0]:.4g}{unit})"
        return (f"{name} spans only {span:.2g}{unit}, below the {resolution:g}{unit} "
                "resolution of its estimate")
    spread = float(np.std(x, ddof=1))
    if spread <= noise:
        return (f"{name} varies by {spread:.3g}{unit} (std over points), not more than its "
                f"noise {noise:.3g}{unit}")
    return None


def fit_collapse(entropies: Sequence[float], successes: Sequence[float], *,
                 episodes: int | Sequence[int] | None = None,
                 entropy_se: Sequence[float] | None = None,
                 success_se: Sequence[float] | None = None,
                 min_points: int = MIN_FIT_POINTS, holdout: bool = True) -> CollapseFit:
    """Least-squares fit of R = -a·exp(H) + b (Cui et al., 2025) over a run's points.

    R is linear in x = exp(H), so ordinary least squares on x gives a and b exactly:
        slope = Σ (x - x̄)(R - R̄) / Σ (x - x̄)²,  a = -slope,  b = R̄ - slope·x̄,
        ceiling = b - a (H -> 0),  RMSE = sqrt(mean (R - R̂)²),  R² = 1 - SS_res / SS_tot.

    Non-finite points are dropped. Refused (`ok=False`, `reason` says why) with fewer
    than `min_points` points, or when H or R has no spread beyond its noise: a span
    under `ENTROPY_RESOLUTION` nats (resp. `SUCCESS_RESOLUTION`), or a standard
    deviation over the points not above the noise level — `entropy_se`, else the
    second-difference estimate of `series_noise` for H; `success_se`, else the
    binomial error of `episodes` per point, else `series_noise` for R.

    With `holdout`, the prediction check: the same fit on the first ⌊n/2⌋ points,
    its RMSE predicting the remaining ones (`holdout_rmse`, or `holdout_reason`).
    """
    h = np.asarray(entropies, dtype=np.float64).ravel()
    r = np.asarray(successes, dtype=np.float64).ravel()
    if h.shape != r.shape:
        raise ValueError(f"need one success per entropy, got {h.size} entropies and "
                         f"{r.size} successes")
    keep = np.isfinite(h) & np.isfinite(r)
    h_se = None if entropy_se is None else np.asarray(entropy_se, dtype=np.float64)[keep]
    r_se = None if success_se is None else np.asarray(success_se, dtype=np.float64)[keep]
    if r_se is None and episodes is not None:
        per_point = np.broadcast_to(np.asarray(episodes, dtype=np.float64), keep.shape)[keep]
        r_se = np.sqrt(np.clip(r[keep] * (1 - r[keep]), 0, None) / np.maximum(per_point, 1))
    fit = _fit(h[keep], r[keep], h_se, r_se, min_points)
    if not holdout or not fit.ok:
        return fit
    half = fit.n // 2
    first = _fit(h[keep][:half], r[keep][:half], None if h_se is None else h_se[:half],
                 None if r_se is None else r_se[:half], min_points)
    if not first.ok:
        fit.holdout_reason = f"the first {half} points give no fit: {first.reason}"
        return fit
    predicted = first.predict(h[keep][half:])
    fit.holdout_n = int(predicted.size)
    fit.holdout_rmse = float(np.sqrt(np.mean((r[keep][half:] - predicted) ** 2)))
    return fit


def _fit(h: np.ndarray, r: np.ndarray, h_se, r_se, min_points: int) -> CollapseFit:
    n = int(h.size)
    if n < min_points:
        return CollapseFit(False, n, reason=f"needs at least {min_points} (entropy, success) "
                                            f"points, got {n}")
    problems = [_spread_problem("entropy", " nats", h, series_noise(h, h_se),
                                ENTROPY_RESOLUTION),
                _spread_problem("success", "", r, series_noise(r, r_se), SUCCESS_RESOLUTION)]
    problems = [p for p in problems if p]
    if problems:
        return CollapseFit(False, n, reason="; ".join(problems) + ": a and b are not "
                                            "identifiable")
    x = np.exp(h)
    slope = float(((x - x.mean()) * (r - r.mean())).sum() / ((x - x.mean()) ** 2).sum())
    a, b = -slope, float(r.mean()) - slope * float(x.mean())
    resid = r - (b + slope * x)
    ss_res, ss_tot = float((resid ** 2).sum()), float(((r - r.mean()) ** 2).sum())
    return CollapseFit(True, n, a, b, b - a, math.sqrt(ss_res / n), 1.0 - ss_res / ss_tot)


# --- covariance of log-probability and advantage --------------------------------------------
def _float64(x) -> torch.Tensor:
    x = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return x.to(torch.float64)


def _centred_products(logprobs, advantages, mask) -> torch.Tensor:
    """The per-token terms (log π_t - mean log π)(A_t - mean A) of the kept tokens, flat."""
    lp, adv = _float64(logprobs), _float64(advantages)
    if adv.dim() == lp.dim() - 1:
        adv = adv.unsqueeze(-1)
    adv = adv.to(lp.device).expand_as(lp)
    m = torch.ones_like(lp) if mask is None else _float64(mask).to(lp.device).expand_as(lp)
    keep = m > 0
    lp, adv = lp[keep], adv[keep]
    return (lp - lp.mean()) * (adv - adv.mean())


def logprob_advantage_covariance(logprobs, advantages, mask=None) -> float:
    """Covariance of token log-prob and advantage over the tokens of one update.

        Cov = 1/N Σ_t (log π_t - mean log π)(A_t - mean A),  N = Σ_t m_t

    The driver of entropy dynamics under policy gradient: a positive covariance
    (confident tokens get positive advantage) lowers the entropy. `logprobs` [B, T];
    `advantages` [B, T] or per sequence [B] (broadcast over tokens); `mask` [B, T]
    (0/1). 0.0 for fewer than two tokens.
    """
    terms = _centred_products(logprobs, advantages, mask)
    return float(terms.mean()) if terms.numel() >= 2 else 0.0


def logprob_advantage_covariance_stats(logprobs, advantages, mask=None,
                                       top_fraction: float = 0.002) -> dict[str, float]:
    """The covariance and its concentration, as Cui et al. (2025) read it.

        c_t = (log π_t - mean log π)(A_t - mean A)                    per kept token
        logp_adv_cov      = mean_t c_t                                  (the covariance)
        logp_adv_cov/top  = mean of the k = max(1, ⌊q·N⌋) largest c_t   (q = top_fraction)
        logp_adv_cov/top_share = Σ top c_t / Σ_t |c_t|

    The top tokens are the ones KL-Cov penalises and Clip-Cov draws from: a top mean far
    above the mean says a handful of tokens drive the entropy change. All 0.0 for fewer
    than two tokens.
    """
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    terms = _centred_products(logprobs, advantages, mask)
    if terms.numel() < 2:
        return {"logp_adv_cov": 0.0, "logp_adv_cov/top": 0.0, "logp_adv_cov/top_share": 0.0}
    k = max(1, int(top_fraction * terms.numel()))
    top = torch.topk(terms, k).values
    total = float(terms.abs().sum())
    return {"logp_adv_cov": float(terms.mean()), "logp_adv_cov/top": float(top.mean()),
            "logp_adv_cov/top_share": float(top.sum()) / total if total > 0 else 0.0}


# --- parameters an RL run changed ------------------------------------------------------
LAYER_TYPES = ("embedding", "attention", "mlp", "norm", "head", "other")
_LAYER_PATTERNS = (  # first match wins; Llama-style names (also under peft/DDP prefixes)
    ("embedding", re.compile(r"embed_tokens|wte|wpe|embed_positions|\.embeddings?\.")),
    ("norm", re.compile(r"norm|\.ln_")),
    ("attention", re.compile(r"self_attn|attention|\.attn\.|[qkvo]_proj")),
    ("mlp", re.compile(r"\.mlp\.|gate_proj|up_proj|down_proj|feed_forward|\.ffn?\.")),
    ("head", re.compile(r"lm_head|v_head|value_head|score|(^|\.)head\.")),
)


def layer_type(name: str) -> str:
    """Layer type of a parameter name: embedding, attention, mlp, norm, head or other."""
    return next((kind for kind, pattern in _LAYER_PATTERNS if pattern.search(name)), "other")


@dataclass
class ParameterChange:
    """How many parameter entries changed: overall and per layer type."""

    changed: int
    total: int
    by_type: dict[str, tuple[int, int]]   # type -> (changed, total)

    @property
    def fraction(self) -> float:
        return self.changed / self.total if self.total else 0.0

    def to_metrics(self) -> dict[str, float]:
        """`params/changed` and `params/changed/<type>` as fractions in [0, 1]."""
        out = {"params/changed": self.fraction}
        out.update({f"params/changed/{k}": c / t for k, (c, t) in self.by_type.items() if t})
        return out


def parameter_change(before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor],
                     rtol: float = 1e-5, atol: float = 1e-8) -> ParameterChange:
    """Count entries with |after - before| > atol + rtol·|before| (torch.isclose's rule).

    Both state dicts must hold the same names and shapes (compare the warm-start
    checkpoint with the RL checkpoint of the same model; floating-point entries only).
    """
    missing, extra = sorted(set(before) - set(after)), sorted(set(after) - set(before))
    if missing or extra:
        raise ValueError(f"state dicts differ in names: only before {missing[:5]}, only after "
                         f"{extra[:5]}; compare checkpoints of the same architecture")
    by_type = {kind: [0, 0] for kind in LAYER_TYPES}
    for name, b in before.items():
        a = after[name]
        if not torch.is_floating_point(b):
            continue
        if a.shape != b.shape:
            raise ValueError(f"parameter {name!r} has shape {tuple(b.shape)} before and "
                             f"{tuple(a.shape)} after")
        b32, a32 = b.detach().float(), a.detach().to(b.device).float()
        changed = int(((a32 - b32).abs() > atol + rtol * b32.abs()).sum())
        counts = by_type[layer_type(name)]
        counts[0] += changed
        counts[1] += b.numel()
    total = sum(t for _, t in by_type.values())
    return ParameterChange(sum(c for c, _ in by_type.values()), total,
                           {k: (c, t) for k, (c, t) in by_type.items() if t})
