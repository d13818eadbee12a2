"""Small deterministic environments for tests and examples (not registered by default).

`CorridorEnv` is the smallest complete `TextEnv`: a corridor of rooms, a key
in one of them and a locked door at the end. It is fast enough for unit tests
of branching, storage, collection and RL, and it is the worked example in the
README. Register it where needed:

    from earlyexp.envs import register
    register("corridor", "earlyexp.envs.testing:CorridorEnv")
"""
from __future__ import annotations

import os
import random

from earlyexp.envs.core import Outcome, Status, TextEnv


class CorridorEnv(TextEnv):
    """Walk a corridor, pick up the key and open the door at its end.

    Description: rooms 0..length-1; the key lies in one room; the door is in the last one.
    Action Space: `left`, `right`, `take key`, `open door`, `look`; anything else is invalid.
    Observation Space: one English sentence describing the room.
    Starting State: room 0; the key's room depends on the task id.
    Reward: 1 when the door is opened with the key, else 0.
    Episode End: terminated when the door opens; truncated after `max_steps`.
    Information: the contract's keys; `score` is 0.5 with the key, 1 when the door is open.
    Arguments: `length` (rooms), `num_tasks` per split, `crash_marker` (test double: a path;
        the first reset of task `crash_task` exits the process and creates the file).
    """

    ACTIONS = ("left", "right", "take key", "open door", "look")

    def __init__(self, length: int = 5, num_tasks: int = 20, max_steps: int = 30,
                 crash_marker: str | None = None, crash_task: str = "train-0", **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)
        self.length, self.num_tasks = length, num_tasks
        self.crash_marker, self.crash_task = crash_marker, crash_task
        self.room = self.key_room = 0
        self.has_key = self.door_open = False

    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [f"{split}-{i}" for i in range(self.num_tasks)]

    def _load_task(self, task_id: str, seed: int) -> str:
        if self.crash_marker and task_id == self.crash_task and not os.path.exists(self.crash_marker):
            open(self.crash_marker, "w").close()
            os._exit(3)  # simulate an engine process dying mid-collection
        self.key_room = 1 + random.Random(task_id).randrange(self.length - 1)
        self.room, self.has_key, self.door_open = 0, False, False
        return self._describe()

    def _act(self, action: str) -> Outcome:
        if action == "left" and self.room > 0:
            self.room -= 1
        elif action == "right" and self.room < self.length - 1:
            self.room += 1
        elif action == "take key" and self.room == self.key_room and not self.has_key:
            self.has_key = True
            return Outcome("You take the key.")
        elif action == "open door" and self.room == self.length - 1 and self.has_key:
            self.door_open = True
            return Outcome("You unlock the door and step outside. You win!", 1.0, True)
        elif action == "look":
            pass
        elif action in self.ACTIONS:
            return Outcome("Nothing happens.", valid_action=True)
        else:
            return Outcome(f"Unknown action {action!r}. Try one of: {', '.join(self.ACTIONS)}.",
                           valid_action=False)
        return Outcome(self._describe())

    def _status(self) -> Status:
        return Status(
            goal="Find the key and open the door at the end of the corridor.",
            success=self.door_open,
            score=1.0 if self.door_open else 0.5 if self.has_key else 0.0,
            admissible_actions=list(self.ACTIONS),
            expert_action=None if self.door_open else self._expert(),
        )

    def _expert(self) -> str:
        if not self.has_key:
            if self.room == self.key_room:
                return "take key"
            return "right" if self.room < self.key_room else "left"
        return "open door" if self.room == self.length - 1 else "right"

    def _describe(self) -> str:
        parts = [f"You are in room {self.room} of a corridor of {self.length} rooms."]
        if self.room == self.key_room and not self.has_key:
            parts.append("A key lies on the floor.")
        if self.room == self.length - 1:
            parts.append("A locked door leads outside.")
        return " ".join(parts)

    def _native_snapshot(self):
        return (self.room, self.key_room, self.has_key, self.door_open)

    def _native_restore(self, state) -> None:
        self.room, self.key_room, self.has_key, self.door_open = state


class DoorsEnv(TextEnv):
    """Open the one door, of several, that hides the treasure: a one-step test of RL.

    Description: a hall with `num_doors` coloured doors; a note names the treasure's door.
        Opening it wins, opening any other loses. Learnable from the observation alone,
        so RL must raise success from chance (1 / num_doors) towards 1.
    Action Space: `open <colour> door` for each door (listed as admissible, in a task-dependent
        order); anything else is invalid and ends nothing.
    Observation Space: one sentence listing the doors and the note.
    Starting State: the hall; the task id fixes the treasure's door and the door order.
    Reward: 1 for the treasure's door, 0 otherwise.
    Episode End: terminated by opening any door; truncated after `max_steps`.
    Information: the contract's keys; `expert_action` opens the treasure's door.
    Arguments: `num_doors` (2..6), `num_tasks` per split, `treasure` (a colour: the treasure
        is always behind that door, the easiest thing to learn; null: it varies by task).
    """

    COLOURS = ("red", "blue", "green", "yellow", "white", "black")

    def __init__(self, num_doors: int = 3, num_tasks: int = 24, treasure: str | None = None,
                 max_steps: int = 3, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)
        if not 2 <= num_doors <= len(self.COLOURS):
            raise ValueError(f"num_doors must be in 2..{len(self.COLOURS)}, got {num_doors}")
        if treasure is not None and treasure not in self.COLOURS[:num_doors]:
            raise ValueError(f"treasure must be one of {self.COLOURS[:num_doors]}, got {treasure!r}")
        self.num_doors, self.num_tasks, self.fixed_treasure = num_doors, num_tasks, treasure
        self.doors: list[str] = []
        self.treasure = ""
        self.opened: str | None = None

    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [f"{split}-{i}" for i in range(self.num_tasks)]

    def _load_task(self, task_id: str, seed: int) -> str:
        rng = random.Random(task_id)
        self.doors = rng.sample(self.COLOURS[: self.num_doors], self.num_doors)
        self.treasure = self.fixed_treasure or rng.choice(self.doors)
        self.opened = None
        return (f"You are in a hall with a {', a '.join(self.doors)} door. A note says the "
                f"treasure is behind the {self.treasure} door.")

    def _act(self, action: str) -> Outcome:
        colour = action.removeprefix("open ").removesuffix(" door")
        if action != f"open {colour} door" or colour not in self.doors:
            return Outcome(f"Unknown action {action!r}. Open one of the doors.", valid_action=False)
        self.opened = colour
        if colour == self.treasure:
            return Outcome("The door opens onto the treasure. You win!", 1.0, True)
        return Outcome("The door opens onto an empty room. You lose.", 0.0, True)

    def _status(self) -> Status:
        return Status(
            goal="Open the door that hides the treasure.",
            success=self.opened == self.treasure,
            score=1.0 if self.opened == self.treasure else 0.0,
            admissible_actions=[f"open {c} door" for c in self.doors],
            expert_action=None if self.opened else f"open {self.treasure} door",
        )

    def _native_snapshot(self):
        return (list(self.doors), self.treasure, self.opened)

    def _native_restore(self, state) -> None:
        doors, self.treasure, self.opened = state
        self.doors = list(doors)


class PhrasesEnv(TextEnv):
    """Say the one phrase, of several of very different lengths, that opens the gate.

    Description: a gate and a list of phrases from one word to many; the longest phrase
        always opens it. Under a language model's likelihood a long phrase is far less
        probable than a short one, so this separates an RL objective over the *candidate
        softmax* (rank mode's real policy) from one over the phrase's LM log-probability.
    Action Space: `say <phrase>` for each phrase (admissible, task-dependent order);
        anything else is invalid and ends nothing.
    Observation Space: one sentence naming the gate.
    Starting State: at the gate; the task id fixes the order of the phrases.
    Reward: 1 for the longest phrase, 0 for any other.
    Episode End: terminated by saying any phrase; truncated after `max_steps`.
    Information: the contract's keys; `expert_action` says the longest phrase.
    Arguments: `num_tasks` per split.
    """

    PHRASES = ("open", "please open now", "open the old iron gate of the north tower at once")

    def __init__(self, num_tasks: int = 24, max_steps: int = 2, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)
        self.num_tasks = num_tasks
        self.order: list[str] = []
        self.said: str | None = None

    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [f"{split}-{i}" for i in range(self.num_tasks)]

    def _load_task(self, task_id: str, seed: int) -> str:
        self.order = random.Random(task_id).sample(self.PHRASES, len(self.PHRASES))
        self.said = None
        return "You stand before the north tower gate. It opens to the right words."

    def _act(self, action: str) -> Outcome:
        phrase = action.removeprefix("say ")
        if action != f"say {phrase}" or phrase not in self.order:
            return Outcome(f"Unknown action {action!r}. Say one of the phrases.",
                           valid_action=False)
        self.said = phrase
        if phrase == self.PHRASES[-1]:
            return Outcome("The gate swings open. You win!", 1.0, True)
        return Outcome("Nothing happens. The gate stays shut for good.", 0.0, True)

    def _status(self) -> Status:
        won = self.said == self.PHRASES[-1]
        return Status(
            goal="Open the gate.", success=won, score=1.0 if won else 0.0,
            admissible_actions=[f"say {p}" for p in self.order],
            expert_action=None if self.said else f"say {self.PHRASES[-1]}",
        )
