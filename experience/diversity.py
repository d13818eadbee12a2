"""Behavioural-diversity metrics: pure functions over trajectories and token statistics.

Inputs are plain Python. An *episode* is the list of its action strings; a *group*
is the list of episodes that started from the same task and seed (the GRPO group).
Actions are compared after `canonical_action` (strip, lowercase, collapse
whitespace). Entropies are in nats. Every function handles empty input, a single
sample and all-identical samples without NaN: an empty set has no diversity (0.0),
identical trajectories have entropy 0 and a Vendi score of 1.

Entry points, under the key names of `METRICS` (the contract with the Tracker and
the report):

    diversity_metrics(groups, successes, ks=pass_k_ladder(group_size),
                      search_query=env.search_query, template=env.action_template,
                      goals=[question per group])          # one iteration or evaluation
    policy_entropy(decisions, temperature)                  # the acting policy's entropy
    reasoning_action_entropy(pieces_and_entropies)          # planning vs execution tokens

The search metrics live in `search_metrics`, the collapse fit, Cov(log π, A) and
parameter change in `collapse` (re-exported here).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from scipy import sparse

from earlyexp.experience.collapse import (  # noqa: F401  (re-exported)
    LAYER_TYPES, CollapseFit, ParameterChange, fit_collapse, layer_type,
    logprob_advantage_covariance, logprob_advantage_covariance_stats, parameter_change,
)

Episode = Sequence[str]
Group = Sequence[Episode]
Template = Callable[[str], str]

# key -> (axis label with unit, meaning); the contract between RL / evaluation and the report.
METRICS: dict[str, tuple[str, str]] = {
    "success": ("success rate (fraction)", "mean episode success"),
    "policy_entropy": ("entropy (nats)", "entropy of the acting policy: per candidate choice "
                       "in rank mode, per token (tempered) in generate mode"),
    "entropy": ("token entropy (nats/token)", "mean entropy of generated action tokens"),
    "action_entropy": ("action entropy (nats)", "entropy of the next action at shared states"),
    "first_action_entropy": ("action entropy (nats)", "entropy of the first action per group"),
    "template_entropy": ("template entropy (nats)", "entropy of actions with arguments masked"),
    "reasoning_token_entropy": ("token entropy (nats/token)", "tokens before 'Action:'"),
    "action_token_entropy": ("token entropy (nats/token)", "tokens after 'Action:'"),
    "reasoning_token_fraction": ("fraction of tokens", "completion tokens before 'Action:'"),
    "unique_trajectory_ratio": ("unique / total", "distinct action sequences per group"),
    "distinct_1": ("distinct / total", "distinct actions over all actions"),
    "distinct_2": ("distinct / total", "distinct action bigrams over all bigrams"),
    "vendi": ("Vendi score (effective # trajectories)", "mean per-group Vendi score"),
    "search_calls_per_episode": ("calls / episode", "search calls per episode"),
    "unique_query_ratio": ("unique / total", "distinct search queries per group"),
    "query_distinct_1": ("distinct / total", "distinct query words over all query words"),
    "query_distinct_2": ("distinct / total", "distinct query word bigrams over all bigrams"),
    "query_vendi": ("Vendi score (effective # queries)", "mean per-group Vendi score of queries"),
    "query_question_overlap": ("fraction of query words", "query words found in the question"),
    "answer_after_search_rate": ("fraction of episodes",
                                 "episodes that searched, then ended on a non-search action"),
    "logp_adv_cov": ("covariance (nats)", "Cov(log pi, A) over the tokens of an update"),
    "logp_adv_cov/top": ("covariance (nats)", "mean of the top-fraction per-token terms"),
}
#: The keys `search_metrics.search_metrics` returns (logged when the env declares searches).
SEARCH_KEYS = ("search_calls_per_episode", "unique_query_ratio", "query_distinct_1",
               "query_distinct_2", "query_vendi", "query_question_overlap",
               "answer_after_search_rate")
# pass@k is logged as f"pass@{k}", the fit as "collapse/<field>", parameter change
# as "params/changed" and "params/changed/<layer type>".

_SPACE = re.compile(r"\s+")


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


def _categorical_entropy(scores: Sequence[float], temperature: float) -> float:
    """H(softmax(scores / T)) in nats; 0 for T <= 0 (the argmax is a deterministic choice)."""
    if temperature <= 0 or len(scores) < 2:
        return 0.0
    logp = torch.log_softmax(torch.as_tensor(scores, dtype=torch.float64) / temperature, 0)
    return float(-(logp.exp() * logp).sum())


def policy_entropy(decisions: Iterable, temperature: float) -> dict[str, float]:
    """Entropy of the policy that acted, from the `Decision`s it returned (nats).

    Rank mode (a decision with `scores`): the policy is the categorical
    softmax(scores / T) over the candidates, and its entropy is taken from
    `decision.entropies[0]` or recomputed from the scores. Generate mode: the
    per-token entropies of the tempered next-token distribution (`decision.entropies`),
    or, where the backend gave none, the Monte-Carlo estimate -log p(x_t) of the sampled
    tokens (unbiased when `logprobs` are tempered, as the Policy contract says; skipped
    at T = 0, where greedy tokens estimate nothing). At T = 0 the acting policy is
    deterministic: its entropy is 0.

    Returns `policy_entropy/choice` (mean over ranked decisions) and/or
    `policy_entropy/token` (mean over generated tokens), whichever occurred, and
    `policy_entropy`: the choice entropy where any decision was ranked, else the token one.
    """
    choices, tokens = [], []
    for d in decisions:
        given = list(getattr(d, "entropies", None) or [])
        if getattr(d, "scores", None):
            choices.append(given[0] if given else _categorical_entropy(d.scores, temperature))
        elif temperature <= 0:
            tokens += [0.0] * len(d.token_ids or d.logprobs)
        elif given:
            tokens += [float(h) for h in given]
        else:
            tokens += [-float(lp) for lp in d.logprobs]
    out = {}
    if choices:
        out["policy_entropy/choice"] = _mean(choices)
    if tokens:
        out["policy_entropy/token"] = _mean(tokens)
    if out:
        out["policy_entropy"] = out.get("policy_entropy/choice", out.get("policy_entropy/token"))
    return out


ACTION_MARKER = "Action:"   # agents.prompts.ACTION_TAG: a completion's action follows it


def token_pieces(tokenizer, token_ids: Sequence[int]) -> list[str]:
    """The text each token adds to the decoded completion, in order; their concatenation
    is exactly the decoded text. Piece i ends where the decoding of the first i + 1
    tokens ends, which stays right for byte-level BPE and SentencePiece alike."""
    ids = list(token_ids)
    full = tokenizer.decode(ids, skip_special_tokens=True)
    pieces, start = [], 0
    for i in range(len(ids)):
        end = len(full) if i == len(ids) - 1 else min(
            len(full), len(tokenizer.decode(ids[:i + 1], skip_special_tokens=True)))
        pieces.append(full[start:max(start, end)])
        start = max(start, end)
    return pieces


def split_at_action(pieces: Sequence[str], values: Sequence[float],
                    marker: str = ACTION_MARKER) -> tuple[list[float], list[float]]:
    """Split per-token `values` into (reasoning, action) at the last `marker`.

    Token i covers characters [o_i, o_i + len(piece_i)) of "".join(pieces). An action
    token starts at or after the end of the last marker; every earlier token (the
    reasoning and the marker itself) is a reasoning token. Without a marker the whole
    completion is the action (the prompt asked for the action directly)."""
    if len(pieces) != len(values):
        raise ValueError(f"need one value per token piece, got {len(values)} values for "
                         f"{len(pieces)} pieces")
    text = "".join(pieces)
    cut = text.rfind(marker)
    if cut < 0:
        return [], [float(v) for v in values]
    action_starts, reasoning, action, offset = cut + len(marker), [], [], 0
    for piece, value in zip(pieces, values):
        (action if offset >= action_starts else reasoning).append(float(value))
        offset += len(piece)
    return reasoning, action


def reasoning_action_entropy(completions: Iterable[tuple[Sequence[str], Sequence[float]]],
                             marker: str = ACTION_MARKER) -> dict[str, float]:
    """Token entropy of planning vs execution over many completions.

    `completions`: (token pieces, per-token entropies) per completion (`token_pieces`
    turns ids into pieces). Returns the token-weighted means `reasoning_token_entropy`
    (tokens up to and including the last `marker`) and `action_token_entropy` (tokens
    after it), and `reasoning_token_fraction`; a part no completion had is left out.
    """
    reasoning, action = [], []
    for pieces, values in completions:
        r, a = split_at_action(pieces, values, marker)
        reasoning += r
        action += a
    out = {}
    if reasoning:
        out["reasoning_token_entropy"] = _mean(reasoning)
    if action:
        out["action_token_entropy"] = _mean(action)
    if reasoning or action:
        out["reasoning_token_fraction"] = len(reasoning) / (len(reasoning) + len(action))
    return out


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


def template_entropy(actions: Sequence[str], template: Template | None = None) -> float:
    """Entropy of the empirical distribution of action templates, H = -Σ_τ p̂(τ) log p̂(τ),
    τ = canonical(template(a)). `template` is the family's `action_template` (default
    `earlyexp.envs.core.mask_arguments`): token entropy can stay high while every
    action follows one template, and this is what shows it."""
    if template is None:
        from earlyexp.envs.core import mask_arguments as template
    return _entropy_of_counts(Counter(canonical_action(template(a)) for a in actions).values())


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


def pass_k_ladder(samples: int, cap: int | None = None) -> list[int]:
    """k = 1, 2, 4, ... up to min(samples, cap), ending at that limit itself: the ks of
    pass@k for groups of `samples` rollouts (RL: the group size; evaluation: samples
    per task, capped at 16). `pass_k_ladder(6) == [1, 2, 4, 6]`; [] for no samples."""
    limit = samples if cap is None else min(samples, cap)
    ks = [2 ** i for i in range(max(0, limit).bit_length()) if 2 ** i <= limit]
    return ks + [limit] if ks and ks[-1] != limit else ks


# --- all at once -----------------------------------------------------------------
def diversity_metrics(groups: Sequence[Group], successes: Sequence[Sequence[bool]] | None = None,
                      ks: Sequence[int] = (), token_entropies=None,
                      search_query: Callable[[str], str | None] | None = None,
                      goals: Sequence[str | None] | None = None,
                      template: Template | None = None,
                      embed: Callable[[list[str]], np.ndarray] | None = None,
                      unit: str = "action",
                      ended: Sequence[Sequence[bool]] | None = None) -> dict[str, float]:
    """Every trajectory-level metric of one iteration or evaluation, keyed as in `METRICS`.

    Group-level metrics (`action_entropy`, `first_action_entropy`,
    `unique_trajectory_ratio`, `vendi`) are computed per group and averaged over the
    non-empty groups; `distinct_1/2` and `template_entropy` pool all episodes.
    With `successes` (flags parallel to `groups`): `success` and `pass@k` for each k in
    `ks` (`pass_k_ladder(group size)`). With `token_entropies` (anything
    `mean_token_entropy` takes): `entropy`. With `search_query` (the env's
    `search_query`): every key of `SEARCH_KEYS`, `query_question_overlap` needing `goals`
    (one question per group); `ended` (flags parallel to `groups`: the episode ended by
    its own action, not truncated) sharpens `answer_after_search_rate`. `template` is the env's `action_template` (default
    `mask_arguments`). `unit="word"` makes distinct-n and the Vendi n-grams word-level
    (free-text actions).
    """
    keep = [i for i, g in enumerate(groups) if len(g)]
    groups = [groups[i] for i in keep]
    episodes = [e for g in groups for e in g]
    out = {
        "action_entropy": _mean([shared_state_action_entropy(g) for g in groups]),
        "first_action_entropy": _mean([first_action_entropy(g) for g in groups]),
        "unique_trajectory_ratio": _mean([unique_trajectory_ratio(g) for g in groups]),
        "distinct_1": distinct_n(episodes, 1, unit),
        "distinct_2": distinct_n(episodes, 2, unit),
        "vendi": _mean([vendi_score(g, embed=embed, unit=unit) for g in groups]),
        "template_entropy": template_entropy([a for e in episodes for a in e], template),
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
    if search_query is not None:
        from earlyexp.experience.search_metrics import search_metrics
        out.update(search_metrics(groups, search_query,
                                  None if goals is None else [goals[i] for i in keep],
                                  None if ended is None else [ended[i] for i in keep]))
    return out
