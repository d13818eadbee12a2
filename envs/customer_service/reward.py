"""τ-bench's reward: the final database must equal the gold one, and every required output be said.

    r = 1[digest(db_final) == digest(db_gold)] * 1[every output o: o in said]

`db_gold` is a fresh copy of the starting database with the task's gold calls
replayed on it; `said` is the agent's messages joined, lower-cased and
stripped of thousands separators (so "$1,234.50" says "1234.50").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from earlyexp.envs.customer_service.database import copy_database, state_digest
from earlyexp.envs.customer_service.tools import TOOLS


def apply_gold(db: sqlite3.Connection, calls: Iterable[dict[str, Any]]) -> sqlite3.Connection:
    """Run the gold calls on `db` in order (lookups are harmless); raises ToolError if one fails."""
    for call in calls:
        TOOLS[call["name"]].run(db, **call["kwargs"])
    return db


def gold_digest(initial: sqlite3.Connection, calls: Iterable[dict[str, Any]]) -> str:
    """Digest of the database the gold calls produce from `initial` (left untouched)."""
    gold = apply_gold(copy_database(initial), calls)
    try:
        return state_digest(gold)
    finally:
        gold.close()


def normalise_said(messages: Iterable[str]) -> str:
    return " ".join(messages).lower().replace(",", "")


def outputs_found(outputs: Iterable[str], messages: Iterable[str]) -> list[bool]:
    """For each required output, whether the agent's messages contain it."""
    said = normalise_said(messages)
    return [output.lower().replace(",", "") in said for output in outputs]


@dataclass(frozen=True)
class Verdict:
    """Both parts of the reward and what they add up to."""

    database_matches: bool
    outputs: tuple[bool, ...]

    @property
    def reward(self) -> float:
        return float(self.database_matches and all(self.outputs))

    @property
    def score(self) -> float:
        """Partial credit: the mean of the database match and the share of outputs said."""
        output_share = sum(self.outputs) / len(self.outputs) if self.outputs else 1.0
        return (float(self.database_matches) + output_share) / 2
