"""Reference policies on a split: how hard is a configuration for random play?

The demo needs a configuration where uniform play over admissible actions is
weak, the expert path is short and observations are small. `measure_split`
reports all three on one split:

    python -m earlyexp.envs.textworld.baselines --challenge tw-cooking \
        --settings '{"recipe": 1, "take": 1, "go": 6, "open": true, "split": "train"}' \
        --num-test 50 --split test
"""
from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import asdict, dataclass


@dataclass
class SplitReport:
    """Random-admissible success (with a 95% Wilson interval), expert length, observation size."""

    split: str
    episodes: int
    random_wins: int
    random_success: float
    random_ci95: tuple[float, float]
    expert_success: float
    expert_steps_mean: float
    expert_steps_max: int
    obs_chars_mean: float
    obs_chars_max: int


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate `wins / n`."""
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def play(env, task_id: str, seed: int, choose) -> tuple[bool, int, list[int]]:
    """One episode; `choose(info)` picks the action. Returns (success, steps, obs lengths)."""
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    lengths, steps, done = [len(obs)], 0, False
    while not done:
        obs, _, terminated, truncated, info = env.step(choose(info))
        lengths.append(len(obs))
        steps, done = steps + 1, terminated or truncated
    return info["success"], steps, lengths


def measure_split(env, split: str, seed: int = 0) -> SplitReport:
    """Play every game of `split` once with the expert and once uniformly at random."""
    rng = random.Random(seed)
    wins, expert_wins, expert_steps, lengths = 0, 0, [], []
    tasks = env.tasks(split)
    for index, task_id in enumerate(tasks):
        won, steps, obs = play(env, task_id, seed + index, lambda info: info["expert_action"] or "look")
        expert_wins += won
        expert_steps.append(steps)
        lengths.extend(obs)
        won, _, _ = play(env, task_id, seed + index,
                         lambda info: rng.choice(info["admissible_actions"] or ["look"]))
        wins += won
    n = len(tasks)
    return SplitReport(split, n, wins, wins / n, wilson_interval(wins, n), expert_wins / n,
                       sum(expert_steps) / n, max(expert_steps), sum(lengths) / len(lengths),
                       max(lengths))


def main(argv: list[str] | None = None) -> None:
    from earlyexp import envs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--challenge", default="tw-cooking")
    parser.add_argument("--settings", type=json.loads, default={})
    parser.add_argument("--ood-settings", type=json.loads, default={})
    parser.add_argument("--num-train", type=int, default=1)
    parser.add_argument("--num-test", type=int, default=50)
    parser.add_argument("--num-ood", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    env = envs.make("textworld", challenge=args.challenge, settings=args.settings,
                    ood_settings=args.ood_settings, num_train=args.num_train,
                    num_test=args.num_test, num_ood=args.num_ood, max_steps=args.max_steps)
    report = measure_split(env, args.split, args.seed)
    print(json.dumps({"challenge": args.challenge, "settings": args.settings,
                      "generation_s": env.manifest.seconds, **asdict(report)}))


if __name__ == "__main__":
    main()
