"""Benchmark the household family: speed, snapshot cost, and how hard the tasks are.

Measured in one process on the registered (full-size) configuration:

- `steps_per_s`: env.step() rate, full `info` included, on episodes that mix
  random admissible commands with the expert's;
- `snapshot_restore_ms` / `replay_restore_ms`: one snapshot()+restore() pair at
  mid-episode states, native (deepcopy of the world state) versus the base
  class's replay fallback (`snapshot(mode="replay")`), and their ratio;
- `generation_ms_per_task`: generating one task from scratch (no cache);
- `expert_success` / `expert_mean_steps`: the expert on every test and ood task
  and a sample of train tasks;
- `random_success`: a uniformly random admissible policy on the test tasks
  (max_steps 50) -- how weak unguided play is.

Prints one JSON line.
"""
from __future__ import annotations

import json
import random
import statistics
import time

import earlyexp.envs as envs
from earlyexp.envs.household.generator import generate_task

TRAIN_SAMPLE = 300
SNAPSHOT_STATES = 60
REPEATS = 20


def expert_episode(env, task_id: str) -> tuple[bool, int]:
    _, info = env.reset(seed=0, options={"task_id": task_id})
    steps, done = 0, False
    while not done and info["expert_action"] is not None:
        *_, terminated, truncated, info = env.step(info["expert_action"])
        steps, done = steps + 1, terminated or truncated
    return info["success"], steps


def random_episode(env, task_id: str, rng: random.Random) -> bool:
    _, info = env.reset(seed=0, options={"task_id": task_id})
    done = False
    while not done:
        *_, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
        done = terminated or truncated
    return info["success"]


def steps_per_second(env, task_ids: list[str], rng: random.Random) -> float:
    steps, start = 0, time.perf_counter()
    for task_id in task_ids:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        done = False
        while not done:
            pool = info["admissible_actions"]
            action = info["expert_action"] if rng.random() < 0.5 else rng.choice(pool)
            *_, terminated, truncated, info = env.step(action)
            steps, done = steps + 1, terminated or truncated
    return steps / (time.perf_counter() - start)


def restore_ms(env, task_ids: list[str], mode: str) -> float:
    """Median time of one snapshot()+restore() at a state 6 expert steps into a task."""
    timings = []
    for task_id in task_ids:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        for _ in range(6):
            if info["expert_action"] is None:
                break
            *_, terminated, _, info = env.step(info["expert_action"])
            if terminated:
                break
        start = time.perf_counter()
        for _ in range(REPEATS):
            env.restore(env.snapshot(mode=mode))
        timings.append((time.perf_counter() - start) / REPEATS * 1e3)
    return statistics.median(timings)


def main() -> None:
    env = envs.make("household")
    rng = random.Random(0)
    train = rng.sample(env.tasks("train"), TRAIN_SAMPLE)
    start = time.perf_counter()
    for index in range(200):
        generate_task(1, "train", index)
    generation_ms = (time.perf_counter() - start) / 200 * 1e3

    solved, lengths = [], []
    for task_id in train + env.tasks("test") + env.tasks("ood"):
        success, steps = expert_episode(env, task_id)
        solved.append(success)
        lengths.append(steps)
    random_wins = [random_episode(env, t, rng) for t in env.tasks("test")]
    rate = steps_per_second(env, train[:150], rng)
    states = train[:SNAPSHOT_STATES]
    native, replay = restore_ms(env, states, "auto"), restore_ms(env, states, "replay")
    print(json.dumps({
        "benchmark": "env_household",
        "steps_per_s": round(rate, 1),
        "snapshot_restore_ms": round(native, 4),
        "replay_restore_ms": round(replay, 4),
        "native_vs_replay_ratio": round(replay / native, 1),
        "generation_ms_per_task": round(generation_ms, 3),
        "expert_success": round(sum(solved) / len(solved), 4),
        "expert_episodes": len(solved),
        "expert_mean_steps": round(statistics.mean(lengths), 2),
        "random_success": round(sum(random_wins) / len(random_wins), 4),
        "random_episodes": len(random_wins),
    }))


if __name__ == "__main__":
    main()
