"""Transitions per second collecting K=4 alternatives over the same TextWorld episodes:
native `copy()` restore vs the base class's replay fallback, in one run."""
from __future__ import annotations

import random
import time

from common import emit

import earlyexp.envs as envs
from earlyexp.experience.branching import UniformSampler, collect_task

K, TASKS = 4, 3
SMOKE = envs.spec("textworld").smoke_kwargs


def rate(env, tasks, mode: str) -> tuple[float, int]:
    transitions, start = 0, time.perf_counter()
    for task in tasks:
        result = collect_task(env, task, 0, K, UniformSampler(), random.Random(task), mode)
        transitions += len(result.transitions)
    return transitions / (time.perf_counter() - start), transitions


def main() -> None:
    env = envs.make("textworld", **SMOKE)
    tasks = env.tasks("train")[:TASKS]
    rate(env, tasks[:1], "auto")  # warm up: open the games once
    native, n = rate(env, tasks, "auto")
    replay, _ = rate(env, tasks, "replay")
    env.close()
    emit(benchmark="branching_restore", env="textworld", k=K, episodes=len(tasks),
         transitions=n, native_transitions_per_s=round(native, 1),
         replay_transitions_per_s=round(replay, 1), ratio=round(native / replay, 2))


if __name__ == "__main__":
    main()
