"""Acting reflection-first: an SR checkpoint prompted with `Reflection:` writes a
reflection, then `Action: <action>` on the next line, and the completion runs to that
line's end (a plain completion ends at its first newline)."""
from __future__ import annotations

from pathlib import Path

import pytest

from earlyexp.agents.actors import LMAgent
from earlyexp.agents.policy import Generation, completion_end
from earlyexp.agents.prompts import ACTION_TAG, REFLECTION_TAG, PromptFormat, State
from earlyexp.errors import ConfigError
from earlyexp.training.evaluate import EvalConfig
from earlyexp.training.rl import RLConfig

from .conftest import warmstart_config

EOS, NL = 0, 9   # ids of the hand-written sequences below


@pytest.mark.parametrize("pieces, stop_after, end", [
    (["go", " east", "\n", "x"], None, 3),                          # one line
    (["I", " think", "\n", "Action:", " go", "\n", "x"], None, 3),  # one line, whatever it says
    (["I", " think", "\n", "Action:", " go", "\n", "x"], ACTION_TAG, 6),
    (["I", " think", "\n", "more", "\n", "Action:", " go"], ACTION_TAG, 7),  # never ended
    (["I", " think", "<eos>", "Action:"], ACTION_TAG, 3),           # EOS always ends it
    (["I", " think", " Action: go", ".\n", "x"], ACTION_TAG, 4),     # the tag inside a piece
    (["I", "\nAction:", " go", "\n"], ACTION_TAG, 4),                # a newline before the tag
])
def test_completion_end_by_hand(pieces, stop_after, end):
    ids = [EOS if p == "<eos>" else NL if "\n" in p else 1 for p in pieces]
    assert completion_end(ids, {EOS, NL}, EOS, pieces, stop_after) == end


class ScriptedPolicy:
    """Test double for a model: returns fixed completions and records how it was asked."""

    max_positions = 512

    def __init__(self, text: str):
        self.text, self.calls = text, []

    def generate(self, prompts, n=1, temperature=1.0, max_new_tokens=32, stop_after=None):
        self.calls.append((prompts, stop_after))
        return [[Generation(self.text, [1, 2, 3], [-0.1] * 3, [0.5] * 3)] for _ in prompts]


STATE = State(goal="reach room 5", observation="You are in room 3.",
              admissible_actions=["go east", "go west"])


def test_reflect_first_prompts_with_the_reflection_tag_and_reads_the_action_line():
    policy = ScriptedPolicy("Going east reached room 4.\nAction: go east")
    decision, = LMAgent(policy, "generate", PromptFormat(), reflect_first=True).act([STATE], [{}])
    (prompt,), stop_after = policy.calls[0]
    assert prompt.endswith(REFLECTION_TAG) and stop_after == ACTION_TAG
    assert decision.action == "go east"
    plain = ScriptedPolicy("go west")
    assert LMAgent(plain, "generate", PromptFormat()).act([STATE], [{}])[0].action == "go west"
    assert plain.calls[0][0][0].endswith(ACTION_TAG) and plain.calls[0][1] is None


def test_a_reflection_without_its_action_line_is_no_action():
    policy = ScriptedPolicy("Going east reached room 4 and then the tokens ran ou")
    agent = LMAgent(policy, "generate", PromptFormat(), reflect_first=True)
    assert agent.act([STATE], [{}])[0].action is None


def test_reflect_first_needs_generate_mode_in_every_config():
    with pytest.raises(ConfigError, match="reflect_first"):
        LMAgent(ScriptedPolicy(""), "rank", PromptFormat(), reflect_first=True)
    with pytest.raises(ConfigError, match=r"eval\.reflect_first"):
        EvalConfig(mode="rank", reflect_first=True)
    with pytest.raises(ConfigError, match="reflect_first"):
        RLConfig(mode="rank", reflect_first=True)


@pytest.fixture(scope="module")
def sr_checkpoint(corridor_env, tmp_path_factory):
    """SR on its own corridor experience (one alternative per state): the tiny base model
    and its tokenizer are built from this method's data whatever other tests ran first."""
    from earlyexp.experience.collect import CollectConfig, collect
    from earlyexp.training.warmstart import warmstart
    experience = tmp_path_factory.mktemp("sr_experience")
    collect(CollectConfig(env=corridor_env, k=1, num_workers=0, out_dir=str(experience)))
    out = tmp_path_factory.mktemp("sr")
    return warmstart(warmstart_config(corridor_env, experience, out, "sr", steps=150))


@pytest.mark.slow
def test_an_sr_checkpoint_reflects_then_acts(sr_checkpoint, corridor_env):
    """The real model and tokenizer: greedy completions after `Reflection:` hold a
    reflection line and an `Action:` line, their token ids end with that line's newline
    (or EOS), and the action is one the corridor accepts; the tracker then splits their
    entropy into reasoning and action tokens."""
    from earlyexp.agents.hf_policy import load_policy
    from earlyexp.experience.diversity import reasoning_action_entropy, token_pieces

    env = corridor_env.make()
    states, infos = [], []
    for task in env.tasks("train")[:8]:
        obs, info = env.reset(options={"task_id": task})
        states.append(State(info["goal"], obs, [], info["admissible_actions"]))
        infos.append(info)
    policy = load_policy(sr_checkpoint, "cpu")
    agent = LMAgent(policy, "generate", corridor_env.prompt_format(), max_new_tokens=200,
                    reflect_first=True)
    decisions = agent.act(states, infos)
    acted = [(s, d) for s, d in zip(states, decisions) if d.action is not None]
    assert len(acted) >= 6, [d.completion for d in decisions]
    for state, d in acted:
        reflection, action_line = d.completion.rsplit(ACTION_TAG, 1)
        assert reflection.strip() and d.action == action_line.strip()
        assert d.action in state.admissible_actions
        last = policy.tokenizer.decode(d.token_ids[-1:])
        assert "\n" in last or d.token_ids[-1] == policy.tokenizer.eos_token_id
        assert len(d.token_ids) == len(d.logprobs) == len(d.entropies)
    split = reasoning_action_entropy((token_pieces(policy.tokenizer, d.token_ids), d.entropies)
                                     for _, d in acted)
    # the reflection is most of each completion: "Goal: ... So 'go east' is better ..."
    assert 0.5 < split["reasoning_token_fraction"] < 1
    assert split["reasoning_token_entropy"] >= 0 and split["action_token_entropy"] >= 0


def test_the_pipeline_lets_only_reflection_trained_warm_starts_reflect(
        corridor_env, tmp_path, monkeypatch):
    """`rl.reflect_first` / `eval.reflect_first` in a pipeline reach the SR warm-start's RL
    run and evaluation, and not IL's (which never saw a `Reflection:` prompt)."""
    from types import SimpleNamespace

    from earlyexp.agents import hf_policy
    from earlyexp.training import pipeline as pl

    ran, acted = {}, []

    def train_rl_double(cfg, **_):  # test double: records the config, trains nothing
        ran[Path(cfg.out_dir).name] = cfg.reflect_first
        return SimpleNamespace(checkpoint="unused")

    def evaluate_double(agent, env, cfg, on_episode=None):  # test double: runs no episode
        acted.append((agent.reflect_first, cfg.reflect_first))
        raise StopIteration

    monkeypatch.setattr(pl, "train_rl", train_rl_double)
    monkeypatch.setattr(pl, "evaluate", evaluate_double)
    monkeypatch.setattr(hf_policy, "load_policy", lambda *a, **k: ScriptedPolicy(""))
    cfg = pl.PipelineConfig(env=corridor_env, run_dir=str(tmp_path), methods=["il", "sr"],
                            rl=RLConfig(init="(set per warm-start)", mode="generate",
                                        reflect_first=True),
                            eval=EvalConfig(mode="generate", reflect_first=True))
    pipeline = pl.Pipeline(cfg)
    for method in ("il", "sr"):
        pipeline.reinforce(method, tmp_path / method)
        with pytest.raises(StopIteration):
            pipeline.evaluate(method, "before_rl", tmp_path / method)
    assert acted == [(False, False), (True, True)]
    assert ran == {"il": False, "sr": True}


def test_reflect_first_in_a_pipeline_without_reflecting_methods_is_refused(corridor_env, tmp_path):
    from earlyexp.training.pipeline import PipelineConfig
    with pytest.raises(ConfigError, match=r"rl\.reflect_first.*methods=\['il', 'iwm'\]"):
        PipelineConfig(env=corridor_env, run_dir=str(tmp_path), methods=["il", "iwm"],
                       rl=RLConfig(init="(set per warm-start)", mode="generate",
                                   reflect_first=True))
    with pytest.raises(ConfigError, match=r"rl_variants\.think\.reflect_first"):
        PipelineConfig(env=corridor_env, run_dir=str(tmp_path), methods=["il"],
                       rl=RLConfig(init="(set per warm-start)", mode="generate"),
                       rl_variants={"think": {"reflect_first": True}})

