"""Transitions per second collecting K=4 alternatives over the same TextWorld episodes:
the native snapshot (Z-machine state saved and loaded in place, plus TextWorld's
trackers) vs the base class's replay fallback, in one run; and the cost of one
snapshot and one restore of each kind, in milliseconds (median), at a mid-episode
state of the first task."""
from __future__ import annotations

import random
import statistics
import time

from common import emit

import earlyexp.envs as envs
from earlyexp.experience.branching import UniformSampler, collect_task

K, TASKS, REPEATS = 4, 3, 20
SMOKE = envs.spec("textworld").smoke_kwargs


def rate(env, tasks, mode: str) -> tuple[float, int]:
    transitions, start = 0, time.perf_counter()
    for task in tasks:
        result = collect_task(env, task, 0, K, UniformSampler(), random.Random(task), mode)
        transitions += len(result.transitions)
    return transitions / (time.perf_counter() - start), transitions


def median_ms(fn) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


def snapshot_costs(env, task) -> dict[str, float]:
    """Median snapshot and restore times (ms) at the state three expert steps in."""
    _, info = env.reset(seed=0, options={"task_id": task})
    for _ in range(3):
        _, _, _, _, info = env.step(info["expert_action"])
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    return {"snapshot_ms": median_ms(env.snapshot),
            "restore_ms": median_ms(lambda: env.restore(native)),
            "replay_restore_ms": median_ms(lambda: env.restore(replay))}


def main() -> None:
    env = envs.make("textworld", **SMOKE)
    tasks = env.tasks("train")[:TASKS]
    rate(env, tasks[:1], "auto")  # warm up: open the games once
    native, n = rate(env, tasks, "auto")
    replay, _ = rate(env, tasks, "replay")
    costs = snapshot_costs(env, tasks[0])
    env.close()
    emit(benchmark="branching_restore", env="textworld", k=K, episodes=len(tasks),
         transitions=n, native_transitions_per_s=round(native, 1),
         replay_transitions_per_s=round(replay, 1), ratio=round(native / replay, 2), **costs)


if __name__ == "__main__":
    main()
