"""The trained module (policy LM + optional value head) and the minibatch it eats.

The policy's log-probs come in two kinds, one per action mode, and a minibatch may
mix them (a rank-mode agent generates where a state's action space is open):

- **token rows** (generate mode): log π(a_t | s, a_<t) = log_softmax(logits / T) of every
  sampled token. Sequences are left-padded with the completion right-aligned, so the
  LM head is only evaluated on the last W positions (`logits_to_keep`).
- **choice rows** (rank mode): the policy is the categorical distribution over the
  candidates the agent saw, log π(c | s) = log_softmax(score / T)[c] with
  score(c) = Σ_j log p(c_j | s, c_<j), recomputed under the current weights by the same
  prefix-cached scorer the agent acted with (`agents/scoring.py`). One log-prob per
  turn; its entropy is the entropy of that categorical.

Both kinds are laid out as (B, W) tensors (a choice row uses the last column only), so
the losses in `losses.py` apply unchanged.

PPO's critic is a **value head on the policy**: one linear layer (zero-initialised) on
the final hidden state of the last prompt token, i.e. V(s_t) of the rendered state
before the action. It shares the trunk, so it costs no extra forward pass, and its
gradient reaches the trunk scaled by `vf_coef`. It is saved next to the policy as
`value_head.pt` and is not part of the exported Hugging Face checkpoint.

The module stays in eval mode for behaviour scoring *and* the update: dropout in a
checkpoint would otherwise make the on-policy ratio differ from 1 (see trainer.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from earlyexp.agents.scoring import (
    CandidateBatch, candidate_scores, choice_log_probs, left_pad, pack_candidates,
)
from earlyexp.training.rl.losses import entropy_from_logits
from earlyexp.training.rl.rollout import TurnSample


@dataclass
class TokenRows:
    """The generate-mode rows of a minibatch: prompt + sampled completion."""

    rows: torch.Tensor             # (Bt,) positions of these rows in the minibatch
    ids: torch.Tensor              # (Bt, L) left-padded
    mask: torch.Tensor             # (Bt, L)
    width: int                     # Wt: longest completion
    value_index: torch.Tensor      # (Bt,) position of the last prompt token


@dataclass
class ChoiceRows:
    """The rank-mode rows of a minibatch: prompt, every candidate, the one chosen."""

    rows: torch.Tensor             # (Bc,)
    candidates: CandidateBatch
    chosen: list[int]              # index of the taken candidate within each row's set


@dataclass
class Minibatch:
    """B turn samples; every per-token tensor is (B, W), right-aligned."""

    size: int                      # B
    width: int                     # W = max(longest completion, 1)
    tokens: TokenRows | None
    choices: ChoiceRows | None
    loss_mask: torch.Tensor        # (B, W) 1 on trained entries of samples with weight > 0
    old_logp: torch.Tensor | None = None     # (B, W) behaviour log-probs
    ref_logp: torch.Tensor | None = None     # (B, W) reference log-probs (kl_coef > 0)
    advantages: torch.Tensor | None = None   # (B,)
    returns: torch.Tensor | None = None      # (B,) value targets (PPO)
    old_values: torch.Tensor | None = None   # (B,) rollout-time values (PPO)
    weight: torch.Tensor | None = None       # (B,) 0 for filtered samples


class ActorCritic(nn.Module):
    """A causal LM acting at `temperature`, plus a scalar value head when asked."""

    def __init__(self, lm: nn.Module, value_head: bool = False, temperature: float = 1.0):
        super().__init__()
        self.lm = lm
        self.temperature = temperature
        self.value_head = None
        if value_head:
            hidden = lm.get_input_embeddings().embedding_dim
            self.value_head = nn.Linear(hidden, 1)
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(self, mb: Minibatch, with_entropy: bool = False):
        """Log-probs (B, W), entropies (B, W) or None, values (B,) or None."""
        device = mb.loss_mask.device
        logp = torch.zeros((mb.size, mb.width), device=device)
        entropy = torch.zeros((mb.size, mb.width), device=device) if with_entropy else None
        values = torch.zeros(mb.size, device=device) if self.value_head is not None else None
        if mb.tokens is not None:
            t = mb.tokens
            lp, ent, val = self._token_rows(t, with_entropy)                # (Bt, Wt)
            logp[t.rows, mb.width - t.width:] = lp
            if with_entropy:
                entropy[t.rows, mb.width - t.width:] = ent
            if values is not None:
                values[t.rows] = val
        if mb.choices is not None:
            c = mb.choices
            lp, ent, val = self._choice_rows(c)                              # (Bc,)
            logp[c.rows, -1] = lp
            if with_entropy:
                entropy[c.rows, -1] = ent
            if values is not None:
                values[c.rows] = val
        return logp, entropy, values

    def _token_rows(self, t: TokenRows, with_entropy: bool):
        positions = (t.mask.cumsum(-1) - 1).clamp(min=0)                    # (Bt, L)
        out = self.lm(input_ids=t.ids, attention_mask=t.mask, position_ids=positions,
                      logits_to_keep=t.width + 1, use_cache=False,
                      output_hidden_states=self.value_head is not None)
        logits = out.logits[:, :-1].float() / self.temperature              # (Bt, Wt, V)
        logp = torch.log_softmax(logits, dim=-1).gather(
            -1, t.ids[:, -t.width:].unsqueeze(-1)).squeeze(-1)              # (Bt, Wt)
        entropy = entropy_from_logits(logits) if with_entropy else None     # (Bt, Wt)
        values = None
        if self.value_head is not None:
            rows = torch.arange(t.ids.shape[0], device=t.ids.device)
            state = out.hidden_states[-1][rows, t.value_index]             # (Bt, H)
            values = self.value_head(state.float()).squeeze(-1)            # (Bt,)
        return logp, entropy, values

    def _choice_rows(self, c: ChoiceRows):
        scores, hidden = candidate_scores(self.lm, c.candidates,
                                          with_hidden=self.value_head is not None)  # (N,)
        per_row = choice_log_probs(scores, c.candidates.counts, self.temperature)
        logp = torch.stack([lp[k] for lp, k in zip(per_row, c.chosen)])     # (Bc,)
        entropy = torch.stack([-(lp.exp() * lp).sum() for lp in per_row])   # (Bc,)
        values = (self.value_head(hidden.float()).squeeze(-1)
                  if self.value_head is not None else None)                 # (Bc,)
        return logp, entropy, values

    @torch.no_grad()
    def state_values(self, prompt_rows: list[list[int]], pad_id: int) -> torch.Tensor:
        """V(s) (S,) of prompts alone, e.g. the state a truncated episode stopped in."""
        ids, mask = left_pad(prompt_rows, pad_id, self.value_head.weight.device)
        out = self.lm(input_ids=ids, attention_mask=mask,
                      position_ids=(mask.cumsum(-1) - 1).clamp(min=0), logits_to_keep=1,
                      use_cache=False, output_hidden_states=True)
        return self.value_head(out.hidden_states[-1][:, -1].float()).squeeze(-1)


def right_align(rows: list[torch.Tensor], width: int, device) -> torch.Tensor:
    """Stack 1-D tensors into (B, width), each right-aligned, zero-padded on the left."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        if len(row):
            out[i, width - len(row):] = row
    return out.to(device)


def collate(samples: list[TurnSample], index: list[int], pad_id: int, device,
            per_token: dict[str, list[torch.Tensor] | None] | None = None,
            per_sample: dict[str, torch.Tensor | None] | None = None) -> Minibatch:
    """The minibatch of `samples[index]` on `device`."""
    chosen = [samples[i] for i in index]
    width = max(s.length for s in chosen)
    token_at = [b for b, s in enumerate(chosen) if not s.is_choice]
    choice_at = [b for b, s in enumerate(chosen) if s.is_choice]
    tokens = _token_rows([chosen[b] for b in token_at], token_at, pad_id, device) \
        if token_at else None
    choices = ChoiceRows(
        torch.tensor(choice_at, device=device),
        pack_candidates([chosen[b].prompt_ids for b in choice_at],
                        [chosen[b].candidate_ids for b in choice_at], pad_id, device),
        [chosen[b].chosen for b in choice_at]) if choice_at else None
    loss_mask = right_align([torch.ones(s.length) for s in chosen], width, device)
    fields = {}
    for key, rows in (per_token or {}).items():
        fields[key] = None if rows is None else right_align([rows[i] for i in index], width, device)
    for key, values in (per_sample or {}).items():
        fields[key] = None if values is None else values[index].to(device)
    if fields.get("weight") is not None:
        loss_mask = loss_mask * fields["weight"][:, None]
    return Minibatch(len(chosen), width, tokens, choices, loss_mask, **fields)


def _token_rows(samples: list[TurnSample], rows: list[int], pad_id: int, device) -> TokenRows:
    ids, mask = left_pad([s.prompt_ids + s.completion_ids for s in samples], pad_id, device)
    width = max(len(s.completion_ids) for s in samples)
    value_index = torch.tensor([ids.shape[1] - len(s.completion_ids) - 1 for s in samples],
                               device=device)
    return TokenRows(torch.tensor(rows, device=device), ids, mask, width, value_index)
