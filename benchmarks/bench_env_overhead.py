"""Benchmark the cost of the `TextEnv` wrapper over raw TextWorld on the same actions.

Records one action sequence (expert moves mixed with random admissible ones)
per smoke game, then replays it through `textworld.start(...)` with the same
requested infos and through `TextWorldEnv`, alternating the two several times.
`overhead` = raw steps/s / wrapped steps/s - 1 (target: under 0.10).
Prints one JSON line.
"""
from __future__ import annotations

import json
import random
import time

import textworld

from earlyexp import envs

ROUNDS = 5
INFOS = {"admissible_commands": True, "policy_commands": True, "objective": True, "score": True,
         "max_score": True, "won": True, "lost": True, "moves": True}


def record_sequences(env) -> dict[str, list[str]]:
    """Per task: an episode of expert and random admissible moves, ended by the expert."""
    rng, sequences = random.Random(0), {}
    for task_id in env.tasks("train") + env.tasks("test"):
        _, info = env.reset(seed=0, options={"task_id": task_id})
        actions, done = [], False
        while not done and info["expert_action"] is not None:
            safe = [a for a in info["admissible_actions"] if not a.startswith(("eat", "drink"))]
            action = rng.choice(safe) if len(actions) < 12 and rng.random() < 0.6 \
                else info["expert_action"]
            *_, terminated, truncated, info = env.step(action)
            actions.append(action)
            done = terminated or truncated
        sequences[task_id] = actions
    return sequences


def time_raw(env, sequences) -> tuple[int, float]:
    games = {task_id: textworld.start(str(env.game_file(task_id)),
                                      request_infos=textworld.EnvInfos(**INFOS))
             for task_id in sequences}
    steps, start = 0, time.perf_counter()
    for task_id, actions in sequences.items():
        games[task_id].reset()
        for action in actions:
            games[task_id].step(action)
        steps += len(actions)
    elapsed = time.perf_counter() - start
    for game in games.values():
        game.close()
    return steps, elapsed


def time_wrapped(env, sequences) -> tuple[int, float]:
    steps, start = 0, time.perf_counter()
    for task_id, actions in sequences.items():
        env.reset(seed=0, options={"task_id": task_id})
        for action in actions:
            env.step(action)
        steps += len(actions)
    return steps, time.perf_counter() - start


def main() -> None:
    env = envs.make("textworld", **{**envs.spec("textworld").smoke_kwargs, "max_steps": 100})
    sequences = record_sequences(env)
    raw_s = wrapped_s = 0.0
    steps = 0
    for _ in range(ROUNDS):
        steps, elapsed = time_raw(env, sequences)
        raw_s += elapsed
        _, elapsed = time_wrapped(env, sequences)
        wrapped_s += elapsed
    raw_rate, wrapped_rate = ROUNDS * steps / raw_s, ROUNDS * steps / wrapped_s
    print(json.dumps({
        "benchmark": "env_overhead",
        "raw_steps_per_s": round(raw_rate, 1),
        "env_steps_per_s": round(wrapped_rate, 1),
        "ratio": round(wrapped_rate / raw_rate, 3),
        "overhead": round(raw_rate / wrapped_rate - 1, 3),
        "steps_per_round": steps,
    }))
    env.close()


if __name__ == "__main__":
    main()
