"""τ-bench's reward: the final database must equal the gold one, and every required output be said.

    r = 1[digest(db_final) == digest(db_gold)] * Π_o 1[∃ agent message m: o in said(m)]

as in τ-bench's `Env.calculate_reward` (sierra-research/tau-bench):

* `db_gold` is a fresh copy of the starting database with the task's gold
  calls replayed on it in order. A gold call that fails is recorded (its
  error joins `GoldState.errors`) and the replay goes on, as τ-bench's replay
  turns a failing action into an `Error: ...` observation and continues; a
  refused write changes nothing (every write tool checks before it writes).
* an output counts only when one single agent message contains it:
  `said(m)` is the message lower-cased with its commas removed, and the
  output is only lower-cased, so "$1,234.50" says "1234.50", an output split
  across two messages is not said, and an output that itself holds a comma
  is never said (τ-bench strips commas from the message only).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from earlyexp.envs.customer_service.database import copy_database, state_digest
from earlyexp.envs.customer_service.reads import ToolError
from earlyexp.envs.customer_service.tools import TOOLS

#: What a tool may raise for a call it refuses (the env shows the same as `<tool> -> Error: ...`).
TOOL_FAILURES = (ToolError, sqlite3.Error, UnicodeError)


def apply_gold(db: sqlite3.Connection, calls: Iterable[dict[str, Any]]) -> list[str]:
    """Run the gold calls on `db` in order; returns the errors of those that failed, in order."""
    errors = []
    for call in calls:
        try:
            TOOLS[call["name"]].run(db, **call["kwargs"])
        except TOOL_FAILURES as error:
            errors.append(f"{call['name']} -> Error: {error}")
    return errors


@dataclass(frozen=True)
class GoldState:
    """The digest of the gold database and the errors of gold calls that failed on the way."""

    digest: str
    errors: tuple[str, ...] = ()


def gold_state(initial: sqlite3.Connection, calls: Iterable[dict[str, Any]]) -> GoldState:
    """The database the gold calls produce from `initial` (left untouched), as a `GoldState`."""
    gold = copy_database(initial)
    try:
        errors = apply_gold(gold, calls)
        return GoldState(state_digest(gold), tuple(errors))
    finally:
        gold.close()


def gold_digest(initial: sqlite3.Connection, calls: Iterable[dict[str, Any]]) -> str:
    """Only the digest of `gold_state` (what the benchmark times)."""
    return gold_state(initial, calls).digest


def said(message: str) -> str:
    """A message as τ-bench searches it for outputs: lower-cased, commas removed."""
    return message.lower().replace(",", "")


def outputs_found(outputs: Iterable[str], messages: Iterable[str]) -> list[bool]:
    """For each required output, whether one single agent message contains it."""
    searched = [said(message) for message in messages]
    return [any(output.lower() in message for message in searched) for output in outputs]


@dataclass(frozen=True)
class Verdict:
    """Both parts of the reward and what they add up to."""

    database_matches: bool
    outputs: tuple[bool, ...]
    gold_errors: tuple[str, ...] = ()   # gold calls that failed while building db_gold

    @property
    def reward(self) -> float:
        return float(self.database_matches and all(self.outputs))

    @property
    def score(self) -> float:
        """Partial credit: the mean of the database match and the share of outputs said."""
        output_share = sum(self.outputs) / len(self.outputs) if self.outputs else 1.0
        return (float(self.database_matches) + output_share) / 2
