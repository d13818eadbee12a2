"""Candidate scoring on a causal LM, shared by acting (no gradients) and RL (gradients).

`rank` mode scores every admissible action `c` of a state by its summed log-likelihood

    score(c) = Σ_j log p(c_j | prompt, c_<j)          (c = " <action>" + EOS)

and acts with `softmax(score / T)`. The same function computes those scores when the
agent acts (`HFPolicy.score_candidates`, under `torch.no_grad`) and when RL recomputes
them under the current weights (`training/rl/model.py`, with gradients), so the
categorical policy that acts is the one that is trained.

**Shared-prefix packing.** A prompt and all its candidates form one sequence,

    [pad … prompt][cand 0][cand 1] … [cand N-1][pad …]

run through the model once with a tree attention mask: prompt tokens attend causally
to the prompt, a candidate's tokens to the prompt and to their own candidate's earlier
tokens only, and each candidate's positions continue from the prompt's length, as if
it followed the prompt alone. The prompt is computed once and nothing is copied per
candidate (copying the prompt's key/value cache to every candidate made acting 2.2× and
the update 2.3× slower on CPU: `benchmarks/bench_candidate_scoring.py`). A prompt whose
candidates exceed `ROW_CANDIDATE_TOKENS` is split over several rows, each with the prompt.

    batch  = pack_candidates(prompt_rows, candidate_rows, pad_id, device)
    scores, hidden = candidate_scores(model, batch)    # (N,), (B, H) | None
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

#: Candidate tokens packed behind one copy of a prompt; more start another row.
ROW_CANDIDATE_TOKENS = 512


@dataclass
class CandidateBatch:
    """B prompts and their N candidates in total, packed as R >= B rows."""

    input_ids: torch.Tensor        # (R, Lp + Lt) left-padded prompt, then candidates
    position_ids: torch.Tensor     # (R, Lp + Lt)
    attention: torch.Tensor        # (R, 1, Lp + Lt, Lp + Lt) bool tree mask
    prompt_width: int              # Lp
    # one entry per candidate token (T in all), in candidate order:
    token_row: torch.Tensor        # (T,) row holding it
    token_at: torch.Tensor         # (T,) column (of the last Lt + 1) whose logits predict it
    token_id: torch.Tensor         # (T,) the token
    token_owner: torch.Tensor      # (T,) its candidate, 0..N-1
    first_row: torch.Tensor        # (B,) a row of each prompt (its final hidden state)
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


def _row_groups(candidates: list[list[int]]) -> list[list[list[int]]]:
    """A prompt's candidates in consecutive groups of at most ROW_CANDIDATE_TOKENS
    tokens (a longer single candidate gets a group of its own)."""
    groups, size = [[]], 0
    for c in candidates:
        if groups[-1] and size + len(c) > ROW_CANDIDATE_TOKENS:
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += len(c)
    return groups


def pack_candidates(prompt_rows: list[list[int]], candidate_rows: list[list[list[int]]],
                    pad_id: int, device=None) -> CandidateBatch:
    """Tensors for `candidate_scores`; every prompt must have at least one candidate."""
    if any(not cands for cands in candidate_rows):
        raise ValueError("every prompt needs at least one candidate to score")
    rows = [(b, group) for b, cands in enumerate(candidate_rows) for group in _row_groups(cands)]
    prompt_width = max(max(len(p) for p in prompt_rows), 1)
    tail = max(sum(len(c) for c in group) for _, group in rows)
    width = prompt_width + tail
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    # segment of each position: -1 padding, 0 prompt, k + 1 the row's k-th candidate
    segment = torch.full((len(rows), width), -1, dtype=torch.long)
    token_row, token_at, token_id = [], [], []
    first_row = [-1] * len(prompt_rows)
    for r, (b, group) in enumerate(rows):
        prompt = prompt_rows[b]
        first_row[b] = r if first_row[b] < 0 else first_row[b]
        start = prompt_width - len(prompt)
        ids[r, start:prompt_width] = torch.tensor(prompt, dtype=torch.long)
        positions[r, start:prompt_width] = torch.arange(len(prompt))
        segment[r, start:prompt_width] = 0
        offset = 0
        for k, cand in enumerate(group):
            cols = slice(prompt_width + offset, prompt_width + offset + len(cand))
            ids[r, cols] = torch.tensor(cand, dtype=torch.long)
            positions[r, cols] = len(prompt) + torch.arange(len(cand))
            segment[r, cols] = k + 1
            # token j is predicted by the logits before it: the prompt's last token for
            # j = 0, else the candidate's own token j - 1 (kept columns start at Lp - 1)
            token_at += [0] + [offset + j for j in range(1, len(cand))]
            token_row += [r] * len(cand)
            token_id += cand
            offset += len(cand)
    counts = [len(c) for c in candidate_rows]
    owner = torch.repeat_interleave(torch.arange(sum(counts)),
                                    torch.tensor([len(c) for cs in candidate_rows for c in cs]))
    return CandidateBatch(ids.to(device), positions.to(device),
                          _tree_mask(segment).to(device), prompt_width,
                          torch.tensor(token_row, device=device),
                          torch.tensor(token_at, device=device),
                          torch.tensor(token_id, device=device), owner.to(device),
                          torch.tensor(first_row, device=device), counts)


def _tree_mask(segment: torch.Tensor) -> torch.Tensor:
    """(R, 1, L, L) bool: query i sees key j <= i that is prompt, or in i's own
    candidate; every position sees itself (a padding row is never empty)."""
    width = segment.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    q, k = segment[:, :, None], segment[:, None, :]
    visible = (k == 0) | ((k == q) & (q > 0))
    mask = (causal & visible) | torch.eye(width, dtype=torch.bool)
    return mask[:, None]


def candidate_scores(model, batch: CandidateBatch, with_hidden: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Summed log-prob of every candidate (N,), float32, and, with `with_hidden`, the
    final hidden state of each prompt's last token (B, H) (PPO's value head reads it).
    Differentiable when called under grad mode."""
    _check_tree_mask_support(model)
    keep = batch.input_ids.shape[1] - batch.prompt_width + 1       # from the prompt's last token
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention,
                position_ids=batch.position_ids, use_cache=False, logits_to_keep=keep,
                output_hidden_states=with_hidden)
    logits = out.logits[batch.token_row, batch.token_at].float()                # (T, V)
    token_logp = torch.log_softmax(logits, -1).gather(-1, batch.token_id[:, None]).squeeze(-1)
    scores = torch.zeros(sum(batch.counts), device=token_logp.device
                         ).index_add(0, batch.token_owner, token_logp)
    hidden = (out.hidden_states[-1][batch.first_row, batch.prompt_width - 1]
              if with_hidden else None)                                         # (B, H)
    return scores, hidden


#: Attention implementations that apply a custom 4-D mask as given (flash-attention
#: kernels take only padding masks and would let candidates see each other).
TREE_MASK_ATTENTION = ("eager", "sdpa")


def _check_tree_mask_support(model) -> None:
    used = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if used is not None and used not in TREE_MASK_ATTENTION:
        raise ValueError(
            f"rank-mode scoring packs candidates behind their prompt under a 4-D attention "
            f"mask, which attn_implementation={used!r} does not apply; load the model with "
            f"attn_implementation='sdpa' (or 'eager'), or act in generate mode")


def choice_log_probs(scores: torch.Tensor, counts: list[int], temperature: float
                     ) -> list[torch.Tensor]:
    """Per prompt, `log_softmax(score / T)` over its candidates (the rank-mode policy)."""
    return [torch.log_softmax(s / temperature, dim=0) for s in torch.split(scores, counts)]
