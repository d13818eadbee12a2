"""Parsing an action: exactly one `<search>...</search>` or `<answer>...</answer>` block.

Reasoning may precede it inside `<think>...</think>` blocks, which are
ignored; any other text outside the one block makes the action invalid, so
that what the environment executed is never a guess about what was meant.
Parsing returns either the action or the message the agent sees instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_BLOCK = re.compile(r"<(search|answer)>(.*?)</\1>", re.DOTALL)
_ANY_TAG = re.compile(r"</?(search|answer|think|information)>")

USAGE = "Write <search>your query</search> to search, or <answer>your answer</answer> to answer."


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
