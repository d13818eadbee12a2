"""Search metrics from the environment's own `search_query`, against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from earlyexp import envs
from earlyexp.envs.searchqa.actions import search_query
from earlyexp.experience import search_metrics as s
from earlyexp.experience.diversity import SEARCH_KEYS

GROUPS = [
    [["<search>Ada Lovelace born</search>", "<answer>1815</answer>"],
     ["<think>hmm</think><search>ada  lovelace born</search>", "<search>Lovelace father</search>",
      "<answer>x</answer>"]],
    [["<answer>Paris</answer>"], ["<search>Paris</search>", "<search>Paris</search>"]],
]
GOALS = ["When was Ada Lovelace born?", "What is the capital of France?"]


def vendi_by_hand(kernel: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(kernel / len(kernel))
    lam = lam[lam > 1e-12]
    return math.exp(-(lam * np.log(lam)).sum())


def test_every_search_metric_by_hand():
    out = s.search_metrics(GROUPS, search_query, goals=GOALS)
    assert set(out) == set(SEARCH_KEYS)
    assert out["search_calls_per_episode"] == pytest.approx(5 / 4)       # 1, 2, 0, 2
    assert out["unique_query_ratio"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # query words: ada lovelace born x2, lovelace father, paris x2 -> 5 distinct of 10
    assert out["query_distinct_1"] == pytest.approx(5 / 10)
    # bigrams: (ada lovelace), (lovelace born) x2, (lovelace father) -> 3 distinct of 5
    assert out["query_distinct_2"] == pytest.approx(3 / 5)
    # group 1: q1 = {ada, lovelace, born, ada_lovelace, lovelace_born} twice, q2 = {lovelace,
    # father, lovelace_father}: cosine 1/sqrt(15); group 2: one query twice -> Vendi 1
    c = 1 / math.sqrt(15)
    kernel = np.array([[1, 1, c], [1, 1, c], [c, c, 1]])
    assert out["query_vendi"] == pytest.approx((vendi_by_hand(kernel) + 1.0) / 2)
    # overlap with the question: 1, 1, 1/2 (lovelace of lovelace father), 0, 0
    assert out["query_question_overlap"] == pytest.approx(2.5 / 5)
    # searched then answered: episodes 1 and 2 of 4 (3 never searched, 4 ends searching)
    assert out["answer_after_search_rate"] == pytest.approx(2 / 4)
    ended = s.search_metrics(GROUPS, search_query, ended=[[True, False], [True, True]])
    assert ended["answer_after_search_rate"] == pytest.approx(1 / 4)
    assert "query_question_overlap" not in ended


def test_helpers_and_bad_input():
    assert s.episode_queries(["<search> A  b</search>", "<answer>a</answer>", "junk"],
                             search_query) == ["a b"]
    assert s.query_overlap("Ada born", "When was Ada Lovelace born?") == 1.0
    assert s.query_overlap("Ada's father", "Who was Ada?") == pytest.approx(1 / 3)  # ada, s, father
    assert s.query_overlap("...", "anything") == 0.0
    assert s.unique_query_ratio([["<answer>x</answer>"]], search_query) == 0.0
    assert s.search_calls_per_episode([], search_query) == 0.0
    assert s.answer_after_search_rate([[]], search_query) == 0.0
    empty = s.search_metrics([], search_query, goals=[])
    assert all(v == 0.0 for v in empty.values())
    with pytest.raises(ValueError, match="one question per group"):
        s.search_metrics(GROUPS, search_query, goals=["only one"])
    with pytest.raises(ValueError, match="one flag per episode"):
        s.answer_after_search_rate(GROUPS[0], search_query, ended=[True])


def test_webshop_declares_its_search_and_other_families_declare_none():
    shop = envs.make("webshop", **envs.spec("webshop").smoke_kwargs)
    try:
        assert shop.search_query("search[Red  Shoes]") == "Red Shoes"
        assert shop.search_query("SEARCH[x]") == "x"
        assert shop.search_query("click[Buy Now]") is None
        assert shop.search_query("search[]") is None and shop.search_query("junk") is None
        assert shop.action_template("click[B07XYZ]") == "click[_]"
        episodes = [["search[red shoes]", "click[B01]", "click[Buy Now]"],
                    ["search[Red shoes]", "search[blue shoes]"]]
        out = s.search_metrics([episodes], shop.search_query, goals=["I want red shoes"])
        assert out["unique_query_ratio"] == pytest.approx(2 / 3)
        assert out["answer_after_search_rate"] == pytest.approx(1 / 2)
        assert out["query_question_overlap"] == pytest.approx((1 + 1 + 0.5) / 3)
    finally:
        shop.close()
    base = envs.TextEnv()  # the contract's default: no search tool
    assert base.search_query("<search>x</search>") is None
    assert base.action_template("cd(folder='a')") == "cd(_)"
