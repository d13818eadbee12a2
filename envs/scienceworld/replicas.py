"""Spare simulators that make `restore()` cheap although ScienceWorld cannot copy its state.

The engine has no save/restore, so returning to a state means reloading the
task and replaying the actions that led there. A `ReplicaPool` does that work
*ahead of time* in other JVMs: `snapshot()` sends every spare simulator to the
snapshot's position in a background thread (usually one step further along the
expert path than where it already is), and `restore()` swaps the env's
simulator for a spare that is already there, then sends the swapped-out
simulator back to the same position in the background, so that restoring the
same snapshot again (the next branch) is also a swap. Each JVM is a separate
process, so the catch-up replays run on other cores while the env steps.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from py4j.protocol import Py4JError

from earlyexp.envs.scienceworld.engine import Simulator, SimulatorDiedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Position:
    """A simulator state named by how it was reached: a task variation and the actions since load."""

    task_name: str
    variation: int
    actions: tuple[str, ...]

    def extends(self, other: Position) -> bool:
        """True when `self` is reachable from `other` by stepping forward."""
        return ((self.task_name, self.variation) == (other.task_name, other.variation)
                and self.actions[:len(other.actions)] == other.actions)


def move_simulator(sim: Simulator, current: Position | None, target: Position,
                   current_observation: str = "") -> str:
    """Bring `sim` from `current` to `target`, by stepping forward if possible, else by a reload.

    Returns the observation the target state was reached with (the look text
    when `target` has no actions).
    """
    if current is not None and target.extends(current):
        remaining = target.actions[len(current.actions):]
        return sim.advance(remaining) if remaining else current_observation
    sim.load(target.task_name, target.variation)
    return sim.advance(target.actions) if target.actions else sim.look()


class Replica:
    """One spare simulator with a single worker thread that moves it between positions."""

    def __init__(self, start: Callable[[], Simulator]):
        self._start = start
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scienceworld-replica")
        self._sim: Simulator | None = None
        self._reached: Position | None = None
        self._observation = ""
        self.target: Position | None = None
        self._job: Future = self._worker.submit(self._ensure_started)

    def move_to(self, target: Position) -> None:
        self.target = target
        self._job = self._worker.submit(self._catch_up, target)

    def take(self) -> tuple[Simulator, str] | None:
        """Wait for the pending move; the simulator and its observation, or None if it failed."""
        try:
            self._job.result()
        except (SimulatorDiedError, Py4JError) as error:
            logger.warning("ScienceWorld replica failed to reach its position: %s", error)
            self._discard()
            return None
        return self._sim, self._observation

    def adopt(self, sim: Simulator, position: Position | None, observation: str) -> None:
        """Replace this replica's simulator (just taken) by `sim`, standing at `position` (None: unknown)."""
        self._sim, self._reached, self._observation = sim, position, observation

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self._sim is not None:
            self._sim.close()
            self._sim = None

    # -------------------------------------------------- worker-thread side
    def _ensure_started(self) -> None:
        if self._sim is None or not self._sim.alive:
            if self._sim is not None:
                self._sim.close()
            self._sim, self._reached = self._start(), None

    def _catch_up(self, target: Position) -> None:
        if target != self.target:
            return  # superseded by a newer snapshot before it started: skip the stale replay
        self._ensure_started()
        self._observation = move_simulator(self._sim, self._reached, target, self._observation)
        self._reached = target

    def _discard(self) -> None:
        if self._sim is not None:
            self._sim.close()
        self._sim, self._reached, self.target = None, None, None
        self._job = self._worker.submit(self._ensure_started)


class ReplicaPool:
    """`size` replicas, started lazily in the background on the first `prepare()`."""

    def __init__(self, size: int, start: Callable[[], Simulator]):
        if size < 0:
            raise ValueError(f"snapshot_replicas must be 0 or more, got {size}")
        self.size = size
        self._start = start
        self._replicas: list[Replica] = []

    def warm_up(self) -> None:
        """Start the replicas' JVMs in the background (about a second each)."""
        if not self._replicas:
            self._replicas = [Replica(self._start) for _ in range(self.size)]

    def prepare(self, target: Position) -> None:
        """Send every replica to `target` (the newest snapshot is the one branching restores)."""
        self.warm_up()
        for replica in self._replicas:
            if replica.target != target:
                replica.move_to(target)

    def exchange(self, target: Position, sim: Simulator, position: Position | None,
                 observation: str) -> tuple[Simulator, str] | None:
        """Swap `sim` (standing at `position`) for a replica at `target`; None if none is there.

        The swapped-in replica's old slot takes `sim` and walks it back to `target`.
        """
        for replica in self._replicas:
            if replica.target != target:
                continue
            taken = replica.take()
            if taken is None:
                continue
            replica.adopt(sim, position, observation)
            replica.move_to(target)
            return taken
        return None

    def close(self) -> None:
        for replica in self._replicas:
            replica.close()
        self._replicas = []
