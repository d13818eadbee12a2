"""`TextEnv`: the one environment interface every family implements.

A `TextEnv` is a `gymnasium.Env[str, str]`. A family subclasses it and fills
in four hooks; the base class owns everything the contract promises on top:

    _load_task(task_id, seed) -> str                 first observation
    _act(action) -> Outcome                          one valid or invalid step
    _status() -> Status                              goal, success, score, admissible, expert
    tasks(split) -> list[str]                        fixed task ids per split

and, where the engine can copy itself faster than a replay, the optional
native snapshot pair `_native_snapshot()` / `_native_restore(state)`.

Two optional, pure declarations feed the diversity tracker (they read the action
string only, so they stay callable after `close()` and never touch the episode):

    search_query(action) -> str | None               the query when `action` is a search
    action_template(action) -> str                   `action` with its arguments masked

A family with a search tool overrides `search_query` (searchqa: `<search>q</search>`,
webshop: `search[q]`); the default says no action is a search. `action_template`
defaults to `mask_arguments` (quoted strings, numbers, bracket and paren contents);
a family whose arguments look different overrides it, so that template entropy
measures the choice of action kind and shape, not of its arguments.

One optional hook serves branching where the action space is open (no
admissible list): `propose_actions(n, rng) -> list[str] | None`, up to `n`
distinct candidate actions at the current state, built by the family (bfcl:
perturbed arguments and other functions, `envs/bfcl/proposals.py`). It must
not change the episode. `sampler=uniform` draws alternatives from it; the
default None means the family has no proposer and `sampler=uniform` is refused.

Do not name an attribute `spec`: `gymnasium.Env.spec` is reserved and
`check_env` reads it. Rewards must stay inside the class's `reward_range`
(RL checks it); a family with negative rewards declares it.

The base class builds `info` with every key of the contract, turns a
non-string or empty action into an invalid-action observation (never an
exception), counts steps and truncates at `max_steps`, and implements
`snapshot()` / `restore()`: natively when the family offers it, otherwise by
replaying the recorded action prefix from the same task and seed and checking
that the observation matches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
from gymnasium import spaces

from earlyexp.errors import NonDeterministicEnvError, ResetNeeded, UnknownSplitError

# Every printable character of the Basic Multilingual Plane plus newline and tab.
# gymnasium's Text space defaults to alphanumerics only, so an observation with
# a space would otherwise be outside the observation space.
TEXT_CHARSET = "".join(
    chr(c) for c in list(range(0x20, 0x7F)) + list(range(0xA0, 0xD800)) + list(range(0xE000, 0xFFFE))
) + "\n\t"
MAX_OBSERVATION_CHARS = 1 << 20
MAX_ACTION_CHARS = 2048

INFO_KEYS = (
    "task_id", "goal", "success", "score", "valid_action", "admissible_actions", "expert_action",
)

_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')
_NUMBER = re.compile(r"(?<![\w.,#])[-+]?\d+(?:[.,]\d+)*(?![\w#]|[.,]\d)")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def mask_arguments(action: str) -> str:
    """The default action template: whitespace collapsed, quoted strings -> `"_"`,
    standalone numbers -> `#`, and the whole contents of each outermost (...), [...]
    and {...} -> `_`. `cd(folder='doc')` -> `cd(_)`, `click[Buy Now]` -> `click[_]`,
    `go to shelf 3` -> `go to shelf #`. An unclosed bracket is kept as text."""
    text = " ".join(action.split())
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "_" + m.group(0)[0], text)
    return _NUMBER.sub("#", _mask_brackets(text))


def _mask_brackets(text: str) -> str:
    out, stack, opened_at = [], [], 0
    for i, char in enumerate(text):
        if char in _CLOSING:
            if not stack:
                opened_at = i
            stack.append(_CLOSING[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                out.append(text[opened_at] + "_" + char)
        elif not stack:
            out.append(char)
    if stack:  # unbalanced: keep the rest as written
        out.append(text[opened_at:])
    return "".join(out)


@dataclass
class Outcome:
    """What one call to `_act` produced."""

    observation: str
    reward: float = 0.0
    terminated: bool = False
    valid_action: bool = True


@dataclass
class Status:
    """The state-dependent `info` entries, recomputed after every reset and step."""

    goal: str
    success: bool = False
    score: float = 0.0
    admissible_actions: list[str] | None = None
    expert_action: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """Opaque saved state returned by `TextEnv.snapshot()`.

    Holds what a replay needs (task, seed, action prefix, the observation it
    must reproduce) and, where the family supports it, a native copy.
    """

    task_id: str
    seed: int
    actions: tuple[str, ...]
    observation: str
    steps: int
    done: bool
    native: Any = None


class TextEnv(gym.Env[str, str]):
    """Base class of all text environments (see the module docstring for the hooks).

    Arguments:
        max_steps: the episode is truncated after this many steps.
        split: the split a `reset()` without a task id samples from.
    """

    metadata = {"render_modes": ["ansi"]}
    #: Registered name, set by `earlyexp.envs.make` (families may set it too).
    name: str = "textenv"
    #: Splits the family defines, in order.
    splits: tuple[str, ...] = ("train", "test", "ood")
    #: Inclusive range of one step's reward, checked by RL.
    reward_range = (0.0, 1.0)

    observation_space = spaces.Text(MAX_OBSERVATION_CHARS, min_length=0, charset=TEXT_CHARSET)
    action_space = spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)

    def __init__(self, max_steps: int = 50, split: str = "train", render_mode: str | None = None):
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.max_steps = max_steps
        self.default_split = split
        self.render_mode = render_mode
        self._task_id: str | None = None
        self._seed = 0
        self._actions: list[str] = []
        self._observation = ""
        self._done = True
        self._started = False

    # ------------------------------------------------------------ hooks
    def tasks(self, split: str) -> list[str]:
        """Task ids of `split`, fixed and in a stable order."""
        raise NotImplementedError

    def _load_task(self, task_id: str, seed: int) -> str:
        """Start `task_id` from scratch, seeded by `seed`; return the first observation."""
        raise NotImplementedError

    def _act(self, action: str) -> Outcome:
        """Execute a non-empty, stripped action string. Never raise for a bad action."""
        raise NotImplementedError

    def _status(self) -> Status:
        """Goal, success, score, admissible actions and expert action of the current state."""
        raise NotImplementedError

    def _native_snapshot(self) -> Any:
        """Return a native copy of the engine state, or None to use the replay fallback."""
        return None

    def _native_restore(self, state: Any) -> None:
        """Restore a state produced by `_native_snapshot` (must leave `state` reusable)."""
        raise NotImplementedError

    # ------------------------------------------------------------ declarations
    def search_query(self, action: str) -> str | None:
        """The query of `action` when it is a search call, else None (the default: the
        family has no search tool). Pure: reads the action string only."""
        return None

    def action_template(self, action: str) -> str:
        """`action` with its arguments masked (default `mask_arguments`). Pure."""
        return mask_arguments(action)

    def propose_actions(self, n: int, rng) -> list[str] | None:
        """Up to `n` distinct candidate actions at the current state, for branching in an
        open action space (see the module docstring); None: the family has no proposer."""
        return None

    # ------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = options.get("task_id")
        if task_id is None:
            pool = self.tasks(options.get("split", self.default_split))
            task_id = pool[int(self.np_random.integers(len(pool)))]
        # The episode seed drives any randomness inside the task, so a replay
        # from (task_id, seed) reproduces the episode exactly.
        episode_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        self._begin(str(task_id), int(episode_seed))
        return self._observation, self._info(valid_action=True)

    def step(self, action: str):
        if not self._started:
            raise ResetNeeded("Call reset() before step().")
        if self._done:
            raise ResetNeeded("The episode has ended; call reset() before step().")
        outcome = self._guarded_act(action)
        self._actions.append(action)  # kept as given, so a replay repeats it exactly
        self._observation = outcome.observation
        truncated = not outcome.terminated and len(self._actions) >= self.max_steps
        self._done = outcome.terminated or truncated
        info = self._info(valid_action=outcome.valid_action)
        return self._observation, float(outcome.reward), outcome.terminated, truncated, info

    def snapshot(self, mode: Literal["auto", "replay"] = "auto") -> Snapshot:
        """Save the current state. `mode="replay"` skips the native copy (for benchmarks)."""
        if not self._started:
            raise ResetNeeded("Call reset() before snapshot().")
        native = self._native_snapshot() if mode == "auto" else None
        return Snapshot(
            self._task_id, self._seed, tuple(self._actions), self._observation,
            len(self._actions), self._done, native,
        )

    def restore(self, snap: Snapshot) -> tuple[str, dict[str, Any]]:
        """Return to a saved state; returns its observation and info like `reset()`."""
        if snap.native is not None:
            self._native_restore(snap.native)
            self._task_id, self._seed = snap.task_id, snap.seed
        else:
            self._replay(snap)
        self._actions = list(snap.actions)
        self._observation = snap.observation
        self._done = snap.done
        self._started = True
        return self._observation, self._info(valid_action=True)

    def render(self) -> str | None:
        return self._observation if self.render_mode == "ansi" else None

    @property
    def task_id(self) -> str | None:
        return self._task_id

    @property
    def actions_taken(self) -> tuple[str, ...]:
        return tuple(self._actions)

    # ------------------------------------------------------------ internals
    def _begin(self, task_id: str, seed: int) -> None:
        # Load first: if the task id is unknown the env keeps its previous episode intact.
        observation = self._load_task(task_id, seed)
        self._task_id, self._seed = task_id, seed
        self._actions = []
        self._observation = observation
        self._done = False
        self._started = True

    def _replay(self, snap: Snapshot) -> None:
        self._begin(snap.task_id, snap.seed)
        observation = self._observation
        for action in snap.actions:
            observation = self._guarded_act(action).observation
        if observation != snap.observation:
            raise NonDeterministicEnvError(
                self.name, snap.task_id, len(snap.actions), snap.observation, observation
            )

    def _guarded_act(self, action: Any) -> Outcome:
        if not isinstance(action, str):
            return Outcome(
                f"Invalid action: expected text, got {type(action).__name__}.", valid_action=False
            )
        action = action.strip()
        if not action:
            return Outcome("Invalid action: the action is empty.", valid_action=False)
        return self._act(action)

    def _info(self, valid_action: bool) -> dict[str, Any]:
        status = self._status()
        info = {
            "task_id": self._task_id,
            "goal": status.goal,
            "success": bool(status.success),
            "score": float(status.score),
            "valid_action": bool(valid_action),
            "admissible_actions": (
                list(status.admissible_actions) if status.admissible_actions is not None else None
            ),
            "expert_action": status.expert_action,
        }
        info.update(status.extra)
        return info

    def _check_split(self, split: str) -> None:
        """Raise a clear error for an unknown split (families call this in `tasks`)."""
        if split not in self.splits:
            raise UnknownSplitError(self.name, split, self.splits)
