"""`ScienceWorldEnv`: the real ScienceWorld (30 science tasks, Java simulator) as a `TextEnv`."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from py4j.protocol import Py4JJavaError

from earlyexp.envs.core import MAX_OBSERVATION_CHARS, Outcome, Status, TextEnv
from earlyexp.envs.scienceworld.catalog import (
    DEFAULT_OOD_TOPICS, SPLITS, TASK_NAMES, TOPIC_OF_TASK, GoldPathStore, SplitConfig,
    load_or_build_splits, parse_task_id, task_id_of,
)
from earlyexp.envs.scienceworld.engine import Simulator, SimulatorDiedError, unsendable
from earlyexp.envs.scienceworld.replicas import Position, ReplicaPool, move_simulator
from earlyexp.envs.scienceworld.verified import GoldVerification
from earlyexp.errors import EnvCrashedError, NonDeterministicEnvError, UnknownTaskError

AdmissibleMode = Literal["full", "on_path", "lazy"]
ADMISSIBLE_MODES = ("full", "on_path", "lazy")
AMBIGUOUS_PROMPT = "Ambiguous request"
# ScienceWorld's commands are short (the longest gold action has under 100 characters).
MAX_SCIENCEWORLD_ACTION_CHARS = 512


@dataclass(frozen=True)
class NativeState:
    """What `restore()` needs besides the simulator: where it stood and the Python-side state."""

    position: Position
    engine_observation: str
    gold_index: int | None
    score: float
    raw_score: float
    completed: bool


class ScienceWorldEnv(TextEnv):
    """ScienceWorld's 30 elementary-science tasks, run by the `scienceworld` package's simulator.

    Description:
        A text house (kitchen, greenhouse, workshop, ...) in which the agent boils water,
        builds circuits, grows plants, mixes paints or works out Mendelian ratios. Each of
        the 30 tasks has many *variations* (objects, substances, rooms); a task id names one,
        e.g. ``boil-var3``. The simulator is a JVM per env (plus spares, see Arguments).

    Action Space:
        Free text in ScienceWorld's grammar (``open door to kitchen``, ``focus on water``,
        ``connect battery anode to orange wire terminal 1``, a number to resolve an ambiguous
        request). An action the parser rejects, or one longer than 512 characters, gives
        ``valid_action=False`` and leaves the state as it was.

    Observation Space:
        The simulator's reply; after ``reset()``, the ``look around`` text of the start room.

    Starting State:
        The task variation as the package loads it. ScienceWorld's own randomness (bees,
        wandering animals, genetics) is seeded from the task id, and the JVM runs with a
        constant identity hash so object listings come out in one order: the episode is a
        function of the task id and the actions (the reset seed only picks a task).

    Reward:
        ``score`` is ScienceWorld's score / 100 clamped at 0; the reward of a step is the
        change in ``score`` (in [-1, 1]), so the rewards of an episode sum to its final score.

    Episode End:
        Terminated when the task is completed, failed (ScienceWorld's score goes negative,
        e.g. focusing on the wrong object), or when the JVM died (reported as a failure with
        ``info["error"]``; a new JVM is started for the next reset). Truncated after ``max_steps``.

    Information:
        The contract keys; ``success`` is ScienceWorld's completion flag (never after a
        failure). ``expert_action`` is the next action of the task's gold path while every
        action so far followed it (actions the parser rejected do not count), and None once
        the agent has left it. ``admissible_actions`` follows ``admissible``. Extra keys:
        ``task_name``, ``topic``, ``variation``, ``raw_score`` (the engine's score in [-1, 1])
        and ``error`` (None, or why the JVM died).

    Arguments:
        task_names: ScienceWorld tasks to include (default all 30).
        ood_topics: topics held out of train/dev/test; their test variations form ``ood``.
        variations_per_task: cap per task and split (a seeded sample); None keeps all.
        split_seed: seed of that sample.
        admissible: ``full`` (valid-action list every step), ``on_path`` (only while on the
            gold path, where branching happens) or ``lazy`` (never in info; call
            ``admissible_actions()``).
        max_admissible: cap on that list, in the engine's order (it can exceed 8,000).
        snapshot_replicas: spare JVMs that pre-replay snapshots (0: replay on restore only).
        max_steps, split, render_mode: as in `TextEnv`.

    Version History:
        v0: first version (scienceworld 1.2.3).
    """

    splits = SPLITS
    reward_range = (-1.0, 1.0)

    def __init__(self, task_names: list[str] | tuple[str, ...] | None = None,
                 ood_topics: list[str] | tuple[str, ...] = DEFAULT_OOD_TOPICS,
                 variations_per_task: int | None = None, split_seed: int = 0,
                 admissible: AdmissibleMode = "on_path", max_admissible: int = 2000,
                 snapshot_replicas: int = 1, max_steps: int = 100, split: str = "train",
                 render_mode: str | None = None):
        super().__init__(max_steps=max_steps, split=split, render_mode=render_mode)
        if admissible not in ADMISSIBLE_MODES:
            raise ValueError(f"admissible must be one of {ADMISSIBLE_MODES}, got {admissible!r}")
        if max_admissible < 1:
            raise ValueError(f"max_admissible must be at least 1, got {max_admissible}")
        # Variations whose gold path was verified not to solve the task are left out.
        self._verification = GoldVerification.load()
        self.split_config = SplitConfig(tuple(task_names or TASK_NAMES), tuple(ood_topics),
                                        variations_per_task, split_seed,
                                        frozenset(self._verification.unsolved))
        self.admissible, self.max_admissible = admissible, max_admissible
        self._replicas = ReplicaPool(snapshot_replicas, Simulator)
        self._gold_store = GoldPathStore()
        # task id -> index of a gold action the engine rejected: the expert stops there
        # (the engine is deterministic, so offering it again would loop until truncation).
        self._rejected_gold: dict[str, int] = {}
        self._sim: Simulator | None = None
        self._splits: dict[str, list[str]] | None = None
        self._left_out: list[str] = []
        self._known: set[str] = set()
        self._reset_episode_state()

    def _reset_episode_state(self) -> None:
        self._goal, self._task = "", ("", 0)
        self._engine_actions: list[str] = []
        self._engine_observation = ""
        self._gold: list[str] = []
        self._gold_index: int | None = 0
        self._score = self._raw_score = 0.0
        self._completed = False
        self._error: str | None = None
        self._admissible_cache: list[str] | None = None

    # ------------------------------------------------------------ splits
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        if self._splits is None:
            self._splits, self._left_out = load_or_build_splits(self.split_config,
                                                                self._variations_of)
            self._known = {task for ids in self._splits.values() for task in ids}
        return list(self._splits[split])

    def split_note(self) -> str:
        """How many of the split's gold paths were verified, repaired and left out (shown by
        ``earlyexp envs --sizes``)."""
        every = [task for split in self.splits for task in self.tasks(split)]
        verified = [task for task in every if task in self._verification.verified]
        notable = [self._verification.notable[t] for t in verified if t in self._verification.notable]
        repaired = sum(bool(v.repairs) for v in notable)
        too_long = sum(v.steps > self.max_steps for v in notable)
        return (f"gold paths verified {len(verified):,}/{len(every):,} ({repaired:,} repaired, "
                f"{too_long:,} longer than max_steps={self.max_steps}), "
                f"{len(self._left_out):,} unsolved left out")

    def _variations_of(self, task_name: str) -> dict[str, list[int]]:
        variations = self._simulator().variations(task_name)
        if self._started and self._error is None:
            self._resync()  # listing variations loaded another task into the episode's JVM
        return variations

    # ------------------------------------------------------------ hooks
    def _load_task(self, task_id: str, seed: int) -> str:
        parsed = parse_task_id(task_id)
        self.tasks(self.default_split)
        if parsed is None or task_id not in self._known:
            raise UnknownTaskError(self.name, task_id, sorted(self._known))
        self._reset_episode_state()
        try:
            return self._start_task(*parsed)
        except SimulatorDiedError:  # one retry on a fresh JVM, then let the caller see it
            self._replace_simulator()
            return self._start_task(*parsed)

    def _start_task(self, task_name: str, variation: int) -> str:
        sim = self._simulator()
        task_id = task_id_of(task_name, variation)
        self._gold = self._gold_of(task_id, sim)
        sim.load(task_name, variation)
        self._replicas.warm_up()  # spare JVMs start now so the first snapshot finds them ready
        self._task, self._goal = (task_name, variation), sim.task_description()
        self._engine_observation = sim.look()
        return self._engine_observation

    def _act(self, action: str) -> Outcome:
        if self._error is not None:
            return Outcome(f"The simulator is gone ({self._error}); call reset().", 0.0, True, False)
        if len(action) > MAX_SCIENCEWORLD_ACTION_CHARS:
            return Outcome(f"Invalid action: longer than {MAX_SCIENCEWORLD_ACTION_CHARS} "
                           f"characters ({len(action)}).", valid_action=False)
        problem = unsendable(action)
        if problem is not None:  # refused here: the JVM is fine and stays so
            return Outcome(f"Invalid action: {problem}.", valid_action=False)
        try:
            if not self._sim.alive:  # checked first: a new JVM would not know this episode
                raise SimulatorDiedError(f"the JVM process {self._sim.pid} has exited")
            result = self._sim.step(action)
        except SimulatorDiedError as died:
            return self._fail_episode(died.reason)
        except Py4JJavaError as error:  # the simulator threw on this input; it stays usable
            self._engine_actions.append(action)
            return Outcome(f"The simulator could not process that action "
                           f"({str(error.java_exception)[:200]}).", valid_action=False)
        # A rejected action leaves the world as it was, so it is not part of the position
        # that restore() replays (and restoring right after one costs nothing), except as
        # the answer to an "Ambiguous request" prompt, which it cancels.
        if result.valid or self._engine_observation.startswith(AMBIGUOUS_PROMPT):
            self._engine_actions.append(action)
            self._engine_observation = result.observation
            self._admissible_cache = None
        self._follow_gold_path(action, result.valid)
        previous = self._score
        self._raw_score, self._completed = result.raw_score, result.completed
        self._score = max(0.0, result.raw_score)
        failed = result.raw_score < 0
        return Outcome(result.observation[:MAX_OBSERVATION_CHARS], self._score - previous,
                       self._completed or failed, result.valid)

    def _follow_gold_path(self, action: str, valid: bool) -> None:
        index = self._gold_index
        if index is not None and not valid and index < len(self._gold) and action == self._gold[index]:
            self._rejected_gold[task_id_of(*self._task)] = index  # the expert's own action
        if index is None or not valid:
            return  # off the path already, or a rejected action that changed nothing
        on_path = index < len(self._gold) and action == self._gold[index]
        self._gold_index = index + 1 if on_path else None

    def _fail_episode(self, reason: str) -> Outcome:
        """The JVM died mid-episode: start a new one and end this episode as failed."""
        self._replace_simulator()
        self._error = reason
        lost, self._score, self._gold_index = self._score, 0.0, None
        return Outcome(f"The ScienceWorld simulator stopped ({reason}). A new one has been "
                       "started; this episode ends as failed. Call reset() to continue.",
                       -lost, True, True)

    def _status(self) -> Status:
        expert = self._status_expert()
        return Status(
            goal=self._goal,
            success=self._completed and self._raw_score >= 0 and self._error is None,
            score=self._score,
            admissible_actions=self._admissible_for_info(expert is not None),
            expert_action=expert,
            extra={"task_name": self._task[0], "topic": TOPIC_OF_TASK.get(self._task[0]),
                   "variation": self._task[1], "raw_score": self._raw_score,
                   "error": self._error},
        )

    def _admissible_for_info(self, on_path: bool) -> list[str] | None:
        if self.admissible == "full" or (self.admissible == "on_path" and on_path):
            return self.admissible_actions()
        return None

    def admissible_actions(self) -> list[str]:
        """The engine's valid actions in this state plus the expert's, sorted; computed once.

        The engine's list names some objects differently from the gold path (it has no
        ``open door to kitchen``), so the expert action is added while on the path. Above
        `max_admissible` a sample seeded by the state is kept (the expert action always).
        """
        if self._admissible_cache is None:
            if self._error is not None:
                return []
            try:
                valid = set(self._sim.valid_actions())
            except SimulatorDiedError:
                return []  # the next step reports the crash
            expert = self._status_expert()
            valid.discard(expert)
            keep = self.max_admissible - (expert is not None)
            if len(valid) > keep:
                state_seed = f"{self._task}/{len(self._engine_actions)}"
                valid = set(random.Random(state_seed).sample(sorted(valid), keep))
            self._admissible_cache = sorted(valid | ({expert} if expert else set()))
        return list(self._admissible_cache)

    def _status_expert(self) -> str | None:
        on_path = self._error is None and self._gold_index is not None and not self._completed
        stuck = self._rejected_gold.get(task_id_of(*self._task)) == self._gold_index
        if on_path and not stuck and self._gold_index < len(self._gold):
            return self._gold[self._gold_index]
        return None

    # ------------------------------------------------------------ snapshots
    def _position(self) -> Position:
        return Position(self._task[0], self._task[1], tuple(self._engine_actions))

    def _native_snapshot(self) -> NativeState | None:
        if self._replicas.size == 0 or self._error is not None:
            return None
        state = NativeState(self._position(), self._engine_observation, self._gold_index,
                            self._score, self._raw_score, self._completed)
        self._replicas.prepare(state.position)
        return state

    def _native_restore(self, state: NativeState) -> None:
        target = state.position
        task_id = task_id_of(target.task_name, target.variation)
        sim = self._simulator()
        loads_before = sim.load_count
        gold = self._gold_of(task_id, sim)
        # The simulator stands where the episode does, unless making the gold path reloaded it.
        here = self._position() if sim.load_count == loads_before else None
        if here == target:  # only rejected actions since the snapshot: nothing to undo
            swapped = (sim, self._engine_observation)
        else:
            swapped = self._replicas.exchange(target, sim, here, self._engine_observation)
        if swapped is not None:
            self._sim, observation = swapped
        else:
            observation = self._replay_on_own_simulator(target)
        if observation != state.engine_observation:
            raise NonDeterministicEnvError(self.name, task_id_of(target.task_name, target.variation),
                                           len(target.actions), state.engine_observation, observation)
        self._reset_episode_state()
        self._gold = gold
        self._task, self._goal = (target.task_name, target.variation), self._sim.task_description()
        self._engine_actions, self._engine_observation = list(target.actions), observation
        self._gold_index, self._score = state.gold_index, state.score
        self._raw_score, self._completed = state.raw_score, state.completed

    def _gold_of(self, task_id: str, sim: Simulator) -> list[str]:
        """The task's gold path (cached), with the verified repairs applied."""
        task_name, variation = parse_task_id(task_id)
        gold = self._gold_store.get(task_id, lambda: sim.load(task_name, variation, True))
        return self._verification.repaired(task_id, gold)

    def _replay_on_own_simulator(self, target: Position) -> str:
        try:
            return move_simulator(self._simulator(), None, target)
        except SimulatorDiedError:
            self._replace_simulator()
            return move_simulator(self._simulator(), None, target)

    def _resync(self) -> None:
        """Put the episode's simulator back where the episode stands (after another load)."""
        move_simulator(self._simulator(), None, self._position())

    # ------------------------------------------------------------ processes
    def _simulator(self) -> Simulator:
        if self._sim is None or not self._sim.alive:
            if self._sim is not None:
                self._sim.close()
            self._sim = Simulator()
        return self._sim

    def _replace_simulator(self) -> None:
        if self._sim is not None:
            self._sim.close()
        self._sim = None
        try:
            self._sim = Simulator()
        except SimulatorDiedError as error:
            raise EnvCrashedError(f"Could not restart the ScienceWorld JVM: {error}") from error

    @property
    def simulator_pid(self) -> int | None:
        """Process id of the JVM that runs the current episode (None before the first reset)."""
        return self._sim.pid if self._sim is not None else None

    def close(self) -> None:
        self._replicas.close()
        if self._sim is not None:
            self._sim.close()
            self._sim = None
        super().close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn modules down
            pass
