"""What the agent sees: the `State` of an episode and its rendering into a prompt.

One prompt format serves every environment family:

    Goal: <instruction>
    <last H steps, each as "Observation: ...\\nAction: ...">
    Observation: <current observation>
    Admissible actions: a | b | c          (closed action spaces only)
    Action:

A family changes the format through its config (`prompt:` in
`configs/env/<name>.yaml`: history length, whether to list admissible
actions, how many characters of each observation to keep), never by code in
the framework.

The model's completion is turned back into an action by `parse_action`: the
text after the last `Action:` if the completion contains one, else the first
non-empty line, stripped. Nothing else is guessed; an empty result is `None`,
which the caller counts as an invalid action.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ACTION_TAG = "Action:"


@dataclass
class State:
    """The agent-visible state at one step: goal, recent history, observation, choices."""

    goal: str
    observation: str
    history: list[dict[str, str]] = field(default_factory=list)  # [{"observation", "action"}]
    admissible_actions: list[str] | None = None

    def advance(self, action: str, next_observation: str,
                admissible_actions: list[str] | None) -> "State":
        """The state after `action` led to `next_observation` (history grows by one step)."""
        step = {"observation": self.observation, "action": action}
        return State(self.goal, next_observation, [*self.history, step], admissible_actions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "State":
        return cls(data["goal"], data["observation"], list(data.get("history") or []),
                   data.get("admissible_actions"))


@dataclass(frozen=True)
class PromptFormat:
    """Knobs of the prompt format (set per family under `prompt:` in its env config)."""

    history: int = 4                 # how many past steps to show
    show_admissible: bool = True     # list admissible actions when the space is closed
    max_observation_chars: int = 1500  # keep the tail of longer observations

    def __post_init__(self):
        if self.history < 0 or self.max_observation_chars < 16:
            raise ValueError(
                f"PromptFormat needs history >= 0 and max_observation_chars >= 16, got "
                f"history={self.history}, max_observation_chars={self.max_observation_chars}"
            )


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def render(state: State, fmt: PromptFormat | None = None) -> str:
    """The prompt for `state`; ends with `Action:` so a completion is the action."""
    fmt = fmt or PromptFormat()
    lines = [f"Goal: {state.goal.strip()}"]
    recent = state.history[-fmt.history:] if fmt.history else []
    for step in recent:
        lines.append(f"Observation: {_clip(step['observation'], fmt.max_observation_chars)}")
        lines.append(f"{ACTION_TAG} {step['action']}")
    lines.append(f"Observation: {_clip(state.observation, fmt.max_observation_chars)}")
    if fmt.show_admissible and state.admissible_actions is not None:
        lines.append("Admissible actions: " + " | ".join(state.admissible_actions))
    lines.append(ACTION_TAG)
    return "\n".join(lines)


def parse_action(completion: str) -> str | None:
    """The action in a completion: text after the last `Action:`, else the first line."""
    text = completion
    if ACTION_TAG in text:
        text = text.rsplit(ACTION_TAG, 1)[1]
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None
