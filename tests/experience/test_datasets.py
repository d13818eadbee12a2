"""Warm-start datasets under the one length budget: no prompt of any family loses its goal.

For every registered family, a little real experience is collected (two train tasks
of its smoke variant, K=2 alternatives, uniform sampler: admissible actions or the
family's proposer), a tokenizer is trained on it as the tiny model's would be, and
the IL / IWM / SR datasets are rendered with a budget barely above the longest goal.
The checks use the tokenizer's own ids on the final text, not the renderer's counts.
"""
from __future__ import annotations

import random

import pytest
from datasets import Dataset

import earlyexp.envs as envs
from earlyexp.agents.prompts import CUT_MARKER, LengthBudget, PromptFormat, State, token_counter
from earlyexp.agents.tiny_model import train_tokenizer
from earlyexp.experience.branching import UniformSampler, collect_task
from earlyexp.experience.datasets import (
    fit_to_length, il_rows, iwm_rows, reflect_all, sr_rows,
)
from earlyexp.experience.records import Transition
from earlyexp.experience.reflection import TemplateReflector
from earlyexp.training.config import compose_config

SLOW = {"scienceworld", "textworld"}  # a JVM start; game generation on a fresh cache
FAMILIES = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
            for name in envs.list_envs()]


def family_format(name: str) -> PromptFormat:
    return PromptFormat(**dict(compose_config("collect", [f"env={name}"]).env.get("prompt") or {}))


def small_experience(name: str):
    env = envs.make(name, **envs.spec(name).smoke_kwargs)
    try:
        transitions = []
        for task_id in env.tasks("train")[:2]:
            result = collect_task(env, task_id, 0, 2, UniformSampler(), random.Random(task_id))
            transitions += result.transitions
        return transitions
    finally:
        env.close()


@pytest.mark.parametrize("family", FAMILIES)
def test_no_prompt_in_any_dataset_loses_its_goal(family):
    transitions = small_experience(family)
    fmt = family_format(family)
    reflections = reflect_all(transitions, TemplateReflector())
    whole = [il_rows(transitions, fmt), iwm_rows(transitions, fmt), sr_rows(reflections, fmt)]
    tokenizer = train_tokenizer([p + c for rows in whole for p, c in
                                 zip(rows.prompts, rows.completions)], 1024)
    count = token_counter(tokenizer)
    longest_goal = max(count([f"Goal: {t.state.goal.strip()}" for t in transitions]))
    budget = LengthBudget(longest_goal + 160, 24, count)  # small: most prompts must give way
    datasets = [il_rows(transitions, fmt, budget), iwm_rows(transitions, fmt, budget=budget),
                sr_rows(reflections, fmt, budget)]
    experts = [t for t in transitions if t.is_expert
               and count([f" {t.action.strip()}"])[0] <= budget.max_new_tokens]
    assert datasets[0].too_long == sum(t.is_expert for t in transitions) - len(experts)
    # an action is never cut: every IL completion is its expert action, whole
    assert datasets[0].completions == [f" {t.action.strip()}" for t in experts]
    states = [[t.state for t in experts],
              [t.state for t in transitions], [r.state for r in reflections]]
    clipped = 0
    for rows, row_states in zip(datasets, states):
        assert len(rows.rendered) == len(row_states) > 0, rows.name
        prompt_ids = tokenizer(rows.prompts, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(rows.completions, add_special_tokens=False)["input_ids"]
        for state, rendered, p, c in zip(row_states, rows.rendered, prompt_ids, completion_ids):
            assert rendered.text.startswith(f"Goal: {state.goal.strip()}\n"), (rows.name, family)
            assert "goal" not in rendered.clipped
            assert len(p) + len(c) + 1 <= budget.max_positions  # + EOS: nothing left to truncate
            if rows.name == "IL":  # the room an acting agent's prompt gets
                assert len(p) <= budget.room
            if state.admissible_actions and fmt.show_admissible:
                assert "Admissible actions: " in rendered.text
            clipped += bool(rendered.clipped)
    assert clipped, f"{family}: the budget never bit; the test would prove nothing"


def per_row_fit_to_length(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    """The per-row implementation the batched one replaced (the reference)."""
    def trim(row):
        p_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        c_ids = c_ids[: max_length // 2] if len(c_ids) > max_length // 2 else c_ids
        room = max_length - len(c_ids) - 1
        return {"prompt": tokenizer.decode(p_ids[-room:]) if len(p_ids) > room else row["prompt"],
                "completion": tokenizer.decode(c_ids)}
    return dataset.map(trim)


def test_batched_fit_to_length_matches_the_per_row_reference():
    transitions = small_experience("household")
    fmt = family_format("household")
    rows = iwm_rows(transitions, fmt)
    tokenizer = train_tokenizer([p + c for p, c in zip(rows.prompts, rows.completions)], 512)
    dataset = Dataset.from_dict({"prompt": rows.prompts, "completion": rows.completions})
    for max_length in (48, 96, 4096):
        fast = fit_to_length(dataset, tokenizer, max_length)
        slow = per_row_fit_to_length(dataset, tokenizer, max_length)
        assert fast["prompt"] == slow["prompt"] and fast["completion"] == slow["completion"]


def words(texts):
    """A token counter with one token per whitespace-separated word (checkable by eye)."""
    return [len(t.split()) for t in texts]


def test_an_il_action_is_never_cut_and_one_the_policy_cannot_write_is_left_out():
    """A goal longer than the whole context (bfcl's function list at a small context) once
    left the action 1 token, and IL learnt to write the cut marker. Now the action stays
    whole and the prompt gives way; an action over max_new_tokens is counted and dropped."""
    goal = " ".join(f"fn{i}(x)" for i in range(80))             # 80 words > the context
    short, long = "call(a=1, b=2)", " ".join(["word"] * 30)    # 3 and 30 words
    rows = [Transition("e", "t", 0, i, State(goal, "an observation"), action, "next", True, 0)
            for i, action in enumerate([short, long])]
    budget = LengthBudget(64, 8, words)
    il = il_rows(rows, PromptFormat(), budget)
    assert il.completions == [f" {short}"] and il.too_long == 1
    assert CUT_MARKER.strip() not in il.completions[0]
    (prompt,) = il.prompts
    assert words([prompt])[0] + words(il.completions)[0] + 1 <= 64
