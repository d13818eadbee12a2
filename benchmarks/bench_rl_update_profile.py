"""Where the time of one RL update goes: rank-mode turn samples through the trainer's
own module (`training/rl/model.py`), one factor varied at a time.

Synthetic turn samples stand in for an iteration's batch, so each factor can be set
exactly: prompt tokens per turn, candidates per turn, minibatch size, torch threads
and precision (fp32 or bf16 autocast). For each setting, minibatches of the default
tiny model (~3.5M parameters, 1024 positions) are timed in three parts: forward (the
prefix-cached candidate scorer, as the update runs it), backward, optimizer step.
Reported per setting: milliseconds per turn sample for each part, and prompt tokens
per second through forward + backward. Interleaved `ROUNDS` times, median kept.

    .venv/bin/python benchmarks/bench_rl_update_profile.py
"""
from __future__ import annotations

import random
import statistics
import time

import torch
from bench_warmstart_throughput import cpu_model
from common import emit

from earlyexp import threads
from earlyexp.training.rl.model import ActorCritic, collate
from earlyexp.training.rl.rollout import TurnSample

VOCAB, POSITIONS = 2048, 1024
BASE = {"prompt_tokens": 256, "candidates": 12, "candidate_tokens": 6, "minibatch": 64,
        "threads": threads.total_threads(), "precision": "fp32"}
VARY = [("prompt_tokens", 128), ("prompt_tokens", 448), ("candidates", 4),
        ("minibatch", 16), ("threads", 1), ("precision", "bf16")]
ROUNDS, MINIBATCHES = 2, 1


def tiny_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=192, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=512, max_position_embeddings=POSITIONS, pad_token_id=0))


def samples(setting: dict, count: int, rng: random.Random) -> list[TurnSample]:
    def ids(n: int) -> list[int]:
        return [rng.randrange(1, VOCAB) for _ in range(n)]

    return [TurnSample(ids(setting["prompt_tokens"]), [], 0.0, i, 0, i // 4,
                       candidate_ids=[ids(setting["candidate_tokens"])
                                      for _ in range(setting["candidates"])],
                       chosen=0) for i in range(count)]


def time_setting(module, optimizer, setting: dict, rng: random.Random) -> dict[str, float]:
    """Seconds per turn sample in forward, backward and the optimizer step."""
    torch.set_num_threads(setting["threads"])
    parts = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    n = setting["minibatch"]
    batch = samples(setting, n * MINIBATCHES, rng)
    advantages = torch.randn(len(batch))
    for start in range(0, len(batch), n):
        index = list(range(start, start + n))
        mb = collate(batch, index, 0, "cpu")
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16,
                            enabled=setting["precision"] == "bf16"):
            logp, _, _ = module(mb)
        loss = -(logp[:, -1] * advantages[index]).mean()
        t1 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        for key, seconds in (("forward", t1 - t0), ("backward", t2 - t1), ("optimizer", t3 - t2)):
            parts[key] += seconds / len(batch)
    return parts


def main() -> None:
    module = ActorCritic(tiny_lm()).eval()  # eval: as the trainer's update runs it
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)
    settings = {"base": BASE, **{f"{key}={value}": {**BASE, key: value} for key, value in VARY}}
    rng = random.Random(0)
    time_setting(module, optimizer, BASE, rng)  # warm-up: kernels, allocator
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    for _ in range(ROUNDS):
        for name, setting in settings.items():
            runs[name].append(time_setting(module, optimizer, setting, rng))
    report = {}
    for name, setting in settings.items():
        parts = {key: statistics.median(r[key] for r in runs[name]) for key in runs[name][0]}
        total = sum(parts.values())
        report[name] = {**{f"{k}_ms": round(v * 1e3, 2) for k, v in parts.items()},
                        "ms_per_turn": round(total * 1e3, 2),
                        "prompt_tokens_per_s": round(setting["prompt_tokens"] / total, 0),
                        "vs_base": None}
    for name in report:
        report[name]["vs_base"] = round(report[name]["ms_per_turn"]
                                        / report["base"]["ms_per_turn"], 2)
    emit(benchmark="rl_update_profile", cpu=cpu_model(), base=BASE, settings=report)


if __name__ == "__main__":
    main()
