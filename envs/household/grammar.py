"""ALFWorld's command grammar: parse text into a `Command` and print a `Command` back.

Every entity is named `<type> <number>` (`cabinet 3`, `apple 1`). Parsing is a
fixed set of anchored regular expressions over the lower-cased, whitespace-
collapsed text; nothing is evaluated. `put` accepts ALFWorld's literal
`in/on` as well as plain `in` or `on`; the canonical form printed in the
admissible commands is ALFWorld's `put O in/on R`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"([a-z]+ \d{1,3})"

#: verb -> canonical text template (the form used in admissible commands).
TEMPLATES = {
    "look": "look",
    "inventory": "inventory",
    "help": "help",
    "go": "go to {}",
    "open": "open {}",
    "close": "close {}",
    "take": "take {} from {}",
    "put": "put {} in/on {}",
    "clean": "clean {} with {}",
    "heat": "heat {} with {}",
    "cool": "cool {} with {}",
    "use": "use {}",
    "examine": "examine {}",
}

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (verb, re.compile(pattern)) for verb, pattern in (
        ("look", r"look"),
        ("inventory", r"inventory|inv|i"),
        ("help", r"help"),
        ("go", rf"go to {_NAME}"),
        ("open", rf"open {_NAME}"),
        ("close", rf"close {_NAME}"),
        ("take", rf"take {_NAME} from {_NAME}"),
        ("put", rf"put {_NAME} (?:in/on|in|on|into|onto) {_NAME}"),
        ("clean", rf"clean {_NAME} with {_NAME}"),
        ("heat", rf"heat {_NAME} with {_NAME}"),
        ("cool", rf"cool {_NAME} with {_NAME}"),
        ("use", rf"use {_NAME}"),
        ("examine", rf"examine {_NAME}"),
    )
)

USAGE = ("go to R, open R, close R, take O from R, put O in/on R, clean O with R, "
         "heat O with R, cool O with R, use L, examine X, inventory, look")


@dataclass(frozen=True)
class Command:
    """One parsed command: a verb and its entity names, in the template's order."""

    verb: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return TEMPLATES[self.verb].format(*self.args)


def normalize(text: str) -> str:
    """Lower-case, collapse runs of whitespace and drop a trailing full stop."""
    return " ".join(text.lower().split()).rstrip(".").rstrip()


def parse(text: str) -> Command | None:
    """The `Command` that `text` spells, or None when it is outside the grammar."""
    text = normalize(text)
    for verb, pattern in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return Command(verb, match.groups())
    return None
