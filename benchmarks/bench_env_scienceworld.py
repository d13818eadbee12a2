"""ScienceWorld: steps/s against the package's own `step()`, and restore cost, as one JSON line.

* ``steps_per_s``: this env (``admissible="lazy"``) following the gold paths of a few tasks;
  ``package_steps_per_s``: `scienceworld.ScienceWorldEnv.step()` on the same actions;
  ``speedup_vs_package`` is their ratio (target >= 4). ``on_path_steps_per_s`` is the
  default ``admissible="on_path"`` mode, which also lists valid actions at expert states.
* ``snapshot_restore_ms``: one snapshot + restore in the branching pattern (snapshot at an
  expert state, one alternative step, restore; two branches per state: one valid action,
  one the parser rejects) with the native snapshot (spare JVM + no-op detection);
  ``replay_restore_ms``: the same with the base class's replay fallback
  (``snapshot(mode="replay")``), in the same process; both also per branch kind.
"""
from __future__ import annotations

import json
import random
import time

import earlyexp.envs as envs

TASKS = ["boil", "find-living-thing", "power-component"]
REJECTED_BRANCH = "pour the moon into the fridge"


def expert_paths(env) -> dict[str, list[str]]:
    paths = {}
    for task_id in env.tasks("train"):
        _, info = env.reset(seed=0, options={"task_id": task_id})
        actions = []
        while info["expert_action"] is not None:
            actions.append(info["expert_action"])
            *_, info = env.step(actions[-1])
        paths[task_id] = actions
    return paths


def env_steps_per_s(env, paths) -> float:
    steps, elapsed = 0, 0.0
    for task_id, actions in paths.items():
        env.reset(seed=0, options={"task_id": task_id})
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        elapsed += time.perf_counter() - start
        steps += len(actions)
    return steps / elapsed


def package_steps_per_s(paths) -> float:
    from scienceworld import ScienceWorldEnv

    from earlyexp.envs.scienceworld.catalog import parse_task_id

    package_env = ScienceWorldEnv("", envStepLimit=10**6)
    try:
        steps, elapsed = 0, 0.0
        for task_id, actions in paths.items():
            package_env.load(*parse_task_id(task_id), "")
            package_env.reset()
            start = time.perf_counter()
            for action in actions:
                package_env.step(action)
            elapsed += time.perf_counter() - start
            steps += len(actions)
        return steps / elapsed
    finally:
        package_env.close()


def restore_ms(env, task_id: str, mode: str, states: int = 12) -> dict[str, float]:
    """Mean ms of snapshot + restore while branching along the expert path, per branch kind.

    Two alternatives per expert state, as the DESIGN's samplers produce them: one drawn
    (seeded) from the engine's valid actions, one that the parser rejects (what a weak
    policy mostly proposes). Snapshot time is charged to the first restore.
    """
    rng = random.Random(0)
    _, info = env.reset(seed=0, options={"task_id": task_id})
    totals = {"valid": [], "rejected": []}
    for _ in range(states):
        if info["expert_action"] is None:
            break
        start = time.perf_counter()
        snap = env.snapshot(mode=mode)
        snapshot_s = time.perf_counter() - start
        valid = rng.choice([a for a in env.admissible_actions() if a != info["expert_action"]])
        for kind, branch in (("valid", valid), ("rejected", REJECTED_BRANCH)):
            env.step(branch)
            start = time.perf_counter()
            env.restore(snap)
            totals[kind].append(time.perf_counter() - start + snapshot_s)
            snapshot_s = 0.0
        *_, info = env.step(info["expert_action"])
    return {kind: 1000 * sum(v) / len(v) for kind, v in totals.items()}


def main() -> None:
    common = dict(task_names=TASKS, variations_per_task=1, max_steps=500)
    env = envs.make("scienceworld", admissible="lazy", snapshot_replicas=1, **common)
    try:
        paths = expert_paths(env)  # also warms the gold-path cache and the JIT
        ours = env_steps_per_s(env, paths)
        env.admissible = "on_path"
        on_path = env_steps_per_s(env, paths)
        env.admissible = "lazy"
        branching_task = next(t for t in paths if t.startswith("boil"))
        native = restore_ms(env, branching_task, "auto")
        replay = restore_ms(env, branching_task, "replay")
    finally:
        env.close()
    package = package_steps_per_s(paths)
    print(json.dumps({
        "benchmark": "env_scienceworld",
        "steps_per_s": round(ours, 1),
        "on_path_steps_per_s": round(on_path, 1),
        "package_steps_per_s": round(package, 1),
        "speedup_vs_package": round(ours / package, 2),
        "gold_steps": sum(len(a) for a in paths.values()),
        "snapshot_restore_ms": round((native["valid"] + native["rejected"]) / 2, 1),
        "replay_restore_ms": round((replay["valid"] + replay["rejected"]) / 2, 1),
        "native_vs_replay_ratio": round(sum(replay.values()) / sum(native.values()), 2),
        "valid_branch_restore_ms": {"native": round(native["valid"], 1),
                                    "replay": round(replay["valid"], 1)},
        "rejected_branch_restore_ms": {"native": round(native["rejected"], 2),
                                       "replay": round(replay["rejected"], 1)},
    }))


if __name__ == "__main__":
    main()
