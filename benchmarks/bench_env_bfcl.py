"""Benchmark of the bfcl family: steps/s, native vs replay snapshot+restore, checker cost.

Prints one JSON line. Steps are the expert's actions over every task of every
split (calls and end_turn checks alike); snapshot+restore is timed at a state
eight actions into a task, natively (deepcopy of the backend instances) and by
the base class's replay fallback, in the same process.
"""
from __future__ import annotations

import json
import time

from earlyexp.envs.bfcl import checker

from earlyexp import envs


def expert_pass(env) -> tuple[int, float, float]:
    """Run the expert on every task; returns (steps, seconds, success rate)."""
    steps, solved, started = 0, 0, time.perf_counter()
    ids = [t for split in env.splits for t in env.tasks(split)]
    for task_id in ids:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        while info["expert_action"] is not None:
            _, _, terminated, truncated, info = env.step(info["expert_action"])
            steps += 1
            if terminated or truncated:
                break
        solved += info["success"]
    return steps, time.perf_counter() - started, solved / len(ids)


def snapshot_restore_ms(env, mode: str, repeats: int = 200) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        env.restore(env.snapshot(mode=mode))
    return 1000 * (time.perf_counter() - started) / repeats


def reference_ms(env) -> float:
    """Cost of replaying one task's ground truth from scratch (the checker's reference)."""
    ids = env.tasks("test")
    checker.reference.cache_clear()
    started = time.perf_counter()
    for task_id in ids:
        checker.reference(task_id)
    return 1000 * (time.perf_counter() - started) / len(ids)


def main() -> None:
    env = envs.make("bfcl")
    expert_pass(env)  # warm the data, split and reference caches
    steps, seconds, success = expert_pass(env)
    _, info = env.reset(seed=0, options={"task_id": "multi_turn_base_0"})
    for _ in range(8):
        _, _, _, _, info = env.step(info["expert_action"])
    native = snapshot_restore_ms(env, "auto")
    replay = snapshot_restore_ms(env, "replay")
    print(json.dumps({
        "benchmark": "env_bfcl",
        "steps_per_s": round(steps / seconds, 1),
        "snapshot_restore_ms": round(native, 4),
        "replay_restore_ms": round(replay, 4),
        "native_vs_replay_ratio": round(replay / native, 2),  # > 1: native restore is faster
        "expert_success_rate": success,
        "expert_steps": steps,
        "reference_build_ms": round(reference_ms(env), 3),
    }))


if __name__ == "__main__":
    main()
