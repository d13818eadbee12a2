"""Parsing an action: exactly one `<search>...</search>` or `<answer>...</answer>` block.

Reasoning may precede it inside `<think>...</think>` blocks, which are
ignored; any other text outside the one block makes the action invalid, so
that what the environment executed is never a guess about what was meant.
Parsing returns either the action or the message the agent sees instead.
`search_query` and `action_template` are the family's declarations to the
diversity tracker (see `earlyexp.envs.core`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from earlyexp.envs.core import mask_arguments
from earlyexp.envs.searchqa.suggest import names_in


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_BLOCK = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
_ANY_TAG = re.compile(r"</?(search|answer|think|information)>")
_QUOTED = re.compile(r'"[^"]+"')
_YEAR = re.compile(r"\b\d+\b")

USAGE = "Write <search> your query </search> to search, or <answer> your answer </answer> to answer."


@dataclass(frozen=True)
class Action:
    """A well-formed action: `kind` is "search" or "answer"; `text` is its collapsed content."""

    kind: str
    text: str


def parse_action(raw: str) -> Action | str:
    """The parsed `Action`, or an error message saying what is wrong and how to fix it."""
    rest = _THINK.sub(" ", raw).strip()
    blocks = list(_BLOCK.finditer(rest))
    if not blocks:
        if _ANY_TAG.search(rest):
            return f"Invalid action: a tag is not closed or not recognised. {USAGE}"
        return f"Invalid action: no <search> or <answer> block found. {USAGE}"
    if len(blocks) > 1:
        return ("Invalid action: one action per step; found "
                f"{len(blocks)} <search>/<answer> blocks. {USAGE}")
    block = blocks[0]
    outside = (rest[:block.start()] + rest[block.end():]).strip()
    if outside:
        return ("Invalid action: text outside the block; put reasoning inside "
                f"<think>...</think>. {USAGE}")
    kind, content = block.group(1), " ".join(block.group(2).split())
    if _ANY_TAG.search(content):
        return f"Invalid action: tags cannot be nested inside <{kind}>. {USAGE}"
    if not content:
        return f"Invalid action: the <{kind}> block is empty. {USAGE}"
    return Action(kind, content)


def search_query(raw: str) -> str | None:
    """The query of a well-formed `<search>` action (collapsed whitespace), else None."""
    parsed = parse_action(raw)
    return parsed.text if isinstance(parsed, Action) and parsed.kind == "search" else None


def action_template(raw: str) -> str:
    """The action's shape with its arguments masked: `<answer>_</answer>`, or the query
    with every name in it -> `_`, quoted titles -> `"_"` and years -> `#`
    (`<search>Ada Lovelace born</search>` -> `<search>_ born</search>`), prefixed
    by `<think>_</think>` when the action reasons first. A malformed action keeps
    the core default (`mask_arguments`), so malformed output stays visible."""
    parsed = parse_action(raw)
    if isinstance(parsed, str):
        return mask_arguments(raw)
    think = "<think>_</think>" if _THINK.search(raw) else ""
    if parsed.kind == "answer":
        return f"{think}<answer>_</answer>"
    query = _QUOTED.sub('"_"', parsed.text)
    for name in sorted(set(names_in(query)), key=len, reverse=True):
        query = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "_", query)
    return f"{think}<search>{_YEAR.sub('#', query)}</search>"
