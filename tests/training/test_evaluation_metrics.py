"""Evaluation logs every tracker metric: by hand on built episodes, then through `evaluate`."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from earlyexp import envs
from earlyexp.agents.actors import ExpertAgent, LMAgent, RandomAgent
from earlyexp.envs.searchqa.actions import action_template, search_query
from earlyexp.experience.collect import EnvConfig
from earlyexp.experience.diversity import SEARCH_KEYS, split_at_action, token_pieces
from earlyexp.training.evaluate import (
    EvalConfig, Episode, Turn, evaluate, evaluation_metrics, run_episodes,
)


def generated(entropies, completion="x"):
    return SimpleNamespace(scores=None, token_ids=list(range(len(entropies))),
                           logprobs=[-1.0] * len(entropies), entropies=list(entropies),
                           completion=completion)


def episode(task, actions, success, entropies):
    e = Episode(task, 0, list(actions), success)
    e.turns = [Turn(generated(h), 0.0, True, "") for h in entropies]
    e.terminated = True   # each ended on its own last action
    return e


def test_evaluation_metrics_by_hand():
    episodes = [
        episode("A", ["<search>Ada born</search>", "<answer>1815</answer>"], True, [[0.5], [1.5]]),
        episode("A", ["<answer>x</answer>"], False, [[1.0]]),
        episode("B", ["<answer>y</answer>"], False, [[2.0]]),
        episode("B", ["<answer>y</answer>"], False, [[2.0]]),
    ]
    out = evaluation_metrics(episodes, temperature=1.0, search_query=search_query,
                             template=action_template)
    assert out["success"] == 0.25 and out["pass@1"] == 0.25
    assert out["pass@2"] == pytest.approx((1.0 + 0.0) / 2) and "pass@4" not in out
    assert out["policy_entropy"] == out["policy_entropy/token"] == pytest.approx(7.0 / 5)
    assert out["entropy"] == pytest.approx(7.0 / 5)
    assert out["unique_trajectory_ratio"] == pytest.approx((1.0 + 0.5) / 2)
    assert out["search_calls_per_episode"] == pytest.approx(1 / 4)
    assert out["unique_query_ratio"] == 1.0                       # only task A searched, once
    assert out["answer_after_search_rate"] == pytest.approx(1 / 4)
    # answers are one template, the search another: H(1/5, 4/5) over the five actions
    p = np.array([0.2, 0.8])
    assert out["template_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert "reasoning_token_entropy" not in out                    # no tokenizer given
    no_search = evaluation_metrics(episodes, temperature=1.0)
    assert not set(SEARCH_KEYS) & set(no_search)
    # the default template masks no tags: four distinct actions, "y" twice
    q = np.array([0.2, 0.2, 0.2, 0.4])
    assert no_search["template_entropy"] == pytest.approx(-(q * np.log(q)).sum())
    greedy = evaluation_metrics(episodes, temperature=0.0)        # a deterministic policy
    assert greedy["policy_entropy"] == 0.0 and greedy["entropy"] == pytest.approx(7.0 / 5)


def test_reasoning_tokens_are_split_with_the_policy_tokenizer():
    from earlyexp.agents.tiny_model import train_tokenizer

    text = "the key is in room two. Action: right"
    tokenizer = train_tokenizer([text, "Action: left"] * 20, 300)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    values = [float(i) for i in range(len(ids))]
    e = Episode("A", 0, ["right"], True)
    decision = SimpleNamespace(scores=None, token_ids=ids, logprobs=[-1.0] * len(ids),
                               entropies=values, completion=text)
    e.turns = [Turn(decision, 1.0, True, "")]
    out = evaluation_metrics([e], temperature=1.0, tokenizer=tokenizer)
    reasoning, action = split_at_action(token_pieces(tokenizer, ids), values)
    assert 0 < len(action) < len(ids)
    assert out["reasoning_token_entropy"] == pytest.approx(np.mean(reasoning))
    assert out["action_token_entropy"] == pytest.approx(np.mean(action))


def test_evaluate_logs_search_metrics_for_a_search_family(tmp_path, monkeypatch):
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    env = EnvConfig("searchqa", envs.spec("searchqa").smoke_kwargs)
    result = evaluate(ExpertAgent(), env, EvalConfig(split="test", num_tasks=4, seeds=2))
    summary = result.summary()
    assert set(SEARCH_KEYS) - {"query_question_overlap"} <= set(summary)
    assert summary["answer_after_search_rate"] == 1.0    # the expert searches, then answers
    assert summary["search_calls_per_episode"] == pytest.approx(
        np.mean([e.length - 1 for e in result.episodes]))
    assert summary["unique_query_ratio"] == pytest.approx(0.5)  # two identical samples per task
    assert summary["pass@2"] == summary["success"] == 1.0 and "pass@4" not in summary
    assert summary["unique_trajectory_ratio"] == pytest.approx(0.5)
    assert all(not e.turns for e in result.episodes)     # turns are not kept in memory


def test_rank_mode_entropy_is_the_candidate_softmax(il_checkpoint, corridor_env):
    from earlyexp.agents.hf_policy import load_policy

    agent = LMAgent(load_policy(il_checkpoint), "rank", corridor_env.prompt_format(),
                    temperature=1.5, seed=0)
    jobs = [(t, 1000 + i) for t in ("test-0", "test-1") for i in range(2)]
    episodes = run_episodes(agent, corridor_env.make, jobs, num_envs=4, keep_turns=True)
    out = evaluation_metrics(episodes, temperature=1.5)
    reference = []
    for d in (t.decision for e in episodes for t in e.turns):
        z = np.asarray(d.scores, dtype=np.float64) / 1.5
        logp = z - z.max() - math.log(np.exp(z - z.max()).sum())
        reference.append(-(np.exp(logp) * logp).sum())
    assert out["policy_entropy"] == out["policy_entropy/choice"] == pytest.approx(
        np.mean(reference))
    assert "entropy" not in out and not set(SEARCH_KEYS) & set(out)  # corridor has no search
    random = evaluate(RandomAgent(0), corridor_env, EvalConfig(split="test", num_tasks=3))
    assert "policy_entropy" not in random.summary() and "vendi" in random.summary()
