"""The action language: one Python-style call per action, parsed with `ast` (never run).

    search_flights(origin="Austin", destination="Denver", date="2022-03-16")
    set_dinner(day=1, name="The Golden Spoon", city="Denver")

Arguments are literals (strings, and an integer `day`), given by keyword or in
the order of the signature. `parse_action` reads the call with the shared
parser (`earlyexp.envs.toolcalls`, whose rules and length limit every
call-language family shares), binds it to the tool's signature and returns a
`Call`, or raises `ActionError` with a message for the agent; the env turns
that into an invalid-action observation.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from earlyexp.envs.toolcalls import ToolCall, ToolCallError, parse_call


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


#: The shared parser's error, under the name this family's env and tests catch.
ActionError = ToolCallError


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
    parsed = parse_call(text)
    if parsed.name not in TOOLS:
        hint = difflib.get_close_matches(parsed.name, TOOLS, n=1)
        raise ActionError(f"there is no tool {parsed.name!r}." + (
            f" Did you mean {hint[0]!r}?" if hint else f" Tools: {', '.join(TOOLS)}."))
    return Call(parsed.name, _bind(parsed))


def usage(name: str) -> str:
    return f"{name}({', '.join(TOOLS[name].params)})"


def _bind(parsed: ToolCall) -> dict[str, Any]:
    name, signature = parsed.name, TOOLS[parsed.name]
    if len(parsed.args) > len(signature.params):
        raise ActionError(f"{name} takes at most {len(signature.params)} arguments, got "
                          f"{len(parsed.args)}. Usage: {usage(name)}.")
    args = {param: _checked(name, param, value)
            for param, value in zip(signature.params, parsed.args)}
    for key, value in parsed.kwargs.items():
        if key not in signature.params:
            hint = difflib.get_close_matches(key, signature.params, n=1)
            raise ActionError(f"{name} has no argument {key!r}"
                              + (f"; did you mean {hint[0]!r}?" if hint else "")
                              + f". Usage: {usage(name)}.")
        if key in args:
            raise ActionError(f"{name} got the argument {key!r} twice.")
        args[key] = _checked(name, key, value)
    missing = [param for param in signature.required if param not in args]
    if missing:
        raise ActionError(f"{name} is missing {', '.join(missing)}. Usage: {usage(name)}.")
    return args


def _checked(name: str, param: str, value: Any) -> Any:
    if param == "day":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(f"{name}: day must be a whole number such as 2.")
        return value
    if not isinstance(value, str):
        raise ActionError(f"{name}: {param} must be a quoted string.")
    return value.strip()
