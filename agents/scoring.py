"""Candidate scoring on a causal LM, shared by acting (no gradients) and RL (gradients).

`rank` mode scores every admissible action `c` of a state by its summed log-likelihood

    score(c) = Σ_j log p(c_j | prompt, c_<j)          (c = " <action>" + EOS)

and acts with `softmax(score / T)`. The same function computes those scores when the
agent acts (`HFPolicy.score_candidates`, under `torch.no_grad`) and when RL recomputes
them under the current weights (`training/rl/model.py`, with gradients), so the
categorical policy that acts is the one that is trained.

Each prompt runs through the model once; its key/value cache is copied to each of its
candidates, which then only pay for their own few tokens:

    batch  = pack_candidates(prompt_rows, candidate_rows, pad_id, device)
    scores, hidden = candidate_scores(model, batch)    # (N,), (B, H) | None
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CandidateBatch:
    """B prompts (left-padded) and their N candidates in total (right-padded)."""

    prompt_ids: torch.Tensor       # (B, Lp)
    prompt_mask: torch.Tensor      # (B, Lp)
    candidate_ids: torch.Tensor    # (N, Lc)
    candidate_mask: torch.Tensor   # (N, Lc)
    owners: torch.Tensor           # (N,) index of each candidate's prompt
    counts: list[int]              # candidates per prompt (sum = N)


def left_pad(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows as a left-padded (B, L) id tensor and its attention mask."""
    width = max((len(r) for r in rows), default=1)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def pack_candidates(prompt_rows: list[list[int]], candidate_rows: list[list[list[int]]],
                    pad_id: int, device=None) -> CandidateBatch:
    """Tensors for `candidate_scores`; every prompt must have at least one candidate."""
    if any(not cands for cands in candidate_rows):
        raise ValueError("every prompt needs at least one candidate to score")
    prompt_ids, prompt_mask = left_pad(prompt_rows, pad_id, device)
    flat = [c for cands in candidate_rows for c in cands]
    width = max(len(c) for c in flat)
    candidate_ids = torch.full((len(flat), width), pad_id, dtype=torch.long)
    candidate_mask = torch.zeros((len(flat), width), dtype=torch.long)
    for i, c in enumerate(flat):
        candidate_ids[i, :len(c)] = torch.tensor(c)
        candidate_mask[i, :len(c)] = 1
    counts = [len(cands) for cands in candidate_rows]
    owners = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return CandidateBatch(prompt_ids, prompt_mask, candidate_ids.to(device),
                          candidate_mask.to(device), owners.to(device), counts)


def candidate_scores(model, batch: CandidateBatch, with_hidden: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Summed log-prob of every candidate (N,), float32, and, with `with_hidden`, the
    final hidden state of each prompt's last token (B, H) (PPO's value head reads it).
    Differentiable when called under grad mode."""
    mask = batch.prompt_mask
    out = model(input_ids=batch.prompt_ids, attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True,
                logits_to_keep=1, output_hidden_states=with_hidden)
    hidden = out.hidden_states[-1][:, -1] if with_hidden else None          # (B, H)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)[batch.owners]  # (N, V)
    cache = _returned_cache(out)
    cache.reorder_cache(batch.owners)               # each prompt's cache, once per candidate
    ids, own = batch.candidate_ids, batch.candidate_mask                     # (N, Lc)
    positions = mask.sum(-1)[batch.owners, None] + torch.arange(ids.shape[1], device=ids.device)
    logits = model(input_ids=ids, attention_mask=torch.cat([mask[batch.owners], own], dim=1),
                   position_ids=positions, use_cache=False, **{_cache_argument(model): cache}
                   ).logits
    rest = torch.log_softmax(logits[:, :-1].float(), -1)                     # predicts 1..Lc-1
    rest = rest.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * own[:, 1:]  # (N, Lc-1)
    scores = first.gather(-1, ids[:, :1]).squeeze(-1) + rest.sum(-1)         # (N,)
    return scores, hidden


def choice_log_probs(scores: torch.Tensor, counts: list[int], temperature: float
                     ) -> list[torch.Tensor]:
    """Per prompt, `log_softmax(score / T)` over its candidates (the rank-mode policy)."""
    return [torch.log_softmax(s / temperature, dim=0) for s in torch.split(scores, counts)]


def _returned_cache(out):
    """The key/value cache of a forward pass (`cache` from transformers 5.x, else
    `past_key_values`)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _cache_argument(model) -> str:
    """The forward argument that takes a cache: `cache` where the model's forward
    declares it (transformers 5.x), else `past_key_values` (4.x, wrappers)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
