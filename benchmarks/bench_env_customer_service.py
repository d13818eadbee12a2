"""Benchmark customer_service: steps/s, native vs replay snapshot+restore, reward check, generation.

Prints one JSON line. Everything is measured in this process on the
registered default configuration (300 users, the full task splits):

- steps_per_s: expert steps per second over a sample of train and ood tasks
  (resets excluded), with `expert_success_rate` over the same episodes;
- snapshot_restore_ms / replay_restore_ms: one `snapshot()` + `restore()` at
  the state just before the last message of a two-request task, natively
  (SQLite backup API) and with the base class's replay fallback
  (`snapshot(mode="replay")`); native_vs_replay_ratio = replay / native;
- db_copy_ms: one backup-API copy of the shop database;
- reward_check_ms: building the gold database of a task and comparing digests;
- generation_s: generating the world and all tasks from scratch (no cache).
"""

from __future__ import annotations

import json
import time

from earlyexp.envs.customer_service import data
from earlyexp.envs.customer_service.database import copy_database
from earlyexp.envs.customer_service.reward import gold_digest

from earlyexp import envs

SAMPLE_PER_SPLIT = 40


def expert_throughput(env) -> tuple[float, float]:
    steps, seconds, successes, episodes = 0, 0.0, 0, 0
    for split in ("train", "ood"):
        for task_id in env.tasks(split)[:SAMPLE_PER_SPLIT]:
            _, info = env.reset(seed=0, options={"task_id": task_id})
            start = time.perf_counter()
            while info["expert_action"] is not None:
                *_, info = env.step(info["expert_action"])
                steps += 1
            seconds += time.perf_counter() - start
            successes += info["success"]
            episodes += 1
    return steps / seconds, successes / episodes


def snapshot_restore_ms(env, mode: str, repeats: int) -> float:
    """Mean milliseconds of one snapshot(mode) + restore at the current state."""
    return timed_ms(lambda: env.restore(env.snapshot(mode=mode)), repeats)


def deep_state(env) -> None:
    """Walk the expert of a two-request task up to its last action."""
    task_id = next(t for t in env.tasks("train") if "+" in t)
    _, info = env.reset(seed=0, options={"task_id": task_id})
    while True:
        action = info["expert_action"]
        *_, info = env.step(action)
        if (
            info["expert_action"] is not None
            and "anything else" in info["expert_action"]
            and info["request_index"] == len(env._task.requests) - 1
            and env._episode.writes
        ):
            return


def timed_ms(function, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    env = envs.make("customer_service")
    steps_per_s, success_rate = expert_throughput(env)
    deep_state(env)
    depth = len(env.actions_taken)
    native = snapshot_restore_ms(env, "auto", 100)
    replay = snapshot_restore_ms(env, "replay", 20)
    task = env._task
    db_copy = timed_ms(lambda: copy_database(env._base).close(), 100)
    reward_check = timed_ms(lambda: gold_digest(env._base, task.gold_calls()), 10)
    start = time.perf_counter()
    data._generate(env.data_spec)
    generation = time.perf_counter() - start
    env.close()
    print(
        json.dumps(
            {
                "benchmark": "env_customer_service",
                "steps_per_s": round(steps_per_s, 1),
                "expert_success_rate": round(success_rate, 3),
                "snapshot_restore_ms": round(native, 3),
                "replay_restore_ms": round(replay, 3),
                "native_vs_replay_ratio": round(replay / native, 1),
                "snapshot_depth_steps": depth,
                "db_copy_ms": round(db_copy, 3),
                "reward_check_ms": round(reward_check, 2),
                "generation_s": round(generation, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
