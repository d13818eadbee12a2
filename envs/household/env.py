"""`HouseholdEnv`: ALFWorld-style household tasks on a procedural simulator."""
from __future__ import annotations

import copy
from typing import Any

from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.household.data import SPLITS, load_split
from earlyexp.envs.household.expert import expert_action
from earlyexp.envs.household.generator import task_id_of
from earlyexp.envs.household.world import TaskSpec, World, WorldState
from earlyexp.errors import ConfigError, ResetNeeded, UnknownTaskError


class HouseholdEnv(TextEnv):
    """Find, transform and place household objects in one room, ALFWorld style.

    Description:
        One room of numbered receptacles (cabinet 1..n, countertop, drawer, fridge,
        microwave, sinkbasin, shelf, desk, ...) holding numbered objects, some behind
        closed doors. Each task is one of ALFWorld's six types: pick & place, examine
        in light, clean & place, heat & place, cool & place, pick two & place. Rooms
        are generated procedurally and deterministically (see the family README).

    Action Space:
        Free text in ALFWorld's grammar: `go to R`, `open R`, `close R`,
        `take O from R`, `put O in/on R` (or `in`/`on`), `clean O with sinkbasin N`,
        `heat O with microwave N`, `cool O with fridge N`, `use desklamp N`,
        `examine X`, `inventory`, `look` (and `help`). Case and extra spaces are
        ignored. `info["admissible_actions"]` lists every command that would be
        carried out in the current state.

    Observation Space:
        English text in ALFWorld's style: the room listing and "Your task is to: ..."
        after reset, then e.g. "You arrive at countertop 1. On the countertop 1, you
        see a apple 1, and a mug 2." A command that cannot be carried out gives
        "Nothing happens." followed, when `explain_invalid`, by the reason.

    Starting State:
        The agent stands in the middle of the room with empty hands; every door is
        shut, every lamp off, no object clean, hot or cool. The room is fixed by the
        task id (like an ALFWorld game file); the reset seed does not change it.

    Reward:
        1.0 on the step that completes the goal, else 0.0 (ALFWorld's sparse reward).

    Episode End:
        Terminated when the goal is met; truncated after `max_steps` steps
        (50, ALFWorld's usual budget).

    Information:
        The contract's keys (`task_id`, `goal`, `success`, `score`, `valid_action`,
        `admissible_actions`, `expert_action`) plus `task_type` (ALFWorld's task type
        name) and `layout` (the room layout). `score` is ALFRED's goal-condition
        measure: conditions met / conditions of the task (pick & place: the object
        in the receptacle; pick two: each of the two objects in one receptacle;
        clean/heat/cool: the object transformed, a transformed one in the
        receptacle; examine: the object in hand, a switched-on lamp where the agent
        stands).

    Arguments:
        num_train, num_test, num_ood: split sizes (defaults 3553, 140 and 134, as
            ALFWorld's train, valid-seen and valid-unseen sets). Task `<split>-<i>`
            does not depend on the split size, so a small variant is a prefix.
        seed: generation seed of all splits.
        max_steps: truncation limit.
        explain_invalid: append the reason to "Nothing happens." (True), or print
            ALFWorld's bare "Nothing happens." (False).
        split, render_mode: as for every `TextEnv`.

    Version History:
        v0: initial version.
    """

    splits = SPLITS

    def __init__(self, num_train: int = 3553, num_test: int = 140, num_ood: int = 134,
                 seed: int = 0, max_steps: int = 50, explain_invalid: bool = True, **kwargs: Any):
        super().__init__(max_steps=max_steps, **kwargs)
        self.sizes = {"train": num_train, "test": num_test, "ood": num_ood}
        for split, size in self.sizes.items():
            if not isinstance(size, int) or size < 1:
                raise ConfigError(f"num_{split}", size, "split sizes must be integers >= 1")
        self.generation_seed = int(seed)
        self.explain_invalid = bool(explain_invalid)
        self._world: World | None = None

    # ------------------------------------------------------------ hooks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        return [task_id_of(split, index) for index in range(self.sizes[split])]

    def _load_task(self, task_id: str, seed: int) -> str:
        self._world = World(self.task_spec(task_id))
        return self._world.intro()

    def _act(self, action: str) -> Outcome:
        world = self._require_world()
        observation, valid = world.execute(action, explain=self.explain_invalid)
        won = valid and world.success()
        return Outcome(observation, reward=1.0 if won else 0.0, terminated=won, valid_action=valid)

    def _status(self) -> Status:
        world = self._require_world()
        met, total = world.goal_conditions()
        return Status(
            goal=world.spec.goal.text,
            success=met == total,
            score=met / total,
            admissible_actions=world.admissible(),
            expert_action=expert_action(world),
            extra={"task_type": world.spec.goal.task_type, "layout": world.spec.layout},
        )

    def _native_snapshot(self) -> tuple[TaskSpec, WorldState]:
        world = self._require_world()
        return world.spec, copy.deepcopy(world.state)

    def _native_restore(self, state: tuple[TaskSpec, WorldState]) -> None:
        spec, world_state = state
        # Copy again so the snapshot stays reusable after the restored episode moves on.
        if self._world is not None and self._world.spec is spec:
            self._world.state = copy.deepcopy(world_state)
        else:
            self._world = World(spec, copy.deepcopy(world_state))

    # ------------------------------------------------------------ helpers
    def task_spec(self, task_id: str) -> TaskSpec:
        """The generated spec of `task_id` (raises `UnknownTaskError` for unknown ids)."""
        split, _, index = str(task_id).rpartition("-")
        if (split in self.sizes and index.isdigit() and int(index) < self.sizes[split]
                and task_id_of(split, int(index)) == task_id):  # rejects 'train-12' for 0012
            return load_split(self.generation_seed, split, self.sizes[split])[int(index)]
        known = [t for s in self.splits for t in self.tasks(s)]
        raise UnknownTaskError(self.name, str(task_id), known)

    def _require_world(self) -> World:
        if self._world is None:
            raise ResetNeeded("Call reset() before stepping the household environment.")
        return self._world
