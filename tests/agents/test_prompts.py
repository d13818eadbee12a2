"""The prompt renderer: its format, and fitting a token budget without losing the task.

Budgets are checked with two counters the renderer knows nothing about: whitespace
words (an additive count, so the expected prompt can be worked out by hand) and
a byte-level BPE tokenizer trained here (the embedded model's tokenizer), whose
own ids are re-counted on the final text.
"""
from __future__ import annotations

import math

import pytest

from earlyexp.agents.prompts import (
    CUT_MARKER, PromptFormat, PromptRenderer, State, clip_middle, parse_action, render,
    token_counter,
)


def words(texts):
    return [len(t.split()) for t in texts]


def corridor_state(steps: int = 4, observation: str = "You are in room four.") -> State:
    history = [{"observation": f"You are in room {i}.", "action": f"go {i}"} for i in range(steps)]
    return State("Open the red door.", observation, history, ["left", "right", "open door"])


def test_render_without_budget_is_the_documented_format():
    text = render(corridor_state(2), PromptFormat(history=1))
    assert text == ("Goal: Open the red door.\n"
                    "Observation: You are in room 1.\nAction: go 1\n"
                    "Observation: You are in room four.\n"
                    "Admissible actions: left | right | open door\n"
                    "Action:")


def test_history_goes_first_oldest_turn_first():
    state = corridor_state(4)
    fmt = PromptFormat(history=4)
    whole = words([render(state, fmt)])[0]
    # each shown step is "Observation: You are in room i.\nAction: go i" = 9 words
    rendered = PromptRenderer(fmt, words).render(state, whole - 10)
    assert rendered.tokens == whole - 18 and rendered.dropped_steps == 2
    assert "room 0." not in rendered.text and "room 1." not in rendered.text
    assert "room 2." in rendered.text and "room 3." in rendered.text
    assert rendered.clipped == {"history"}


def test_then_the_observation_loses_its_middle_with_a_marker():
    long = "START " + " ".join(f"w{i}" for i in range(300)) + " END"
    state = corridor_state(2, long)
    rendered = PromptRenderer(PromptFormat(history=2, max_observation_chars=100_000),
                              words).render(state, 60)
    assert rendered.tokens <= 60 and rendered.dropped_steps == 2
    assert rendered.clipped == {"history", "observation"}
    observation = rendered.text.split("Observation: ", 1)[1].split("\nAdmissible", 1)[0]
    assert observation.startswith("START w0") and observation.endswith("w299 END")
    assert CUT_MARKER.strip() in observation
    assert rendered.text.startswith("Goal: Open the red door.\n")
    assert "Admissible actions: left | right | open door\nAction:" in rendered.text


def test_family_pins_stay_when_history_goes():
    history = [{"observation": "Policy: be kind. User: I want a refund.", "action": "ask"},
               {"observation": "User (request 2): rename the file.", "action": "ls()"},
               {"observation": "a.txt b.txt", "action": "pwd()"},
               {"observation": "/home", "action": "cd(folder='x')"}]
    state = State("Serve the user.", "done", history, None)
    fmt = PromptFormat(history=1, keep_first_observation=50, keep_latest=r"^User \(request")
    text = render(state, fmt)
    assert text == ("Goal: Serve the user.\n"
                    "Context: Policy: be kind. User: I want a refund.\n"
                    "Observation: User (request 2): rename the file.\nAction: ls()\n"
                    "Observation: /home\nAction: cd(folder='x')\n"
                    "Observation: done\nAction:")
    # a budget that only fits without the last shown step: the pinned ones stay
    rendered = PromptRenderer(fmt, words).render(state, words([text])[0] - 3)
    assert "rename the file" in rendered.text and "Policy: be kind" in rendered.text
    assert "cd(folder='x')" not in rendered.text and rendered.clipped == {"history"}


def test_admissible_list_keeps_a_prefix_and_says_how_many_more():
    actions = [f"take item{i}" for i in range(100)]
    state = State("Take item7.", "A room.", [], actions)
    rendered = PromptRenderer(PromptFormat(), words).render(state, 60)
    assert rendered.tokens <= 60 and "admissible" in rendered.clipped
    shown = rendered.text.split("Admissible actions: ", 1)[1].split("\n")[0].split(" | ")
    more = int(shown[-1].removeprefix("(... ").removesuffix(" more)"))
    assert shown[:-1] == actions[:len(shown) - 1] and more == 100 - (len(shown) - 1)
    assert "Goal: Take item7." in rendered.text


def test_goal_is_clipped_only_when_it_alone_exceeds_the_budget():
    state = State(" ".join(f"g{i}" for i in range(80)), "obs", [], None)
    rendered = PromptRenderer(PromptFormat(), words).render(state, 30)
    assert rendered.tokens <= 30 and "goal" in rendered.clipped
    assert rendered.text.startswith("Goal: g0 g1") and "g79" in rendered.text


def test_non_additive_counter_is_refitted_to_the_budget():
    # characters / 3, rounded up, on the whole text: parts do not add up to the whole
    def thirds(texts):
        return [math.ceil(len(t) / 3) for t in texts]
    state = corridor_state(6, "x" * 900)
    for budget in (40, 90, 200):
        rendered = PromptRenderer(PromptFormat(history=6), thirds).render(state, budget)
        assert thirds([rendered.text])[0] <= budget, budget
        assert "Goal: Open the red door." in rendered.text


@pytest.fixture(scope="module")
def bpe():
    from earlyexp.agents.tiny_model import train_tokenizer
    texts = [render(corridor_state(i, f"You see {i} chairs and a table.")) for i in range(20)]
    return train_tokenizer(texts, 400)


def test_real_tokenizer_budget_holds_under_its_own_ids(bpe):
    fmt = PromptFormat(history=8)
    renderer = PromptRenderer.for_tokenizer(fmt, bpe)
    states = [corridor_state(n, "A long hall. " * 40) for n in range(8)]
    for budget in (48, 80, 160):
        for rendered in renderer.render_all(states, budget):
            ids = bpe(rendered.text, add_special_tokens=False)["input_ids"]
            assert len(ids) == rendered.tokens <= budget
            assert rendered.text.startswith("Goal: Open the red door.\n")
            assert rendered.text.endswith("\nAction:") and "Admissible actions: left" in rendered.text
            if budget >= 80:  # room for the whole list once the observation is at its floor
                assert "Admissible actions: left | right | open door\n" in rendered.text
    assert token_counter(bpe)(["", "Goal:"])[0] == 0


def test_budget_needs_a_counter_and_format_is_checked():
    with pytest.raises(ValueError, match="token counter"):
        render(corridor_state(), budget=10)
    with pytest.raises(ValueError, match="keep_latest"):
        PromptFormat(keep_latest="(")


def test_clip_middle_keeps_both_ends():
    assert clip_middle("abcdefghij", 4) == "ab" + CUT_MARKER + "ij"
    assert clip_middle("abc", 4) == "abc"


def test_parse_action():
    assert parse_action(" go north\nmore") == "go north"
    assert parse_action("think\nAction: open door") == "open door"
    assert parse_action("   ") is None
