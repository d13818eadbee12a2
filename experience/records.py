"""Experience records: plain dataclasses and the Arrow schemas they are stored with.

    Step(obs, action, reward, info)             one move of a trajectory
    Trajectory(env, task_id, seed, policy, steps, success, score, ...)
    Transition(env, task_id, step, state, action, next_obs, is_expert, branch, ...)
    Reflection(state, expert_action, alternatives, text, reflector)

A `Transition` is the unit of early experience: at expert state `state`
(step `step` of the expert trajectory) the action `action` led to `next_obs`.
`is_expert` marks the expert's own move; alternatives carry `branch` 0..K-1
(the expert's move has branch -1). Besides the fields DESIGN.md names, a
transition keeps the outcome flags of the next state (reward, terminated,
valid_action, success, score), which reflectors and analyses need.

Schemas are explicit so that every shard has the same column types, even a
shard whose optional columns happen to be all null.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from earlyexp.agents.prompts import State

EXPERT_BRANCH = -1

STATE_TYPE = pa.struct([
    ("goal", pa.string()),
    ("observation", pa.string()),
    ("history", pa.list_(pa.struct([("observation", pa.string()), ("action", pa.string())]))),
    ("admissible_actions", pa.list_(pa.string())),
])


@dataclass
class Step:
    """One move: the observation it was taken on, the action, its reward and the info after it."""

    obs: str
    action: str
    reward: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trajectory:
    """One episode. `error` is set (and `steps` may be empty) when collection failed."""

    env: str
    task_id: str
    seed: int
    policy: str
    steps: list[Step]
    success: bool
    score: float
    final_obs: str = ""
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["steps"] = [
            {"obs": s.obs, "action": s.action, "reward": float(s.reward),
             "info": json.dumps(s.info, default=str)}
            for s in self.steps
        ]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Trajectory":
        steps = [Step(s["obs"], s["action"], s["reward"], json.loads(s["info"]))
                 for s in row["steps"]]
        return cls(**{**row, "steps": steps})


TRAJECTORY_SCHEMA = pa.schema([
    ("env", pa.string()), ("task_id", pa.string()), ("seed", pa.int64()), ("policy", pa.string()),
    ("steps", pa.list_(pa.struct([
        ("obs", pa.string()), ("action", pa.string()), ("reward", pa.float64()),
        ("info", pa.string()),  # JSON: families add their own info keys
    ]))),
    ("success", pa.bool_()), ("score", pa.float64()), ("final_obs", pa.string()),
    ("error", pa.string()),
])


@dataclass
class Transition:
    """`action` taken at expert state `state` led to `next_obs` (expert or alternative)."""

    env: str
    task_id: str
    seed: int
    step: int
    state: State
    action: str
    next_obs: str
    is_expert: bool
    branch: int
    reward: float = 0.0
    terminated: bool = False
    valid_action: bool = True
    success: bool = False
    score: float = 0.0

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["state"] = self.state.to_dict()
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Transition":
        return cls(**{**row, "state": State.from_dict(row["state"])})


TRANSITION_SCHEMA = pa.schema([
    ("env", pa.string()), ("task_id", pa.string()), ("seed", pa.int64()), ("step", pa.int64()),
    ("state", STATE_TYPE), ("action", pa.string()), ("next_obs", pa.string()),
    ("is_expert", pa.bool_()), ("branch", pa.int64()), ("reward", pa.float64()),
    ("terminated", pa.bool_()), ("valid_action", pa.bool_()), ("success", pa.bool_()),
    ("score", pa.float64()),
])


@dataclass
class Reflection:
    """A rationale for the expert action at `state`, contrasting it with `alternatives`."""

    state: State
    expert_action: str
    alternatives: list[dict[str, str]]  # [{"action", "next_obs"}]
    text: str
    reflector: str

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["state"] = self.state.to_dict()
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Reflection":
        return cls(**{**row, "state": State.from_dict(row["state"])})


REFLECTION_SCHEMA = pa.schema([
    ("state", STATE_TYPE), ("expert_action", pa.string()),
    ("alternatives", pa.list_(pa.struct([("action", pa.string()), ("next_obs", pa.string())]))),
    ("text", pa.string()), ("reflector", pa.string()),
])


def to_table(records: list, schema: pa.Schema) -> pa.Table:
    """Records (anything with `to_row`) as an Arrow table with the given schema."""
    return pa.Table.from_pylist([r.to_row() for r in records], schema=schema)
