"""Benchmark the textworld env: steps/s and native (TextWorld `copy()`) vs replay restore.

Prints one JSON line. Both restores are measured in this process from the same
state: a few moves into an ood game of the registered smoke variant, off the
expert path, which is where branching restores from.
"""
from __future__ import annotations

import json
import random
import statistics
import time

from earlyexp import envs

REPEATS = 30


def reach_state(env, task_id: str):
    """Three detours and two expert moves into the game; returns the step count."""
    _, info = env.reset(seed=0, options={"task_id": task_id})
    moves = ["look", "inventory", "look", None, None]
    for action in moves:
        *_, info = env.step(action or info["expert_action"])
    return len(moves), info


def time_restore(env, snap, away: str) -> float:
    """Median milliseconds of restore(snap), stepping away before each restore."""
    samples = []
    for _ in range(REPEATS):
        env.step(away)
        start = time.perf_counter()
        env.restore(snap)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def steps_per_second(env, seconds: float = 5.0) -> float:
    """Random admissible play over the train games for about `seconds`."""
    rng, steps, tasks = random.Random(0), 0, env.tasks("train")
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, info = env.reset(seed=steps, options={"task_id": tasks[steps % len(tasks)]})
        done = False
        while not done:
            *_, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
            steps, done = steps + 1, terminated or truncated
    return steps / (time.perf_counter() - start)


def main() -> None:
    env = envs.make("textworld", **envs.spec("textworld").smoke_kwargs)
    depth, _ = reach_state(env, env.tasks("ood")[0])
    start = time.perf_counter()
    native = env.snapshot()
    snapshot_ms = (time.perf_counter() - start) * 1000
    replay = env.snapshot(mode="replay")
    native_ms = time_restore(env, native, "look")
    replay_ms = time_restore(env, replay, "look")
    print(json.dumps({
        "benchmark": "env_textworld",
        "steps_per_s": round(steps_per_second(env), 1),
        "snapshot_ms": round(snapshot_ms, 2),
        "snapshot_restore_ms": round(native_ms, 2),
        "replay_restore_ms": round(replay_ms, 2),
        "native_vs_replay_ratio": round(replay_ms / native_ms, 1),  # > 1: native is faster
        "restore_depth_steps": depth,
        "cached_generation_s_smoke": env.manifest.seconds,  # recorded when the cache was built
    }))
    env.close()


if __name__ == "__main__":
    main()
