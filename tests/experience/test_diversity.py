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


# --- pass@k ladder, templates, acting-policy entropy, planning vs execution ---------------
def test_pass_k_ladder_doubles_up_to_the_group_size():
    assert d.pass_k_ladder(4) == [1, 2, 4] and d.pass_k_ladder(6) == [1, 2, 4, 6]
    assert d.pass_k_ladder(32, cap=16) == [1, 2, 4, 8, 16] and d.pass_k_ladder(3, 16) == [1, 2, 3]
    assert d.pass_k_ladder(1) == [1] and d.pass_k_ladder(0) == []


def test_template_entropy_masks_arguments():
    actions = ["cd(folder='a')", "CD(folder='b')", "ls()", "go to shelf 3", "go to  shelf 14"]
    # templates: cd(_) x2, ls(_) x1, "go to shelf #" x2 -- while every action differs
    assert d.template_entropy(actions) == pytest.approx(H(0.4, 0.2, 0.4))
    assert d.action_entropy(actions) == pytest.approx(math.log(5))
    assert d.template_entropy(["click[Buy Now]", "click[B07X]", "search[red shoes 10]"]) == \
        pytest.approx(H(2 / 3, 1 / 3))
    assert d.template_entropy(actions, template=lambda a: "same") == 0.0
    assert d.template_entropy([]) == 0.0


def test_policy_entropy_of_ranked_and_generated_decisions():
    from types import SimpleNamespace as Decision

    ln3 = math.log(3)
    ranked = Decision(scores=[0.0, 2 * ln3], entropies=[], logprobs=[-0.1], token_ids=[])
    given = Decision(scores=[0.0, 1.0], entropies=[0.3], logprobs=[-0.1], token_ids=[])
    out = d.policy_entropy([ranked, given], temperature=2.0)  # softmax((0, ln 3)) = (1/4, 3/4)
    assert out["policy_entropy/choice"] == pytest.approx((H(0.25, 0.75) + 0.3) / 2)
    assert out["policy_entropy"] == out["policy_entropy/choice"]
    assert d.policy_entropy([ranked], temperature=0.0)["policy_entropy"] == 0.0  # argmax
    exact = Decision(scores=None, entropies=[1.0, 2.0], logprobs=[-5.0, -5.0], token_ids=[7, 8])
    sampled = Decision(scores=None, logprobs=[-1.0, -3.0], token_ids=[7, 8])  # no entropies
    out = d.policy_entropy([exact, sampled], temperature=1.0)
    assert out == {"policy_entropy/token": pytest.approx(1.75),
                   "policy_entropy": pytest.approx(1.75)}
    mixed = d.policy_entropy([ranked, exact], temperature=2.0)
    assert mixed["policy_entropy"] == mixed["policy_entropy/choice"] == pytest.approx(
        H(0.25, 0.75)) and mixed["policy_entropy/token"] == pytest.approx(1.5)
    assert d.policy_entropy([sampled], temperature=0.0)["policy_entropy"] == 0.0
    assert d.policy_entropy([], temperature=1.0) == {}


def test_split_at_action_by_hand():
    pieces = ["I", " think", ". Act", "ion:", " go", " north"]
    assert d.split_at_action(pieces, [1, 2, 3, 4, 5, 6]) == ([1, 2, 3, 4], [5, 6])
    assert d.split_at_action(["go", " north"], [1, 2]) == ([], [1.0, 2.0])  # no reasoning
    twice = ["Action:", " a", " Action:", " b"]   # the last marker counts
    assert d.split_at_action(twice, [1, 2, 3, 4]) == ([1, 2, 3], [4])
    out = d.reasoning_action_entropy([(pieces, [1, 2, 3, 4, 5, 6]), (["go"], [9])])
    assert out == {"reasoning_token_entropy": pytest.approx(2.5),
                   "action_token_entropy": pytest.approx((5 + 6 + 9) / 3),
                   "reasoning_token_fraction": pytest.approx(4 / 7)}
    assert d.reasoning_action_entropy([]) == {}
    with pytest.raises(ValueError, match="one value per token"):
        d.split_at_action(pieces, [1.0])


def test_reasoning_split_with_a_real_tokenizer_matches_its_offsets():
    from earlyexp.agents.tiny_model import train_tokenizer

    text = "The key opens the chest, so take it first. Action: take brass key"
    tokenizer = train_tokenizer([text, "open the chest", "Action: go north"] * 20, 320)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = d.token_pieces(tokenizer, ids)
    assert "".join(pieces) == text and len(pieces) == len(ids)
    # reference: the tokenizer's own character offsets of each token in the text
    spans = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    action_from = text.rindex("Action:") + len("Action:")
    values = list(np.arange(len(ids), dtype=float))
    expected_action = [v for v, (start, _) in zip(values, spans["offset_mapping"])
                       if start >= action_from]
    reasoning, action = d.split_at_action(pieces, values)
    assert action == expected_action and len(reasoning) + len(action) == len(ids)
    assert 0 < len(action) < len(ids)


# --- all at once -----------------------------------------------------------------
def test_diversity_metrics_collects_everything_without_nan():
    from earlyexp.envs.searchqa.actions import search_query

    groups = [[["a", "b"], ["a", "c"]], [["x"], ["x"]]]
    out = d.diversity_metrics(groups, [[True, False], [False, False]], ks=(1, 2),
                              token_entropies=[0.5, 1.5], search_query=search_query)
    assert out["unique_trajectory_ratio"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["vendi"] == pytest.approx((d.vendi_score(groups[0]) + 1.0) / 2)
    assert out["success"] == 0.25 and out["pass@1"] == 0.25 and out["pass@2"] == 0.5
    assert out["entropy"] == 1.0 and out["search_calls_per_episode"] == 0.0
    assert out["template_entropy"] == pytest.approx(d.action_entropy(["a", "b", "a", "c", "x",
                                                                      "x"]))
    assert set(out) - {"pass@1", "pass@2"} <= set(d.METRICS)
    assert set(d.SEARCH_KEYS) - {"query_question_overlap"} <= set(out)
    assert "query_question_overlap" not in out  # needs the questions
    empty = d.diversity_metrics([[], []], [[], []], ks=(1,), token_entropies=[],
                                search_query=search_query, goals=["q", "r"])
    assert all(v == 0.0 for v in empty.values()) and set(d.SEARCH_KEYS) <= set(empty)
    no_search = d.diversity_metrics(groups)
    assert not set(d.SEARCH_KEYS) & set(no_search)  # the env declared no searches
    words = d.diversity_metrics([[["<search>red shoes</search>"], ["<search>red boots</search>"]]],
                                unit="word")
    assert words["distinct_1"] == pytest.approx(3 / 4)  # <search>red, shoes</search>, ...
    identical = d.diversity_metrics([[["go"]] * 3])
    assert identical["vendi"] == 1.0 and identical["action_entropy"] == 0.0
    with pytest.raises(ValueError, match="parallel"):
        d.diversity_metrics(groups, [[True]])
