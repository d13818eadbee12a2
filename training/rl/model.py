"""The trained module (policy LM + optional value head) and the minibatch it eats.

PPO's critic is a **value head on the policy**: one linear layer (zero-initialised) on
the final hidden state of the last prompt token, i.e. V(s_t) of the rendered state
before the action. It shares the trunk, so a PPO step costs one forward pass, and its
gradient reaches the trunk scaled by `vf_coef`. It is saved next to the policy as
`value_head.pt` and is not part of the exported Hugging Face checkpoint.

Sequences are left-padded with the completion right-aligned, so the completion of
every row lies in the last W positions (W = longest completion of the minibatch)
and the LM head is only evaluated there (`logits_to_keep`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from earlyexp.training.rl.losses import entropy_from_logits
from earlyexp.training.rl.rollout import TurnSample


class ActorCritic(nn.Module):
    """A causal LM, plus a scalar value head when `value_head` is set."""

    def __init__(self, lm: nn.Module, value_head: bool = False):
        super().__init__()
        self.lm = lm
        self.value_head = None
        if value_head:
            hidden = lm.get_input_embeddings().embedding_dim
            self.value_head = nn.Linear(hidden, 1)
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, width: int,
                value_index: torch.Tensor | None = None, with_entropy: bool = False):
        """Log-probs (B, W) of the last W tokens, their entropies (B, W) or None, and the
        values (B,) at `value_index` or None."""
        positions = (mask.cumsum(-1) - 1).clamp(min=0)                    # (B, L)
        out = self.lm(input_ids=ids, attention_mask=mask, position_ids=positions,
                      logits_to_keep=width + 1, use_cache=False,
                      output_hidden_states=self.value_head is not None)
        logits = out.logits[:, :-1].float()                                # (B, W, V)
        logp = torch.log_softmax(logits, dim=-1).gather(
            -1, ids[:, -width:].unsqueeze(-1)).squeeze(-1)                 # (B, W)
        entropy = entropy_from_logits(logits) if with_entropy else None    # (B, W)
        values = None
        if self.value_head is not None:
            rows = torch.arange(ids.shape[0], device=ids.device)
            state = out.hidden_states[-1][rows, value_index]               # (B, H)
            values = self.value_head(state.float()).squeeze(-1)            # (B,)
        return logp, entropy, values


@dataclass
class Minibatch:
    """Padded tensors of B turn samples; token tensors cover the last W positions."""

    ids: torch.Tensor              # (B, L) prompt + completion, left-padded
    mask: torch.Tensor             # (B, L) attention mask
    loss_mask: torch.Tensor        # (B, W) 1 on completion tokens of samples with weight > 0
    width: int                     # W
    value_index: torch.Tensor      # (B,) position of the last prompt token
    old_logp: torch.Tensor | None = None     # (B, W) behaviour log-probs
    ref_logp: torch.Tensor | None = None     # (B, W) reference log-probs (kl_coef > 0)
    advantages: torch.Tensor | None = None   # (B,)
    returns: torch.Tensor | None = None      # (B,) value targets (PPO)
    old_values: torch.Tensor | None = None   # (B,) rollout-time values (PPO)
    weight: torch.Tensor | None = None       # (B,) 0 for filtered samples


def right_align(rows: list[torch.Tensor], width: int, device) -> torch.Tensor:
    """Stack 1-D tensors into (B, width), each right-aligned, zero-padded on the left."""
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        if len(row):
            out[i, width - len(row):] = row
    return out.to(device)


def collate(samples: list[TurnSample], index: list[int], pad_pairs, device,
            per_token: dict[str, list[torch.Tensor] | None] | None = None,
            per_sample: dict[str, torch.Tensor | None] | None = None) -> Minibatch:
    """The minibatch of `samples[index]`; `pad_pairs` is `HFPolicy.pad_pairs`."""
    chosen = [samples[i] for i in index]
    ids, mask, completion_mask = pad_pairs([(s.prompt_ids, s.completion_ids) for s in chosen])
    width = max(len(s.completion_ids) for s in chosen)
    value_index = torch.tensor([ids.shape[1] - len(s.completion_ids) - 1 for s in chosen],
                               device=ids.device)
    fields = {}
    for key, rows in (per_token or {}).items():
        fields[key] = None if rows is None else right_align([rows[i] for i in index], width, device)
    for key, values in (per_sample or {}).items():
        fields[key] = None if values is None else values[index].to(device)
    weight = fields.get("weight")
    loss_mask = completion_mask[:, -width:]
    if weight is not None:
        loss_mask = loss_mask * weight[:, None]
    return Minibatch(ids, mask, loss_mask, width, value_index, **fields)
