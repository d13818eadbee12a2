"""Shared-prefix candidate packing (agents/scoring.py) against plain forward passes.

Reference: each (prompt + candidate) run alone through the same Hugging Face model,
its log-probs summed in float64 here — never the packed scorer compared with itself.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from earlyexp.agents import scoring
from earlyexp.agents.scoring import candidate_scores, pack_candidates

VOCAB = 97


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=0)).eval()


def reference(model, prompt: list[int], candidate: list[int]) -> tuple[float, np.ndarray]:
    """Summed log p(candidate | prompt) and the prompt's last hidden state, alone."""
    with torch.no_grad():
        out = model(torch.tensor([prompt + candidate]), output_hidden_states=True)
    logp = torch.log_softmax(out.logits[0].double(), -1).numpy()
    score = sum(logp[len(prompt) - 1 + j, t] for j, t in enumerate(candidate))
    return score, out.hidden_states[-1][0, len(prompt) - 1].numpy()


def random_case(rng: random.Random, prompts: int, candidates: int):
    ids = lambda n: [rng.randrange(1, VOCAB) for _ in range(n)]  # noqa: E731
    return ([ids(rng.randrange(1, 30)) for _ in range(prompts)],
            [[ids(rng.randrange(1, 7)) for _ in range(rng.randrange(1, candidates + 1))]
             for _ in range(prompts)])


@pytest.mark.parametrize("row_tokens", [512, 8, 1])
def test_packed_scores_and_hidden_states_equal_each_candidate_run_alone(model, monkeypatch,
                                                                       row_tokens):
    """Prompts of different lengths (left padding), candidates of different lengths
    (trailing padding), and with a small `ROW_CANDIDATE_TOKENS` a prompt's candidates
    split over several rows: every score is the candidate's own forward pass."""
    monkeypatch.setattr(scoring, "ROW_CANDIDATE_TOKENS", row_tokens)
    prompts, candidates = random_case(random.Random(row_tokens), prompts=5, candidates=6)
    batch = pack_candidates(prompts, candidates, pad_id=0)
    if row_tokens == 1:  # one candidate per row
        assert batch.input_ids.shape[0] == sum(len(c) for c in candidates)
    with torch.no_grad():
        scores, hidden = candidate_scores(model, batch, with_hidden=True)
    expected = [reference(model, p, c)[0] for p, cs in zip(prompts, candidates) for c in cs]
    np.testing.assert_allclose(scores.numpy(), expected, atol=2e-5)
    assert batch.counts == [len(c) for c in candidates]
    for b, prompt in enumerate(prompts):
        np.testing.assert_allclose(hidden[b].numpy(), reference(model, prompt, [1])[1],
                                   atol=2e-5)


def test_the_gradient_of_a_packed_score_is_that_of_its_own_forward(model):
    prompts, candidates = [[5, 6, 7, 8], [9, 10]], [[[11, 12], [13]], [[14, 15, 16]]]
    batch = pack_candidates(prompts, candidates, pad_id=0)
    model.zero_grad()
    candidate_scores(model, batch)[0][1].backward()      # prompt 0, candidate [13]
    packed = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    out = model(torch.tensor([prompts[0] + [13]]))
    torch.log_softmax(out.logits[0, len(prompts[0]) - 1], -1)[13].backward()
    for got, want in zip(packed, (p.grad for p in model.parameters())):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_a_prompt_without_candidates_is_refused():
    with pytest.raises(ValueError, match="at least one candidate"):
        pack_candidates([[1, 2]], [[]], pad_id=0)


def test_an_attention_kernel_that_ignores_the_tree_mask_is_refused(model, monkeypatch):
    monkeypatch.setattr(model.config, "_attn_implementation", "flash_attention_2")
    with pytest.raises(ValueError, match="attn_implementation='sdpa'"):
        candidate_scores(model, pack_candidates([[1, 2]], [[[3]]], pad_id=0))
