"""Diversity metrics against hand-computed values, brute force and edge cases."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from earlyexp.experience import diversity as d


def H(*probs: float) -> float:
    return -sum(p * math.log(p) for p in probs if p > 0)


def test_canonical_action_strips_lowercases_and_collapses_whitespace():
    assert d.canonical_action("  Go \t NORTH\n") == "go north"
    assert d.canonical_episode(["Take Key ", "open  door"]) == ("take key", "open door")


# --- token level --------------------------------------------------------------
def test_token_entropy_from_logits_matches_the_formula():
    logits = torch.tensor([[0.0, math.log(3.0)],          # p = (1/4, 3/4)
                           [5.0, 5.0],                    # uniform over 2
                           [1.0, float("-inf")]])         # one-hot (masked entry)
    got = d.token_entropy_from_logits(logits)
    assert got.shape == (3,)
    assert torch.allclose(got, torch.tensor([H(0.25, 0.75), math.log(2), 0.0]), atol=1e-6)
    assert not torch.isnan(got).any()
    uniform = d.token_entropy_from_logits(torch.zeros(2, 3, 7))
    assert uniform.shape == (2, 3) and torch.allclose(uniform, torch.full((2, 3), math.log(7)))
    # temperature -> 0 sharpens towards the argmax, temperature 1 is the raw distribution
    sharp = d.token_entropy_from_logits(torch.tensor([0.0, 1.0]), temperature=0.01)
    assert float(sharp) < 1e-6
    with pytest.raises(ValueError, match="temperature"):
        d.token_entropy_from_logits(logits, temperature=0)


def test_mean_token_entropy_weights_tokens_and_respects_the_mask():
    e = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert d.mean_token_entropy(e, mask=torch.tensor([[1, 0], [1, 1]])) == pytest.approx(8 / 3)
    assert d.mean_token_entropy([[1.0, 2.0], [3.0]]) == pytest.approx(2.0)  # per action
    assert d.mean_token_entropy([]) == 0.0
    assert d.mean_token_entropy(e, mask=torch.zeros(2, 2)) == 0.0
    assert d.sampled_token_entropy([-1.0, -2.0, -3.0]) == pytest.approx(2.0)
    assert d.sampled_token_entropy([]) == 0.0


def test_logprob_advantage_covariance_by_hand():
    # means 2 and 1: ((-1)(0) + (0)(-1) + (1)(1)) / 3
    assert d.logprob_advantage_covariance([1.0, 2.0, 3.0], [1.0, 0.0, 2.0]) == pytest.approx(1 / 3)
    # per-sequence advantages broadcast over tokens: A = (1, 1, -1, -1), mean log pi 2.5
    lp = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert d.logprob_advantage_covariance(lp, torch.tensor([1.0, -1.0])) == pytest.approx(-1.0)
    # the mask drops the last token: tokens (1, 2, 3) with A (1, 1, -1)
    mask = torch.tensor([[1, 1], [1, 0]])
    cov = ((1 - 2) * (1 - 1 / 3) + 0 + (3 - 2) * (-1 - 1 / 3)) / 3
    assert d.logprob_advantage_covariance(lp, torch.tensor([1.0, -1.0]), mask) == pytest.approx(cov)
    assert d.logprob_advantage_covariance([0.5], [2.0]) == 0.0
    assert d.logprob_advantage_covariance([], []) == 0.0


# --- action and trajectory level ----------------------------------------------
def test_action_entropy_and_shared_states():
    assert d.action_entropy(["a", " A", "b", "b"]) == pytest.approx(math.log(2))
    assert d.action_entropy(["x"] * 5) == 0.0 and d.action_entropy([]) == 0.0
    group = [["a", "b"], ["a", "c"], ["A", "c"], ["d"]]
    # root: a x3, d x1 (4 visits); after "a": b x1, c x2 (3 visits); nothing else is shared
    expected = (4 * H(0.75, 0.25) + 3 * H(1 / 3, 2 / 3)) / 7
    assert d.shared_state_action_entropy(group) == pytest.approx(expected)
    assert d.first_action_entropy(group) == pytest.approx(H(0.75, 0.25))
    assert d.shared_state_action_entropy([["a", "b"]]) == 0.0  # a single sample shares nothing
    assert d.shared_state_action_entropy([["a", "b"]] * 4) == 0.0
    assert d.shared_state_action_entropy([]) == 0.0 and d.first_action_entropy([[]]) == 0.0


def test_unique_trajectory_ratio():
    assert d.unique_trajectory_ratio([["a", "b"], ["A ", "b"], ["b"]]) == pytest.approx(2 / 3)
    assert d.unique_trajectory_ratio([["a"]] * 4) == 0.25
    assert d.unique_trajectory_ratio([["a"]]) == 1.0
    assert d.unique_trajectory_ratio([]) == 0.0


def test_distinct_n_on_a_small_set():
    episodes = [["a", "b", "a"], ["a", "B"]]
    assert d.distinct_n(episodes, 1) == pytest.approx(2 / 5)   # a b a a b
    assert d.distinct_n(episodes, 2) == pytest.approx(2 / 3)   # ab ba ab
    assert d.distinct_n(episodes, 3) == pytest.approx(1.0)     # aba
    assert d.distinct_n([["go north", "go south"]], 1, unit="word") == pytest.approx(3 / 4)
    assert d.distinct_n([["a"]], 2) == 0.0 and d.distinct_n([], 1) == 0.0
    with pytest.raises(ValueError):
        d.distinct_n(episodes, 0)
    with pytest.raises(ValueError, match="unit"):
        d.distinct_n(episodes, 1, unit="token")


# --- Vendi --------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_vendi_of_identical_is_one_and_of_orthogonal_is_n(n):
    assert d.vendi_score([["take key", "open door"]] * n) == pytest.approx(1.0)
    assert d.vendi_score([[f"action {i}"] for i in range(n)]) == pytest.approx(n)
    assert d.vendi_score_from_kernel(np.ones((n, n))) == pytest.approx(1.0)
    assert d.vendi_score_from_kernel(np.eye(n)) == pytest.approx(n)


def test_vendi_default_kernel_by_hand():
    # features: ["a"] -> {a}, ["a", "b"] -> {a, b, (a, b)}: cosine s = 1/sqrt(3);
    # eigenvalues of K/2 are (1 ± s)/2
    s = 1 / math.sqrt(3)
    expected = math.exp(H((1 + s) / 2, (1 - s) / 2))
    assert d.vendi_score([["a"], ["a", "b"]]) == pytest.approx(expected)
    # duplicates are folded into weights: same as the explicit 3 x 3 kernel
    k = np.array([[1, 1, s], [1, 1, s], [s, s, 1]])
    assert d.vendi_score([["a"], ["A"], ["a", "b"]]) == pytest.approx(d.vendi_score_from_kernel(k))


def test_vendi_edge_cases_and_embedding_kernel():
    assert d.vendi_score([]) == 0.0
    assert d.vendi_score([[], []]) == pytest.approx(1.0)
    assert d.vendi_score([[], ["a"]]) == pytest.approx(2.0)
    seen = []

    def one_hot(texts):
        seen.append(list(texts))
        return np.eye(len(texts)) * 3.0  # unnormalised on purpose

    assert d.vendi_score([["a", "b"], ["c"], ["a", "b"]], embed=one_hot) == \
        pytest.approx(math.exp(H(2 / 3, 1 / 3)))
    assert seen == [["a ; b", "c"]]  # each distinct trajectory embedded once
    assert d.vendi_score([["x"], ["y"]], embed=lambda t: np.ones((len(t), 4))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero vector"):
        d.vendi_score([["x"], ["y"]], embed=lambda t: np.zeros((len(t), 4)))
    with pytest.raises(ValueError, match="unit diagonal"):
        d.vendi_score_from_kernel(2 * np.eye(3))


# --- pass@k -----------------------------------------------------------------
def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_enumeration_over_subsets():
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert d.pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k),
                                                              abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_and_checks_its_input():
    assert d.pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    exact = 1 - math.comb(9995, 100) / math.comb(10_000, 100)
    assert d.pass_at_k(10_000, 5, 100) == pytest.approx(exact)
    tasks = {"t1": [True, False, False, False], "t2": [False] * 4}
    assert d.mean_pass_at_k(tasks, 2) == pytest.approx((0.5 + 0.0) / 2)
    assert d.mean_pass_at_k([], 1) == 0.0
    with pytest.raises(ValueError, match="pass@5"):
        d.pass_at_k(4, 1, 5)
    with pytest.raises(ValueError):
        d.pass_at_k(4, 5, 1)


# --- search ---------------------------------------------------------------------
def test_search_metrics():
    assert d.search_queries("<think>x</think><search> Foo  Bar</search>") == ["foo bar"]
    assert d.search_queries("search[Red Shoes]") == ["red shoes"]
    assert d.search_queries("click[buy now]") == [] and d.search_queries("<answer>a</answer>") == []
    group = [["<search>a</search>", "<answer>x</answer>"],
             ["<search>A</search>", "<search>b</search>"]]
    assert d.unique_query_ratio(group) == pytest.approx(2 / 3)
    assert d.search_calls_per_episode(group) == pytest.approx(1.5)
    assert d.unique_query_ratio([["<answer>x</answer>"]]) == 0.0
    assert d.search_calls_per_episode([]) == 0.0


def test_diversity_metrics_collects_everything_without_nan():
    groups = [[["a", "b"], ["a", "c"]], [["x"], ["x"]]]
    out = d.diversity_metrics(groups, [[True, False], [False, False]], ks=(1, 2),
                              token_entropies=[0.5, 1.5], search=True)
    assert out["unique_trajectory_ratio"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["vendi"] == pytest.approx((d.vendi_score(groups[0]) + 1.0) / 2)
    assert out["success"] == 0.25 and out["pass@1"] == 0.25 and out["pass@2"] == 0.5
    assert out["entropy"] == 1.0 and out["search_calls_per_episode"] == 0.0
    assert set(out) - {"pass@1", "pass@2"} <= set(d.METRICS)
    empty = d.diversity_metrics([[], []], [[], []], ks=(1,), token_entropies=[], search=True)
    assert all(v == 0.0 for v in empty.values())
    words = d.diversity_metrics([[["<search>red shoes</search>"], ["<search>red boots</search>"]]],
                                unit="word")
    assert words["distinct_1"] == pytest.approx(3 / 4)  # <search>red, shoes</search>, ...
    identical = d.diversity_metrics([[["go"]] * 3])
    assert identical["vendi"] == 1.0 and identical["action_entropy"] == 0.0
    with pytest.raises(ValueError, match="parallel"):
        d.diversity_metrics(groups, [[True]])


# --- the collapse fit ---------------------------------------------------------------
def test_fit_recovers_known_a_and_b():
    h = np.linspace(0.1, 2.0, 12)
    fit = d.fit_collapse(h, -0.05 * np.exp(h) + 0.9)
    assert fit.ok and fit.n == 12
    assert fit.a == pytest.approx(0.05) and fit.b == pytest.approx(0.9)
    assert fit.ceiling == pytest.approx(0.85)
    assert fit.rmse == pytest.approx(0.0, abs=1e-12) and fit.r2 == pytest.approx(1.0)
    fields = ("a", "b", "ceiling", "rmse", "r2", "n")
    assert set(fit.to_metrics()) == {f"collapse/{k}" for k in fields}
    noisy_r = -0.05 * np.exp(h) + 0.9 + np.random.default_rng(0).normal(0, 0.01, h.size)
    noisy = d.fit_collapse(np.append(h, np.nan), np.append(noisy_r, 0.5))  # NaN point dropped
    slope, intercept = np.polyfit(np.exp(h), noisy_r, 1)
    assert noisy.n == 12
    assert noisy.a == pytest.approx(-slope) and noisy.b == pytest.approx(intercept)
    assert 0 < noisy.rmse < 0.02 and 0.5 < noisy.r2 < 1
    assert noisy.predict([0.0])[0] == pytest.approx(noisy.ceiling)


def test_fit_says_why_it_does_not_fit():
    few = d.fit_collapse([0.5, 0.7], [0.1, 0.2])
    assert not few.ok and "at least 3" in few.reason and few.to_metrics() == {}
    flat = d.fit_collapse([0.3, 0.3, 0.3], [0.1, 0.2, 0.3])
    assert not flat.ok and "does not vary" in flat.reason
    with pytest.raises(ValueError, match="no fit"):
        flat.predict(0.0)
    assert d.fit_collapse([0.1, 0.2, 0.3], [0.4, 0.4, 0.4]).r2 == 1.0


# --- parameters changed ----------------------------------------------------------------
def test_parameter_change_on_a_small_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, tie_word_embeddings=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sizes = {k: v.numel() for k, v in before.items()}
    with torch.no_grad():
        model.model.embed_tokens.weight[0] += 1.0                     # 8 entries
        model.model.layers[0].self_attn.q_proj.weight[:2] += 0.1      # 16 entries
        model.model.layers[0].mlp.up_proj.weight.mul_(1 + 1e-7)       # within tolerance
        model.lm_head.weight[:, 0] -= 0.5                             # 32 entries
    change = d.parameter_change(before, model.state_dict())
    assert change.total == sum(sizes.values()) and change.changed == 8 + 16 + 32
    assert change.by_type["embedding"] == (8, 32 * 8)
    assert change.by_type["attention"][0] == 16 and change.by_type["mlp"][0] == 0
    assert change.by_type["norm"] == (0, 3 * 8) and change.by_type["head"] == (32, 32 * 8)
    metrics = change.to_metrics()
    assert metrics["params/changed"] == pytest.approx(56 / change.total)
    assert metrics["params/changed/head"] == pytest.approx(1 / 8)
    assert d.parameter_change(before, before).changed == 0
    with pytest.raises(ValueError, match="only before"):
        d.parameter_change(before, {k: v for k, v in before.items() if "norm" not in k})
