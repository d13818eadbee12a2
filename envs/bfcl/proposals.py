"""Alternative actions for branching without a trained policy (`sampler=uniform` on bfcl).

BFCL's action space is open, so there is no admissible list to draw from. The
proposer builds plausible non-expert actions from what the task itself holds:

- **perturbed arguments**: the expert's call with one argument replaced by
  another value of the same type;
- **other functions**: another available function, its required parameters
  filled from the schema's types;
- **ending the turn early** (`end_turn`) when the expert would make a call.

Values come from a pool gathered from the task: the literals of the expert's
call, of the current user request and of the backends' public state (file
names, user names, order ids, numbers). Every candidate is written as a
Python call with `repr` literals, so it parses with `calls.parse_action`; it
may still be refused or raise in the backend, which is an outcome worth
recording (the expert never shows one).
"""
from __future__ import annotations

import math
import random
import re
from typing import Any

from earlyexp.envs.bfcl.calls import END_TURN, ActionSyntaxError, parse_action

#: Strings longer than this are not argument material (file contents, tweets).
MAX_VALUE_CHARS = 40
#: How deep the backends' state is walked, and how many values of each type are kept.
MAX_DEPTH = 5
MAX_VALUES = 64
_QUOTED = re.compile(r"'([^']{1,40})'|\"([^\"]{1,40})\"")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def propose(docs: dict[str, dict[str, Any]], instances: dict[str, Any], request: str,
            expert_action: str | None, n: int, rng: random.Random) -> list[str]:
    """Up to `n` distinct candidate actions (the expert's own may be among them)."""
    pool = ValuePool.gather(instances, request, expert_action)
    expert = _single_call(expert_action)
    candidates: dict[str, None] = {}
    if expert_action not in (None, END_TURN):
        candidates[END_TURN] = None
    perturbations = [c for c in (_perturb(expert, docs, pool, rng) for _ in range(n)) if c]
    names = [name for name in docs if expert is None or name != expert.name]
    rng.shuffle(names)
    others = [c for c in (_call_with_defaults(docs[name], pool, rng) for name in names) if c]
    # Alternate the two kinds, so any prefix mixes near misses and different functions.
    for pair in zip(perturbations, others):
        candidates.update(dict.fromkeys(pair))
    candidates.update(dict.fromkeys(perturbations + others))
    return list(candidates)[:n]


class ValuePool:
    """Literal values found in the task, by Python type."""

    def __init__(self):
        self.values: dict[type, list[Any]] = {str: [], int: [], float: [], bool: [True, False]}

    @classmethod
    def gather(cls, instances: dict[str, Any], request: str, expert_action: str | None
               ) -> "ValuePool":
        pool = cls()
        call = _single_call(expert_action)
        if call is not None:
            for value in [*call.args, *call.kwargs.values()]:
                pool.add(value)
        for quoted in _QUOTED.findall(request):
            pool.add(quoted[0] or quoted[1])
        for number in _NUMBER.findall(request):
            pool.add(float(number) if "." in number else int(number))
        for instance in instances.values():
            pool.walk(instance, 0)
        return pool

    def add(self, value: Any) -> None:
        kind = type(value)
        if kind is str and not 0 < len(value) <= MAX_VALUE_CHARS:
            return
        if kind is float and not math.isfinite(value):
            return
        bucket = self.values.get(kind)
        if bucket is not None and value not in bucket and len(bucket) < MAX_VALUES:
            bucket.append(value)

    def walk(self, value: Any, depth: int) -> None:
        """Collect literals (dict keys included: file and user names) from backend state."""
        if depth > MAX_DEPTH:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                self.add(key)
                self.walk(item, depth + 1)
        elif isinstance(value, (list, tuple, set)):
            for item in list(value)[:MAX_VALUES]:
                self.walk(item, depth + 1)
        elif isinstance(value, (str, int, float, bool)):
            self.add(value)
        elif hasattr(value, "__dict__"):  # a backend object: its values, not attribute names
            public = [v for k, v in vars(value).items() if not k.startswith("_")]
            self.walk(public, depth)

    def draw(self, schema_type: str, rng: random.Random, avoid: Any = None) -> Any:
        """A value for a parameter of JSON-schema type `schema_type`, unlike `avoid`."""
        kinds = {"string": [str], "integer": [int], "float": [float, int], "number": [float, int],
                 "boolean": [bool], "array": [list], "dict": [dict], "object": [dict]}
        options = [v for kind in kinds.get(schema_type, [str]) for v in self._of(kind, rng)
                   if v != avoid]
        return rng.choice(options) if options else None

    def _of(self, kind: type, rng: random.Random) -> list[Any]:
        if kind is list:
            strings = self.values[str]
            return [[], [rng.choice(strings)]] if strings else [[]]
        if kind is dict:
            return [{}]
        return self.values.get(kind, [])


def _single_call(action: str | None):
    if not action or action == END_TURN:
        return None
    try:
        calls = parse_action(action)
    except ActionSyntaxError:
        return None
    return calls[0] if calls and len(calls) == 1 else None


def _perturb(call, docs: dict[str, dict[str, Any]], pool: ValuePool, rng: random.Random
             ) -> str | None:
    """The expert's call with one keyword argument replaced by another value of its type."""
    if call is None or not call.kwargs or call.name not in docs:
        return None
    properties = docs[call.name]["parameters"].get("properties", {})
    name = rng.choice(sorted(call.kwargs))
    value = pool.draw(properties.get(name, {}).get("type", "string"), rng, call.kwargs[name])
    if value is None:
        return None
    return _format(call.name, {**call.kwargs, name: value})


def _call_with_defaults(doc: dict[str, Any], pool: ValuePool, rng: random.Random) -> str | None:
    """A call of `doc`'s function with each required parameter drawn from the pool."""
    properties = doc["parameters"].get("properties", {})
    arguments = {}
    for name in doc["parameters"].get("required", []):
        value = pool.draw(properties.get(name, {}).get("type", "string"), rng)
        if value is None:
            return None
        arguments[name] = value
    return _format(doc["name"], arguments)


def _format(name: str, arguments: dict[str, Any]) -> str | None:
    """The call as the agent would write it, or None if it would not parse (never expected:
    every value is a literal whose repr is one)."""
    text = f"{name}({', '.join(f'{key}={value!r}' for key, value in arguments.items())})"
    try:
        parse_action(text)
    except ActionSyntaxError:
        return None
    return text
