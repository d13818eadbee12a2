"""BFCL's multi-turn checker, turn by turn, reproduced on our own executor.

The reference of a task is the ground truth replayed on fresh backend
instances built from the task's initial configuration: after each turn, the
public state of every instance and the results of that turn's calls. At the
end of each turn the agent's instances are judged against it with the
semantics of bfcl-eval's official multi-turn scoring (`multi_turn_checker`,
as its `eval_runner` calls it; `tests/envs/test_bfcl.py` runs it beside
this module and requires identical verdicts):

* a turn whose ground truth is empty is not checked: its calls run (their
  state and results carry into the next turns) and the turn passes. With
  `strict_irrelevance`, such a turn fails instead when the agent made any call
  in it: the rule of bfcl-eval's `multi_turn_irrelevance_checker`, which the
  official scoring imports but never calls. As in that function, where any
  decoded call counts, a call the environment refused (unknown function,
  arguments that do not bind) counts too;
* any other turn fails if the agent made no call in it; otherwise every
  public attribute (name not starting with `_`) of every ground-truth
  instance must equal the agent's (BFCL's state check), and the results of
  the turn's ground-truth calls must all appear, as a multiset and in any
  order, among the results of every call the agent made so far, in any turn
  (BFCL's response check).

A task succeeds when all its turns pass; BFCL stops at the first failure.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from earlyexp.envs.bfcl.backend import Toolbox, build_instances, public_state
from earlyexp.envs.bfcl.calls import parse_action
from earlyexp.envs.bfcl.data import load_task

_MISSING = object()


@dataclass(frozen=True)
class TurnReference:
    """What the ground truth of one turn does, replayed from the initial configuration."""

    calls: tuple[str, ...]
    states: dict[str, dict[str, Any]]  # class name -> public attributes after the turn
    results: tuple[str, ...]           # one result text per ground-truth call


@dataclass(frozen=True)
class TurnVerdict:
    """Whether a turn passed and, if not, which of BFCL's checks it failed."""

    passed: bool
    check: str = ""   # "irrelevance", "empty_turn", "state" or "response"
    detail: str = ""


@lru_cache(maxsize=512)
def reference(task_id: str) -> tuple[TurnReference, ...]:
    """Replay the ground truth of `task_id` turn by turn on fresh instances (cached, read-only)."""
    task = load_task(task_id)
    instances = build_instances(task)
    toolbox = Toolbox(task)  # the ground truth may use every function, held out or not
    turns = []
    for calls in task.ground_truth:
        results = []
        for text in calls:
            for call in parse_action(text) or ():
                results.append(toolbox.execute(instances, call)[0])
        # One deepcopy of all states keeps objects shared between attributes shared.
        states = copy.deepcopy({name: public_state(obj) for name, obj in instances.items()})
        turns.append(TurnReference(tuple(calls), states, tuple(results)))
    return tuple(turns)


def check_turn(expected: TurnReference, instances: dict[str, Any], made_call: bool,
               results_so_far: list[str], *, strict_irrelevance: bool = False) -> TurnVerdict:
    """Judge the agent's instances and results at the end of a turn (see the module docstring).

    `strict_irrelevance` fails a turn with empty ground truth in which a call was made;
    by default such a turn passes, as in bfcl-eval's official scoring.
    """
    if not expected.calls:
        if made_call and strict_irrelevance:
            return TurnVerdict(False, "irrelevance", "calls were made for a request that the "
                               "available functions and information cannot serve")
        return TurnVerdict(True)
    if not made_call:
        return TurnVerdict(False, "empty_turn", "the turn ended without any function call")
    differences = state_differences(expected.states, instances)
    if differences:
        return TurnVerdict(False, "state", "state differs from the expected outcome in "
                           + ", ".join(differences))
    missing = missing_results(expected.results, results_so_far)
    if missing:
        return TurnVerdict(False, "response", f"{len(missing)} expected result(s) never "
                           f"returned, e.g. {missing[0][:120]!r}")
    return TurnVerdict(True)


def state_differences(expected: dict[str, dict[str, Any]], instances: dict[str, Any]) -> list[str]:
    """`Class.attribute` for every expected public attribute whose value the agent's lacks."""
    differences = []
    for class_name, attributes in expected.items():
        instance = instances[class_name]
        for name, value in attributes.items():
            if getattr(instance, name, _MISSING) != value:
                differences.append(f"{class_name}.{name}")
    return differences


def missing_results(expected: tuple[str, ...], produced: list[str]) -> list[str]:
    """Expected results not covered by `produced`, counting duplicates (order is free)."""
    available = Counter(produced)
    missing = []
    for result in expected:
        if available[result] > 0:
            available[result] -= 1
        else:
            missing.append(result)
    return missing
