"""Cleaning TextWorld's raw game output into the observation an agent sees."""
from __future__ import annotations

import re

# The status line the game prints after every turn: the prompt, the room name and
# "score/moves", e.g. ">      -= Kitchen =-0/2".
_STATUS_LINE = re.compile(r"[\s>]*-= [^\n]*? =-\d+/\d+\s*\Z")
_LETTER = re.compile(r"[A-Za-z]")
# Inform's end-of-game menu: the env never forwards these meta-commands, so drop the offer.
_END_MENU = re.compile(r"\s*Would you like to RESTART, RESTORE a saved game, QUIT or UNDO[^\n]*\Z")


def clean_feedback(feedback: str) -> str:
    """Strip the ASCII-art banner, the prompt, the status line and the end-of-game menu.

    The banner is drawn with `$ _ | \\ /` only, so it is exactly the leading run of
    lines without a letter; the first line with one is the objective (or the room
    title when the game states no objective).
    """
    text = _END_MENU.sub("", _STATUS_LINE.sub("", feedback or ""))
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _LETTER.search(line)), len(lines))
    # Inform centres "*** The End ***" with spaces; no line's indentation carries meaning.
    text = "\n".join(line.strip() for line in lines[start:])
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def normalize_command(action: str) -> str:
    """Lower-case and collapse whitespace: how admissible commands are spelled."""
    return " ".join(action.lower().split())
