"""Behavioural-diversity metrics: pure functions over trajectories and token statistics.

Inputs are plain Python. An *episode* is the list of its action strings; a *group*
is the list of episodes that started from the same task and seed (the GRPO group).
Actions are compared after `canonical_action` (strip, lowercase, collapse
whitespace). Entropies are in nats. Every function handles empty input, a single
sample and all-identical samples without NaN: an empty set has no diversity (0.0),
identical trajectories have entropy 0 and a Vendi score of 1.

`diversity_metrics(groups, successes)` computes the trajectory-level metrics of one
RL iteration or evaluation at once, under the key names of `METRICS`, which the
Tracker logs and the report reads.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import sparse

Episode = Sequence[str]
Group = Sequence[Episode]

# key -> (axis label with unit, meaning); the contract between RL / evaluation and the report.
METRICS: dict[str, tuple[str, str]] = {
    "success": ("success rate (fraction)", "mean episode success"),
    "entropy": ("token entropy (nats/token)", "mean entropy of generated action tokens"),
    "action_entropy": ("action entropy (nats)", "entropy of the next action at shared states"),
    "first_action_entropy": ("action entropy (nats)", "entropy of the first action per group"),
    "unique_trajectory_ratio": ("unique / total", "distinct action sequences per group"),
    "distinct_1": ("distinct / total", "distinct actions over all actions"),
    "distinct_2": ("distinct / total", "distinct action bigrams over all bigrams"),
    "vendi": ("Vendi score (effective # trajectories)", "mean per-group Vendi score"),
    "unique_query_ratio": ("unique / total", "distinct search queries per group"),
    "search_calls_per_episode": ("calls / episode", "search calls per episode"),
    "logp_adv_cov": ("covariance (nats)", "Cov(log pi, A) over the tokens of an update"),
}
# pass@k is logged as f"pass@{k}", the fit as "collapse/<field>", parameter change
# as "params/changed" and "params/changed/<layer type>".

_SPACE = re.compile(r"\s+")
_SEARCH_TAG = re.compile(r"<search>(.*?)</search>", re.DOTALL | re.IGNORECASE)
_SEARCH_BRACKET = re.compile(r"^search\[(.*)\]$", re.DOTALL)


def canonical_action(action: str) -> str:
    """`action` stripped, lowercased, with every run of whitespace collapsed to one space."""
    return _SPACE.sub(" ", action.strip().lower())


def canonical_episode(episode: Episode) -> tuple[str, ...]:
    """The episode as a hashable tuple of canonical actions."""
    return tuple(canonical_action(a) for a in episode)


def _entropy_of_counts(counts: Iterable[int]) -> float:
    """H = -Σ_i p_i log p_i with p_i = c_i / Σ c (nats); 0 for no or one outcome."""
    c = np.asarray([x for x in counts if x > 0], dtype=np.float64)
    if c.size <= 1:
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log(p)).sum())


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


# --- token level --------------------------------------------------------------
def token_entropy_from_logits(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy of the next-token distribution at each position: [..., V] -> [...] (nats).

        p_t = softmax(z_t / τ),   H_t = -Σ_v p_tv log p_tv

    Computed in float32; masked vocabulary entries (logit -inf) count as p = 0. Pass
    the sampling temperature τ to measure the distribution actions were drawn from.
    Memory is a few copies of `logits`; chunk over the batch for very large vocabularies.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 to define a distribution, got {temperature}")
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    p = logp.exp()
    return -torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(dim=-1)


def mean_token_entropy(entropies, mask: torch.Tensor | None = None) -> float:
    """Token-weighted mean entropy  H̄ = Σ_t m_t H_t / Σ_t m_t  (0.0 when no token counts).

    `entropies`: a tensor (any shape, with an optional 0/1 `mask` of the same shape,
    e.g. the completion mask), a flat sequence of floats, or one sequence per action.
    """
    if isinstance(entropies, torch.Tensor):
        e = entropies.detach().float()
        m = torch.ones_like(e) if mask is None else mask.detach().float().expand_as(e)
        total = float(m.sum())
        return float((e * m).sum()) / total if total > 0 else 0.0
    flat = [float(x) for item in entropies
            for x in (item if isinstance(item, (list, tuple, np.ndarray)) else [item])]
    return _mean(flat)


def sampled_token_entropy(logprobs: Sequence[float] | Sequence[Sequence[float]]) -> float:
    """Monte-Carlo entropy estimate from the log-probs of sampled tokens: Ĥ = -mean_t log p(x_t).

    Unbiased for the entropy of the sampling distribution when `logprobs` are taken under
    it (at the sampling temperature), as `Generation.logprobs` are; use it where the
    backend (vLLM) returns no logits. 0.0 for no tokens.
    """
    return -mean_token_entropy(logprobs) if len(logprobs) else 0.0


def _float64(x) -> torch.Tensor:
    x = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    return x.to(torch.float64)


def logprob_advantage_covariance(logprobs, advantages, mask=None) -> float:
    """Covariance of token log-prob and advantage over the tokens of one update.

        Cov = 1/N Σ_t (log π_t - mean log π)(A_t - mean A),  N = Σ_t m_t

    The driver of entropy dynamics under policy gradient: a positive covariance
    (confident tokens get positive advantage) lowers the entropy. `logprobs` [B, T];
    `advantages` [B, T] or per sequence [B] (broadcast over tokens); `mask` [B, T].
    0.0 for fewer than two tokens.
    """
    lp, adv = _float64(logprobs), _float64(advantages)
    if adv.dim() == lp.dim() - 1:
        adv = adv.unsqueeze(-1)
    adv = adv.to(lp.device).expand_as(lp)
    m = torch.ones_like(lp) if mask is None else _float64(mask).to(lp.device).expand_as(lp)
    n = float(m.sum())
    if n < 2:
        return 0.0
    lp_c = lp - (lp * m).sum() / n
    adv_c = adv - (adv * m).sum() / n
    return float((m * lp_c * adv_c).sum() / n)


# --- action and trajectory level ----------------------------------------------
def action_entropy(actions: Sequence[str]) -> float:
    """Entropy of the empirical distribution of canonical actions: H = -Σ_a p̂(a) log p̂(a)."""
    return _entropy_of_counts(Counter(canonical_action(a) for a in actions).values())


def shared_state_action_entropy(group: Group, min_visits: int = 2) -> float:
    """Mean next-action entropy over the states that several rollouts of a group share.

    Rollouts of one task and seed are in the same state while their canonical action
    prefixes agree (environments are deterministic given task and seed), so the
    shared states are the nodes of the group's prefix tree: the first turn and every
    branching state. For each node s visited by n_s >= `min_visits` rollouts that act
    there,
        H(s) = -Σ_a p̂(a|s) log p̂(a|s),   result = Σ_s n_s H(s) / Σ_s n_s.
    """
    next_actions: dict[tuple[str, ...], Counter] = {}
    for episode in group:
        canon = canonical_episode(episode)
        for t, action in enumerate(canon):
            next_actions.setdefault(canon[:t], Counter())[action] += 1
    visited = [(sum(c.values()), _entropy_of_counts(c.values())) for c in next_actions.values()]
    visited = [(n, h) for n, h in visited if n >= min_visits]
    total = sum(n for n, _ in visited)
    return sum(n * h for n, h in visited) / total if total else 0.0


def first_action_entropy(group: Group) -> float:
    """Entropy of the first actions of a group's rollouts (the root of its prefix tree)."""
    return action_entropy([episode[0] for episode in group if len(episode)])


def unique_trajectory_ratio(group: Group) -> float:
    """|{canonical action sequences}| / |group|: 1/n when all n agree, 1 when all differ."""
    return len({canonical_episode(e) for e in group}) / len(group) if len(group) else 0.0


def _units(episode: Episode, unit: str) -> list[str]:
    actions = canonical_episode(episode)
    if unit == "action":
        return list(actions)
    if unit == "word":
        return [w for a in actions for w in a.split(" ") if w]
    raise ValueError(f"unit must be 'action' or 'word', got {unit!r}")


def _ngrams(units: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]


def distinct_n(episodes: Sequence[Episode], n: int, unit: str = "action") -> float:
    """distinct-n = |distinct n-grams| / |n-grams|, n-grams taken within each episode.

    The unit is a canonical action (default) or a word of the actions (for open,
    free-text action spaces). 0.0 when no episode has n units.
    """
    if n < 1:
        raise ValueError(f"distinct-n needs n >= 1, got {n}")
    grams = [g for e in episodes for g in _ngrams(_units(e, unit), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


# --- Vendi score --------------------------------------------------------------
def _vendi_from_weighted_rows(y) -> float:
    """exp(H(λ)) for λ = the eigenvalues of Y Yᵀ (= those of K/n, see `vendi_score`)."""
    gram = y @ y.T if sparse.issparse(y) or y.shape[0] <= y.shape[1] else y.T @ y
    gram = gram.toarray() if sparse.issparse(gram) else np.asarray(gram)
    lam = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    lam = lam / lam.sum()
    lam = lam[lam > 1e-12]
    return float(np.exp(-(lam * np.log(lam)).sum()))


def vendi_score_from_kernel(kernel: np.ndarray) -> float:
    """Vendi score of a PSD similarity matrix K (n x n, unit diagonal):

        VS(K) = exp(-Σ_i λ_i log λ_i),  λ_i the eigenvalues of K / n.

    The effective number of distinct items: 1 when all items are identical
    (K = 11ᵀ), n when all are orthogonal (K = I). 0.0 for an empty matrix.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"the similarity matrix must be square, got shape {k.shape}")
    if k.shape[0] == 0:
        return 0.0
    if not np.allclose(np.diag(k), 1.0, atol=1e-6) or not np.allclose(k, k.T, atol=1e-6):
        raise ValueError("the similarity matrix must be symmetric with a unit diagonal "
                         "(normalise it: K_ij / sqrt(K_ii K_jj))")
    lam = np.clip(np.linalg.eigvalsh(k / k.shape[0]), 0.0, None)
    lam = lam[lam > 1e-12] / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def ngram_features(episodes: Sequence[Episode], orders: Sequence[int] = (1, 2),
                   unit: str = "action") -> sparse.csr_matrix:
    """Count vectors of each episode's n-grams (n in `orders`), rows L2-normalised.

    An episode is a bag of the n-grams of its unit sequence; an empty episode gets a
    single "<empty>" feature, so two empty episodes are identical and differ from any
    other. Row i · row j is the cosine similarity of episodes i and j.
    """
    vocab: dict[tuple, int] = {}
    rows, cols, vals = [], [], []
    for i, episode in enumerate(episodes):
        units = _units(episode, unit)
        counts = Counter((n, g) for n in orders for g in _ngrams(units, n))
        if not counts:
            counts = Counter({(0, ("<empty>",)): 1})
        norm = math.sqrt(sum(c * c for c in counts.values()))
        for feature, count in counts.items():
            rows.append(i)
            cols.append(vocab.setdefault(feature, len(vocab)))
            vals.append(count / norm)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(episodes), max(len(vocab), 1)))


def vendi_score(episodes: Sequence[Episode], embed: Callable[[list[str]], np.ndarray] | None = None,
                orders: Sequence[int] = (1, 2), unit: str = "action") -> float:
    """Vendi score of trajectories: exp of the Shannon entropy of the eigenvalues of K/n.

    Default kernel: K_ij = cosine similarity of the n-gram count vectors of episodes i and
    j (`ngram_features`). With `embed` (any callable texts -> [n, d] vectors) the kernel
    is the cosine similarity of the embeddings of the episodes' texts (canonical actions
    joined by " ; ").

    Computed without forming K: with X the unit-norm feature rows of the u distinct
    episodes and w their frequencies, K/n = P X Xᵀ Pᵀ / n shares its non-zero
    eigenvalues with Y Yᵀ, Y = diag(√w) X — a u x u (or d x d) problem, so a collapsed
    group costs almost nothing.
    """
    canon = Counter(canonical_episode(e) for e in episodes)
    if not canon:
        return 0.0
    unique = list(canon)
    w = np.sqrt(np.fromiter(canon.values(), dtype=np.float64) / len(episodes))
    if embed is None:
        return _vendi_from_weighted_rows(sparse.diags(w) @ ngram_features(unique, orders, unit))
    vectors = np.asarray(embed([" ; ".join(e) for e in unique]), dtype=np.float64)
    if vectors.shape[0] != len(unique):
        raise ValueError(f"embed returned {vectors.shape[0]} vectors for {len(unique)} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("embed returned a zero vector; cosine similarity is undefined for it")
    return _vendi_from_weighted_rows(w[:, None] * vectors / norms)


# --- pass@k and intervals -----------------------------------------------------
def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a success rate: (p̂ + z²/2n ± z·sqrt(p̂(1-p̂)/n +
    z²/4n²)) / (1 + z²/n). (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)



def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c successes (Chen et al., 2021):

        pass@k = 1 - C(n-c, k) / C(n, k) = 1 - Π_{i=n-c+1}^{n} (1 - k/i)

    the probability that a random k-subset of the n samples holds a success; the
    product form never forms the (huge) binomials.
    """
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= successes <= samples, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n samples per task, got n={n}; "
                         f"sample at least {k} rollouts per task or lower k")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def mean_pass_at_k(successes: Sequence[Sequence[bool]] | Mapping[str, Sequence[bool]],
                   k: int) -> float:
    """pass@k per task (one sequence of success flags per task), averaged over tasks."""
    per_task = successes.values() if isinstance(successes, Mapping) else successes
    return _mean([pass_at_k(len(s), int(sum(bool(x) for x in s)), k) for s in per_task])


# --- search environments ----------------------------------------------------------
def search_queries(action: str) -> list[str]:
    """Canonical queries of the search calls in an action: `<search>q</search>` (any
    number of them) or WebShop's `search[q]`."""
    text = action.strip()
    found = _SEARCH_TAG.findall(text) or _SEARCH_BRACKET.findall(text)
    return [canonical_action(q) for q in found]


def unique_query_ratio(group: Group) -> float:
    """|distinct queries| / |search calls| over a group's episodes (0.0 without searches)."""
    queries = [q for episode in group for a in episode for q in search_queries(a)]
    return len(set(queries)) / len(queries) if queries else 0.0


def search_calls_per_episode(episodes: Sequence[Episode]) -> float:
    """Mean number of search calls per episode (0.0 for no episodes)."""
    return _mean([sum(len(search_queries(a)) for a in e) for e in episodes])


# --- all at once -----------------------------------------------------------------
def diversity_metrics(groups: Sequence[Group], successes: Sequence[Sequence[bool]] | None = None,
                      ks: Sequence[int] = (), token_entropies=None, search: bool = False,
                      embed: Callable[[list[str]], np.ndarray] | None = None,
                      unit: str = "action") -> dict[str, float]:
    """Every trajectory-level metric of one iteration or evaluation, keyed as in `METRICS`.

    Group-level metrics (`action_entropy`, `first_action_entropy`,
    `unique_trajectory_ratio`, `vendi`, `unique_query_ratio`) are computed per group
    and averaged over the non-empty groups; `distinct_1/2` and
    `search_calls_per_episode` pool all episodes. With `successes` (flags parallel to
    `groups`): `success` and `pass@k` for each k in `ks`. With `token_entropies`
    (anything `mean_token_entropy` takes): `entropy`. With `search`: the search metrics.
    `unit="word"` makes distinct-n and the Vendi n-grams word-level (free-text actions).
    """
    groups = [g for g in groups if len(g)]
    episodes = [e for g in groups for e in g]
    out = {
        "action_entropy": _mean([shared_state_action_entropy(g) for g in groups]),
        "first_action_entropy": _mean([first_action_entropy(g) for g in groups]),
        "unique_trajectory_ratio": _mean([unique_trajectory_ratio(g) for g in groups]),
        "distinct_1": distinct_n(episodes, 1, unit),
        "distinct_2": distinct_n(episodes, 2, unit),
        "vendi": _mean([vendi_score(g, embed=embed, unit=unit) for g in groups]),
    }
    if successes is not None:
        flags = [s for s in successes if len(s)]
        if len(flags) != len(groups) or any(len(f) != len(g) for f, g in zip(flags, groups)):
            raise ValueError("successes must hold one flag per episode, parallel to groups")
        out["success"] = _mean([float(bool(x)) for f in flags for x in f])
        for k in ks:
            out[f"pass@{k}"] = mean_pass_at_k(flags, k)
    if token_entropies is not None:
        out["entropy"] = mean_token_entropy(token_entropies)
    if search:
        with_queries = [g for g in groups if any(search_queries(a) for e in g for a in e)]
        out["unique_query_ratio"] = _mean([unique_query_ratio(g) for g in with_queries])
        out["search_calls_per_episode"] = search_calls_per_episode(episodes)
    return out


# --- the collapse fit ---------------------------------------------------------------
@dataclass
class CollapseFit:
    """R = -a·exp(H) + b fitted to (entropy H, success R) points; `ok` False says why not."""

    ok: bool
    n: int
    a: float | None = None
    b: float | None = None
    ceiling: float | None = None   # b - a: the success predicted when entropy is exhausted
    rmse: float | None = None
    r2: float | None = None
    reason: str | None = None

    def predict(self, entropy):
        """R̂(H) = -a·exp(H) + b."""
        if not self.ok:
            raise ValueError(f"no fit to predict with: {self.reason}")
        return -self.a * np.exp(np.asarray(entropy, dtype=np.float64)) + self.b

    def to_metrics(self) -> dict[str, float]:
        """The fit as loggable scalars `collapse/{a,b,ceiling,rmse,r2,n}` (empty if not ok)."""
        if not self.ok:
            return {}
        return {f"collapse/{k}": float(v) for k, v in asdict(self).items()
                if k in ("a", "b", "ceiling", "rmse", "r2", "n")}


def fit_collapse(entropies: Sequence[float], successes: Sequence[float]) -> CollapseFit:
    """Least-squares fit of R = -a·exp(H) + b (Cui et al., 2025) over a run's points.

    R is linear in x = exp(H), so ordinary least squares on x gives a and b exactly:
        slope = Σ (x - x̄)(R - R̄) / Σ (x - x̄)²,  a = -slope,  b = R̄ - slope·x̄,
        ceiling = b - a (H -> 0),  RMSE = sqrt(mean (R - R̂)²),  R² = 1 - SS_res / SS_tot
    (R² = 1 when every R is equal and fitted exactly). Non-finite points are dropped;
    with fewer than 3 points or no spread in H the result says so instead of fitting.
    """
    h = np.asarray(entropies, dtype=np.float64).ravel()
    r = np.asarray(successes, dtype=np.float64).ravel()
    if h.shape != r.shape:
        raise ValueError(f"need one success per entropy, got {h.size} entropies and "
                         f"{r.size} successes")
    keep = np.isfinite(h) & np.isfinite(r)
    h, r = h[keep], r[keep]
    if h.size < 3:
        return CollapseFit(False, int(h.size), reason=f"needs at least 3 (entropy, success) "
                                                      f"points, got {h.size}")
    x = np.exp(h)
    sxx = float(((x - x.mean()) ** 2).sum())
    if sxx <= 1e-12 * max(1.0, float((x ** 2).sum())):
        return CollapseFit(False, int(h.size), reason=f"entropy does not vary (all {h[0]:.4g} "
                                                      "nats), so a and b are not identifiable")
    slope = float(((x - x.mean()) * (r - r.mean())).sum()) / sxx
    a, b = -slope, float(r.mean()) - slope * float(x.mean())
    resid = r - (b + slope * x)
    ss_res, ss_tot = float((resid ** 2).sum()), float(((r - r.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 1e-24 * max(1.0, float((r ** 2).sum())) else 1.0
    return CollapseFit(True, int(h.size), a, b, b - a, math.sqrt(ss_res / h.size), r2)


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
