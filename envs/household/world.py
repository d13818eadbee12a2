"""The household simulator: a task's static layout, its mutable state, and the rules.

A `TaskSpec` is the immutable description of one task (room, initial object
placement, goal); it is what the generator writes to the cache. A `World`
pairs a spec with a `WorldState` (where the agent and every object are, what
is open, what is clean, hot, cool or switched on) and executes commands on it
with ALFWorld's rules: the agent walks between receptacles, holds at most one
object, must open a closed receptacle to see or use its inside, and cleans,
heats or cools the object in its hand with a sinkbasin, microwave or fridge.
Only the state is copied by a snapshot; the spec is shared.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from earlyexp.envs.household.catalog import (
    LAMP_TYPES, LOOK, OBJECT_TYPES, OPENABLE, PICK_TWO, TRANSFORMS, preposition,
)
from earlyexp.envs.household.grammar import USAGE, Command, normalize, parse

#: verb -> (state it sets, appliance type, object property that allows it, participle).
_TRANSFORM_VERBS = {"clean": ("clean", "sinkbasin", "clean", "cleaned"),
                    "heat": ("hot", "microwave", "heat", "heated"),
                    "cool": ("cool", "fridge", "cool", "cooled")}
_OPPOSITE = {"hot": "cool", "cool": "hot"}


def type_of(name: str) -> str:
    """The type of an entity name ('cabinet 3' -> 'cabinet')."""
    return name.rsplit(" ", 1)[0]


def listing(names: list[str]) -> str:
    """ALFWorld's enumeration: 'a apple 1, a mug 2, and a cup 1' or 'nothing'."""
    items = [f"a {name}" for name in names]
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]


@dataclass(frozen=True)
class Goal:
    """What the task asks for; receptacle and lamp types are None where they do not apply."""

    task_type: str
    object_type: str
    receptacle_type: str | None
    lamp_type: str | None
    text: str

    @property
    def count(self) -> int:
        return 2 if self.task_type == PICK_TWO else 1

    @property
    def required_state(self) -> str | None:
        """'clean', 'hot' or 'cool' for the transforming tasks, else None."""
        return TRANSFORMS.get(self.task_type, (None, None))[0]


@dataclass(frozen=True)
class TaskSpec:
    """One task: the room (receptacles in listing order), initial placement and goal."""

    task_id: str
    layout: str
    goal: Goal
    receptacles: tuple[str, ...]
    placement: tuple[tuple[str, str], ...]  # (object name, receptacle name), lamps included

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "layout": self.layout, "goal": vars(self.goal),
                "receptacles": list(self.receptacles), "placement": [list(p) for p in self.placement]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(data["task_id"], data["layout"], Goal(**data["goal"]),
                   tuple(data["receptacles"]), tuple(tuple(p) for p in data["placement"]))


@dataclass
class WorldState:
    """Everything a step can change; `copy.deepcopy` of it is the native snapshot."""

    at: str | None                      # the receptacle the agent faces; None = middle of room
    held: str | None                    # the object in the agent's hand
    where: dict[str, str]               # object -> receptacle, for objects not in hand
    opened: set[str] = field(default_factory=set)
    states: dict[str, set[str]] = field(default_factory=dict)  # 'clean'/'hot'/'cool' -> objects
    lamps_on: set[str] = field(default_factory=set)

    def __deepcopy__(self, memo: dict) -> WorldState:
        # Every leaf is an immutable string, so copying the containers is a full deep
        # copy -- and several times faster than the generic recursive one.
        return WorldState(self.at, self.held, dict(self.where), set(self.opened),
                          {k: set(v) for k, v in self.states.items()}, set(self.lamps_on))

    @classmethod
    def initial(cls, spec: TaskSpec) -> WorldState:
        return cls(None, None, dict(spec.placement), set(),
                   {"clean": set(), "hot": set(), "cool": set()}, set())


class Refusal(Exception):
    """Raised inside a command handler when the command cannot be carried out."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Refusal(reason)


class World:
    """A task's state plus ALFWorld's rules; `execute` is the only mutator."""

    def __init__(self, spec: TaskSpec, state: WorldState | None = None):
        self.spec = spec
        self.state = state if state is not None else WorldState.initial(spec)
        self._objects = tuple(name for name, _ in spec.placement)
        self._receptacle_set = frozenset(spec.receptacles)
        self._handlers: dict[str, Callable[..., str]] = {
            "look": self._look, "inventory": self._inventory, "help": self._help,
            "go": self._go, "open": self._open, "close": self._close, "take": self._take,
            "put": self._put, "clean": self._transform, "heat": self._transform,
            "cool": self._transform, "use": self._use, "examine": self._examine,
        }

    # ------------------------------------------------------------ queries
    @property
    def objects(self) -> tuple[str, ...]:
        """Every object name (lamps included) in the spec's fixed order."""
        return self._objects

    def contents(self, receptacle: str) -> list[str]:
        where = self.state.where
        return [o for o in self._objects if where.get(o) == receptacle]

    def accessible(self, receptacle: str) -> bool:
        """Whether the inside can be seen and reached (no door, or the door is open)."""
        return type_of(receptacle) not in OPENABLE or receptacle in self.state.opened

    def has_state(self, obj: str, state: str) -> bool:
        return obj in self.state.states[state]

    def intro(self) -> str:
        return f"{self.describe_room()}\n\nYour task is to: {self.spec.goal.text}"

    def describe_room(self) -> str:
        return ("You are in the middle of a room. Looking quickly around you, you see "
                f"{listing(list(self.spec.receptacles))}.")

    def describe(self, receptacle: str) -> str:
        """What the agent sees at a receptacle: its contents, or that it is closed."""
        if type_of(receptacle) in OPENABLE:
            if receptacle not in self.state.opened:
                return f"The {receptacle} is closed."
            return f"The {receptacle} is open. In it, you see {listing(self.contents(receptacle))}."
        return f"On the {receptacle}, you see {listing(self.contents(receptacle))}."

    # ------------------------------------------------------------ goal
    def qualifies(self, obj: str) -> bool:
        """Whether `obj` is of the goal type and carries the goal's required state."""
        goal = self.spec.goal
        return type_of(obj) == goal.object_type and (
            goal.required_state is None or self.has_state(obj, goal.required_state))

    def goal_conditions(self) -> tuple[int, int]:
        """(conditions met, conditions total), ALFRED's goal-condition measure."""
        goal = self.spec.goal
        if goal.task_type == LOOK:
            held_ok = self.state.held is not None and type_of(self.state.held) == goal.object_type
            return int(held_ok) + int(self.lit_lamp_here() is not None), 2
        placed = self.best_placed_count()
        if goal.required_state is None:
            return min(placed, goal.count), goal.count
        transformed = any(
            type_of(o) == goal.object_type for o in self.state.states[goal.required_state])
        return int(transformed) + min(placed, 1), 2

    def best_placed_count(self) -> int:
        """Most qualifying objects inside one receptacle of the goal type."""
        counts = [sum(self.qualifies(o) for o in self.contents(r)) for r in self.goal_receptacles()]
        return max(counts, default=0)

    def goal_receptacles(self) -> list[str]:
        rtype = self.spec.goal.receptacle_type
        return [r for r in self.spec.receptacles if type_of(r) == rtype]

    def lit_lamp_here(self) -> str | None:
        """A switched-on lamp of the goal's lamp type at the agent's receptacle, if any."""
        if self.state.at is None:
            return None
        for obj in self.contents(self.state.at):
            if type_of(obj) == self.spec.goal.lamp_type and obj in self.state.lamps_on:
                return obj
        return None

    def success(self) -> bool:
        met, total = self.goal_conditions()
        return met == total

    # ------------------------------------------------------------ commands
    def execute(self, text: str, explain: bool = True) -> tuple[str, bool]:
        """Run one command; returns (observation, valid). Refusals say 'Nothing happens.'"""
        command = parse(text)
        if command is None:
            shown = normalize(text)[:60]
            reason = f"'{shown}' is not a command. Commands: {USAGE}."
            return self._refused(reason, explain), False
        try:
            for name in command.args:
                self._check_exists(name)
            return self._handlers[command.verb](command), True
        except Refusal as refusal:
            return self._refused(str(refusal), explain), False

    @staticmethod
    def _refused(reason: str, explain: bool) -> str:
        return f"Nothing happens. {reason}" if explain else "Nothing happens."

    def _check_exists(self, name: str) -> None:
        _require(name in self._receptacle_set or name in self.state.where
                 or name == self.state.held, f"There is no {name} in this room.")

    def _require_at(self, receptacle: str) -> None:
        _require(receptacle in self._receptacle_set, f"The {receptacle} is not a receptacle.")
        _require(self.state.at == receptacle, f"You are not at the {receptacle}; go to it first.")

    def _require_held(self, obj: str) -> None:
        _require(self.state.held == obj, f"You are not carrying the {obj}.")

    def _look(self, command: Command) -> str:
        if self.state.at is None:
            return self.describe_room()
        return f"You are facing the {self.state.at}."

    def _inventory(self, command: Command) -> str:
        if self.state.held is None:
            return "You are not carrying anything."
        return f"You are carrying: a {self.state.held}."

    def _help(self, command: Command) -> str:
        return f"Available commands: {USAGE}."

    def _go(self, command: Command) -> str:
        (target,) = command.args
        _require(target in self._receptacle_set, f"You cannot go to the {target}.")
        _require(self.state.at != target, f"You are already at the {target}.")
        self.state.at = target
        return f"You arrive at {target}. {self.describe(target)}"

    def _open(self, command: Command) -> str:
        (target,) = command.args
        self._require_at(target)
        _require(type_of(target) in OPENABLE, f"The {target} cannot be opened.")
        _require(target not in self.state.opened, f"The {target} is already open.")
        self.state.opened.add(target)
        return f"You open the {target}. {self.describe(target)}"

    def _close(self, command: Command) -> str:
        (target,) = command.args
        self._require_at(target)
        _require(type_of(target) in OPENABLE, f"The {target} cannot be closed.")
        _require(target in self.state.opened, f"The {target} is already closed.")
        self.state.opened.discard(target)
        return f"You close the {target}."

    def _take(self, command: Command) -> str:
        obj, receptacle = command.args
        self._require_at(receptacle)
        _require(self.accessible(receptacle), f"The {receptacle} is closed.")
        _require(self.state.where.get(obj) == receptacle,
                 f"The {obj} is not {preposition(type_of(receptacle))} the {receptacle}.")
        _require(type_of(obj) not in LAMP_TYPES, f"The {obj} cannot be picked up.")
        _require(self.state.held is None,
                 f"You are already carrying the {self.state.held}; put it somewhere first.")
        del self.state.where[obj]
        self.state.held = obj
        return f"You pick up the {obj} from the {receptacle}."

    def _put(self, command: Command) -> str:
        obj, receptacle = command.args
        self._require_held(obj)
        self._require_at(receptacle)
        _require(self.accessible(receptacle), f"The {receptacle} is closed.")
        self.state.held = None
        self.state.where[obj] = receptacle
        return f"You put the {obj} {preposition(type_of(receptacle))} the {receptacle}."

    def _transform(self, command: Command) -> str:
        obj, appliance = command.args
        state, appliance_type, prop, participle = _TRANSFORM_VERBS[command.verb]
        self._require_held(obj)
        _require(type_of(appliance) == appliance_type,
                 f"You can only {command.verb} things with a {appliance_type}.")
        self._require_at(appliance)
        _require(prop in OBJECT_TYPES[type_of(obj)].props, f"The {obj} cannot be {participle}.")
        self.state.states[state].add(obj)
        if state in _OPPOSITE:  # heating undoes cooling and vice versa
            self.state.states[_OPPOSITE[state]].discard(obj)
        return f"You {command.verb} the {obj} using the {appliance}."

    def _use(self, command: Command) -> str:
        (lamp,) = command.args
        _require(type_of(lamp) in LAMP_TYPES, f"The {lamp} cannot be used.")
        _require(self.state.at is not None and self.state.where.get(lamp) == self.state.at,
                 f"The {lamp} is not within reach.")
        if lamp in self.state.lamps_on:
            self.state.lamps_on.discard(lamp)
            return f"You turn off the {lamp}."
        self.state.lamps_on.add(lamp)
        return f"You turn on the {lamp}."

    def _examine(self, command: Command) -> str:
        (target,) = command.args
        if target in self._receptacle_set:
            self._require_at(target)
            return self.describe(target)
        visible = self.state.at is not None and self.accessible(self.state.at) and (
            self.state.where.get(target) == self.state.at)
        _require(target == self.state.held or visible, f"You cannot see the {target} from here.")
        if type_of(target) in LAMP_TYPES:
            return f"The {target} is {'on' if target in self.state.lamps_on else 'off'}."
        states = [s for s in ("hot", "cool", "clean") if self.has_state(target, s)]
        if not states:
            return f"There's nothing special about {target}."
        return f"This is a {', '.join(states)} {target}."

    # ------------------------------------------------------------ admissible
    def admissible(self) -> list[str]:
        """Every command that would be carried out here, in a fixed order."""
        state, at = self.state, self.state.at
        commands = [Command("look"), Command("inventory")]
        commands += [Command("go", (r,)) for r in self.spec.receptacles if r != at]
        if at is not None:
            commands.append(Command("examine", (at,)))
            if type_of(at) in OPENABLE:
                commands.append(Command("close" if at in state.opened else "open", (at,)))
            if self.accessible(at):
                commands += self._admissible_inside(at)
            if state.held is not None:
                commands += self._admissible_transforms(state.held, at)
        if state.held is not None:
            commands.append(Command("examine", (state.held,)))
        return [str(c) for c in commands]

    def _admissible_inside(self, at: str) -> list[Command]:
        """Commands that reach into an accessible receptacle: use, take, put."""
        held, contents = self.state.held, self.contents(at)
        commands = [Command("use", (o,)) for o in contents if type_of(o) in LAMP_TYPES]
        if held is None:
            return commands + [Command("take", (o, at)) for o in contents
                               if type_of(o) not in LAMP_TYPES]
        return commands + [Command("put", (held, at))]

    @staticmethod
    def _admissible_transforms(held: str, at: str) -> list[Command]:
        """Appliances work shut, as in ALFWorld: no need to open the microwave to heat."""
        return [Command(verb, (held, at))
                for verb, (_, appliance_type, prop, _) in _TRANSFORM_VERBS.items()
                if type_of(at) == appliance_type and prop in OBJECT_TYPES[type_of(held)].props]
