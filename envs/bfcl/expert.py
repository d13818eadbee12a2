"""The expert: replay the ground-truth calls of the current turn, one call per action, then end it.

The expert keeps a cursor into the current turn's ground truth. A call the
agent executes advances the cursor when it is the call under the cursor,
compared by function name and by arguments bound to parameter names with
defaults applied (so `sort('a.txt')` matches `sort(file_name='a.txt')`). From
an expert state the expert's actions therefore solve the task; after a
detour it still proposes the remaining ground-truth calls, which recover
the task whenever the detour left no trace in the checked state.
"""
from __future__ import annotations

from typing import Any

from earlyexp.envs.bfcl.backend import CallRejected, Toolbox
from earlyexp.envs.bfcl.calls import END_TURN, parse_action
from earlyexp.envs.toolcalls import ToolCall


class GroundTruthExpert:
    """Ground-truth cursor of one episode (plain data, so snapshots copy it cheaply)."""

    def __init__(self, ground_truth: tuple[tuple[str, ...], ...]):
        self.ground_truth = ground_truth
        self.turn = 0
        self.cursor = 0

    def next_action(self) -> str | None:
        """The next ground-truth call of this turn, `end_turn` after the last, None past the end."""
        if self.turn >= len(self.ground_truth):
            return None
        calls = self.ground_truth[self.turn]
        return calls[self.cursor] if self.cursor < len(calls) else END_TURN

    def observe(self, toolbox: Toolbox, instances: dict[str, Any], call: ToolCall,
                arguments: dict[str, Any]) -> None:
        """Advance past the expected call when `call` (with bound `arguments`) is it."""
        expected = self.next_action()
        if expected is None or expected == END_TURN:
            return
        wanted = (parse_action(expected) or [None])[0]
        if wanted is None or wanted.name != call.name:
            return
        try:
            if toolbox.canonical(instances, wanted) == arguments:
                self.cursor += 1
        except CallRejected:  # the ground truth is checked by tests; never block the agent on it
            return

    def start_turn(self, turn: int) -> None:
        self.turn, self.cursor = turn, 0

    def state(self) -> tuple[int, int]:
        return self.turn, self.cursor

    def set_state(self, state: tuple[int, int]) -> None:
        self.turn, self.cursor = state
