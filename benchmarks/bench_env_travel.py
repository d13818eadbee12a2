"""Travel family benchmark: one JSON line with throughput, snapshot costs and family figures.

    steps_per_s              expert steps per second over train, test and ood episodes
    snapshot_restore_ms      native snapshot() + restore() in the middle of an episode
    replay_restore_ms        the same with the base class's replay fallback
    native_vs_replay_ratio   replay_restore_ms / snapshot_restore_ms
    expert_success_rate      expert episodes that pass TravelPlanner's final check
    evaluate_ms              one evaluation (8 commonsense checks + hard constraints)
    generation_s             generating the default task set from scratch (no cache)
    mean_admissible_actions  size of the admissible menu along expert episodes
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from earlyexp.envs.travel.data import TaskSetSpec, ensure_task_set
from earlyexp.envs.travel.evaluation import evaluate

from earlyexp import envs

EPISODES_PER_SPLIT = 15
SNAPSHOT_STEPS = 15
REPEATS = 200


def expert_episodes(env) -> dict[str, float]:
    steps = successes = episodes = 0
    menu_sizes = []
    start = time.perf_counter()
    for split in env.splits:
        for task_id in env.tasks(split)[:EPISODES_PER_SPLIT]:
            _, info = env.reset(seed=0, options={"task_id": task_id})
            done = False
            while not done:
                menu_sizes.append(len(info["admissible_actions"]))
                _, _, terminated, truncated, info = env.step(info["expert_action"])
                steps, done = steps + 1, terminated or truncated
            successes, episodes = successes + info["success"], episodes + 1
    elapsed = time.perf_counter() - start
    return {"steps_per_s": steps / elapsed, "expert_success_rate": successes / episodes,
            "mean_admissible_actions": sum(menu_sizes) / len(menu_sizes)}


def snapshot_costs(env) -> dict[str, float]:
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    for _ in range(SNAPSHOT_STEPS):
        _, _, _, _, info = env.step(info["expert_action"])

    def per_call_ms(mode: str, repeats: int) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            env.restore(env.snapshot(mode=mode))
        return (time.perf_counter() - start) / repeats * 1000

    native, replay = per_call_ms("auto", REPEATS), per_call_ms("replay", REPEATS // 4)
    return {"snapshot_restore_ms": native, "replay_restore_ms": replay,
            "native_vs_replay_ratio": replay / native}


def evaluation_ms(env) -> float:
    tasks = [env.task_set.tasks[t] for t in env.tasks("train")[:50]]
    start = time.perf_counter()
    for task in tasks:
        evaluate(task.query, task.plan, env.sandbox)
    return (time.perf_counter() - start) / len(tasks) * 1000


def generation_s() -> float:
    kwargs = envs.spec("travel").kwargs
    spec = TaskSetSpec(kwargs["num_train"], kwargs["num_test"], kwargs["num_ood"], kwargs["seed"])
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        ensure_task_set(spec, Path(root))
        return time.perf_counter() - start


def main() -> None:
    env = envs.make("travel")
    try:
        result = {"benchmark": "env_travel", **expert_episodes(env), **snapshot_costs(env),
                  "evaluate_ms": evaluation_ms(env), "generation_s": generation_s()}
    finally:
        env.close()
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
