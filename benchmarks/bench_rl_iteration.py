"""Benchmark one GRPO iteration of the embedded tiny model on CPU.

Builds the default-size tiny model (agents/tiny_model.py, ~3.5M parameters) with a
tokenizer trained on CorridorEnv's prompts, then runs `ITERATIONS` GRPO iterations
(rank mode, `TASKS` groups of `GROUP` rollouts, episodes of at most `MAX_STEPS` turns)
and reports the mean over all but the first (warm-up) iteration: seconds per iteration
and the share spent generating (the policy's act calls), stepping environments and in
the update (behaviour log-probs + gradient steps); the rest is bookkeeping (tokenising,
metrics, logging). Peak memory is the process's maximum resident set size.
Prints one JSON line.
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

import torch

import earlyexp.envs as envs
from earlyexp.agents.prompts import State, render
from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model
from earlyexp.envs.testing import CorridorEnv
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.rl import RLConfig, train_rl

ITERATIONS, TASKS, GROUP, MAX_STEPS = 3, 8, 4, 6


def corridor_texts(env) -> list[str]:
    texts = []
    for task in env.tasks("train"):
        obs, info = env.reset(options={"task_id": task})
        state, done = State(info["goal"], obs, [], info["admissible_actions"]), False
        while not done:
            texts += [f"{render(state)} {a}" for a in info["admissible_actions"]]
            action = info["expert_action"]
            obs, _, terminated, truncated, info = env.step(action)
            state, done = state.advance(action, obs, info["admissible_actions"]), terminated or truncated
    return texts


def main() -> None:
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    with tempfile.TemporaryDirectory() as tmp:
        init = create_tiny_model(corridor_texts(CorridorEnv(num_tasks=20)), Path(tmp) / "model",
                                 TinyModelConfig())
        cfg = RLConfig(env=EnvConfig("corridor", {"num_tasks": 20, "max_steps": MAX_STEPS}),
                       init=str(init), algo="grpo", iterations=ITERATIONS,
                       tasks_per_iteration=TASKS, group_size=GROUP, minibatch_size=64,
                       learning_rate=1e-4, temperature=1.0, out_dir=str(Path(tmp) / "run"),
                       checkpoint_every=ITERATIONS, device="cpu", num_envs=TASKS * GROUP)
        result = train_rl(cfg)
    history = result.history[1:]
    mean = {k: sum(h["metrics"][k] for h in history) / len(history)
            for k in ("time/iteration_s", "time/generate_s", "time/env_s", "time/update_s",
                      "rl/turns")}
    total = mean["time/iteration_s"]
    print(json.dumps({
        "benchmark": "rl_iteration",
        "algo": "grpo", "mode": "rank", "device": "cpu", "torch_threads": torch.get_num_threads(),
        "params_m": round(result.policy.num_parameters() / 1e6, 2),
        "episodes_per_iteration": TASKS * GROUP,
        "turns_per_iteration": round(mean["rl/turns"], 1),
        "seconds_per_iteration": round(total, 3),
        "share_generation": round(mean["time/generate_s"] / total, 3),
        "share_env": round(mean["time/env_s"] / total, 3),
        "share_update": round(mean["time/update_s"] / total, 3),
        "turns_per_s": round(mean["rl/turns"] / total, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    sys.exit(main())
