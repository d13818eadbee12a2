"""The action language: one Python-style call per action, parsed with `ast` (never run).

    search_flights(origin="Austin", destination="Denver", date="2022-03-16")
    set_dinner(day=1, name="The Golden Spoon", city="Denver")

Arguments are literals (strings, and an integer `day`), given by keyword or in
the order of the signature. `parse_action` turns a string into a `Call` or
raises `ActionError` with a message for the agent; the env turns that into an
invalid-action observation.
"""
from __future__ import annotations

import ast
import difflib
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

#: Longer actions are rejected before parsing (the action space allows 512 characters).
MAX_SOURCE_CHARS = 1000


@dataclass(frozen=True)
class Signature:
    params: tuple[str, ...]
    required: tuple[str, ...]
    help: str


_PLACE = Signature(("day", "name", "city"), ("day", "name"),
                   'put a place of that city into the day (name "-" clears the slot)')
TOOLS: dict[str, Signature] = {
    "search_cities": Signature(("state",), ("state",), "the cities of a state"),
    "search_flights": Signature(("origin", "destination", "date"),
                                ("origin", "destination", "date"),
                                "flights of one route on one date (YYYY-MM-DD)"),
    "search_distance": Signature(("origin", "destination", "mode"), ("origin", "destination"),
                                 "self-driving and taxi distance, time and cost "
                                 "(mode optional)"),
    "search_accommodations": Signature(("city",), ("city",), "accommodations of a city"),
    "search_restaurants": Signature(("city",), ("city",), "restaurants of a city"),
    "search_attractions": Signature(("city",), ("city",), "attractions of a city"),
    "set_transportation": Signature(("day", "mode", "origin", "destination", "flight"),
                                    ("day", "mode"),
                                    'mode is flight, self-driving or taxi ("-" clears the slot); '
                                    "flight is the flight number"),
    "set_breakfast": _PLACE, "set_attraction": _PLACE, "set_lunch": _PLACE,
    "set_dinner": _PLACE, "set_accommodation": _PLACE,
    "view_plan": Signature((), (), "show the plan so far and its cost"),
    "submit": Signature((), (), "submit the plan for evaluation (ends the episode)"),
}


class ActionError(ValueError):
    """Raised when an action is not a well-formed call of a known tool."""


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The canonical spelling: keyword arguments in signature order, JSON-quoted strings."""
        params = TOOLS[self.name].params
        parts = [f"{key}={format_literal(self.args[key])}" for key in params if key in self.args]
        return f"{self.name}({', '.join(parts)})"


def format_literal(value: Any) -> str:
    # JSON string syntax is also a valid Python string literal for printable text.
    return json.dumps(value) if isinstance(value, str) else str(value)


def parse_action(text: str) -> Call:
    """Parse one action; raises `ActionError` saying what is wrong and how to write it."""
    if len(text) > MAX_SOURCE_CHARS:
        raise ActionError(f"the action is {len(text)} characters long; the limit is "
                          f"{MAX_SOURCE_CHARS}.")
    try:
        with warnings.catch_warnings():
            # An agent's "\l" in a string is its problem, not a warning in our logs.
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ActionError(f"it is not a function call ({type(error).__name__}). Write one "
                          'call such as search_restaurants(city="Denver").') from None
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ActionError('it is not a function call. Write one call such as '
                          'search_restaurants(city="Denver").')
    name = node.func.id
    if name not in TOOLS:
        hint = difflib.get_close_matches(name, TOOLS, n=1)
        raise ActionError(f"there is no tool {name!r}." + (f" Did you mean {hint[0]!r}?" if hint
                          else f" Tools: {', '.join(TOOLS)}."))
    return Call(name, _bind(name, node))


def usage(name: str) -> str:
    return f"{name}({', '.join(TOOLS[name].params)})"


def _bind(name: str, node: ast.Call) -> dict[str, Any]:
    signature = TOOLS[name]
    if len(node.args) > len(signature.params):
        raise ActionError(f"{name} takes at most {len(signature.params)} arguments, got "
                          f"{len(node.args)}. Usage: {usage(name)}.")
    args = {param: _literal(name, param, value)
            for param, value in zip(signature.params, node.args)}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ActionError(f"{name} does not accept **arguments.")
        if keyword.arg not in signature.params:
            hint = difflib.get_close_matches(keyword.arg, signature.params, n=1)
            raise ActionError(f"{name} has no argument {keyword.arg!r}"
                              + (f"; did you mean {hint[0]!r}?" if hint else "")
                              + f". Usage: {usage(name)}.")
        if keyword.arg in args:
            raise ActionError(f"{name} got the argument {keyword.arg!r} twice.")
        args[keyword.arg] = _literal(name, keyword.arg, keyword.value)
    missing = [param for param in signature.required if param not in args]
    if missing:
        raise ActionError(f"{name} is missing {', '.join(missing)}. Usage: {usage(name)}.")
    return args


def _literal(name: str, param: str, node: ast.expr) -> Any:
    value = node.value if isinstance(node, ast.Constant) else None
    if param == "day":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(f"{name}: day must be a whole number such as 2.")
        return value
    if not isinstance(value, str):
        raise ActionError(f"{name}: {param} must be a quoted string.")
    return value.strip()
