"""Benchmark GRPO iterations of the embedded tiny model on CPU, rank vs generate mode.

Builds the default-size tiny model (agents/tiny_model.py, ~3.5M parameters) with a
tokenizer trained on CorridorEnv's prompts, then, for each action mode, runs
`ITERATIONS` GRPO iterations (`TASKS` groups of `GROUP` rollouts, episodes of at most
`MAX_STEPS` turns) and reports the mean over all but the first (warm-up) iteration:
seconds per iteration and the share spent generating (the policy's act calls), stepping
environments and in the update (behaviour log-probs + gradient steps).

Rank mode trains the categorical policy over the candidates (every candidate rescored
under the current weights). The baseline it is compared with, in the same process and
on the same turns, is what the update cost before that fix: a behaviour pass and a
gradient pass over the chosen action's tokens only (`update_ratio_vs_chosen_only`).
Prints one JSON line.
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
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


def run(init: Path, out: Path, mode: str):
    cfg = RLConfig(env=EnvConfig("corridor", {"num_tasks": 20, "max_steps": MAX_STEPS}),
                   init=str(init), algo="grpo", iterations=ITERATIONS, mode=mode,
                   tasks_per_iteration=TASKS, group_size=GROUP, minibatch_size=64,
                   learning_rate=1e-4, temperature=1.0, out_dir=str(out), max_new_tokens=8,
                   checkpoint_every=ITERATIONS, device="cpu", num_envs=TASKS * GROUP)
    result = train_rl(cfg)
    history = result.history[1:]
    mean = {k: sum(h["metrics"][k] for h in history) / len(history)
            for k in ("time/iteration_s", "time/generate_s", "time/env_s", "time/update_s",
                      "rl/turns")}
    return cfg, result, mean


def update_seconds(cfg, policy, samples, chosen_only: bool) -> float:
    """One iteration's behaviour pass (where needed) + update on `samples`, timed."""
    from earlyexp.training.rl.grpo import Advantages
    from earlyexp.training.rl.model import ActorCritic
    from earlyexp.training.rl.trainer import Distributed, GRPO, score_samples, update

    if chosen_only:  # before the fix: the chosen action's tokens, as a generated completion
        samples = [replace(s, completion_ids=s.candidate_ids[s.chosen], candidate_ids=None)
                   for s in samples]
    module = ActorCritic(policy.model, temperature=cfg.temperature)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-6)
    pad = policy.tokenizer.pad_token_id
    adv = Advantages(torch.randn(len(samples)), torch.ones(len(samples)))
    start = time.perf_counter()
    if chosen_only:   # the old trainer always recomputed behaviour log-probs
        behaviour = score_samples(module, samples, pad, cfg.minibatch_size)
    else:             # the HF backend's own log-probs are reused
        behaviour = {"logp": [torch.tensor(s.behaviour_logp) for s in samples], "values": None}
    update(cfg, 1, GRPO(cfg), samples, behaviour, None, adv, pad, module, optimizer,
           Distributed("cpu"), None)
    return time.perf_counter() - start


def main() -> None:
    from earlyexp.training.rl.rollout import to_samples
    from earlyexp.training.rl.trainer import play

    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    report = {"benchmark": "rl_iteration", "algo": "grpo", "device": "cpu",
              "torch_threads": torch.get_num_threads(), "cpu": cpu_model(),
              "episodes_per_iteration": TASKS * GROUP}
    with tempfile.TemporaryDirectory() as tmp:
        init = create_tiny_model(corridor_texts(CorridorEnv(num_tasks=20)), Path(tmp) / "model",
                                 TinyModelConfig())
        for mode in ("rank", "generate"):
            cfg, result, mean = run(init, Path(tmp) / mode, mode)
            total = mean["time/iteration_s"]
            report[mode] = {
                "turns_per_iteration": round(mean["rl/turns"], 1),
                "seconds_per_iteration": round(total, 3),
                "share_generation": round(mean["time/generate_s"] / total, 3),
                "share_env": round(mean["time/env_s"] / total, 3),
                "share_update": round(mean["time/update_s"] / total, 3),
                "turns_per_s": round(mean["rl/turns"] / total, 1)}
            if mode == "rank":
                report["params_m"] = round(result.policy.num_parameters() / 1e6, 2)
                from earlyexp.training.rl.trainer import Distributed
                played, _, _ = play(cfg, 99, result.policy, CorridorEnv(num_tasks=20).tasks(
                    "train"), (0.0, 1.0), Distributed("cpu"))
                samples = to_samples(played)
                new = update_seconds(cfg, result.policy, samples, chosen_only=False)
                old = update_seconds(cfg, result.policy, samples, chosen_only=True)
                report["rank"].update({"update_s_candidate_softmax": round(new, 3),
                                       "update_s_chosen_only": round(old, 3),
                                       "update_ratio_vs_chosen_only": round(new / old, 2),
                                       "mean_candidates": round(sum(
                                           len(s.candidate_ids) for s in samples) / len(samples), 1)})
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
