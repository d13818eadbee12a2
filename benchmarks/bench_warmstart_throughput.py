"""Warm-start training throughput (TRL SFTTrainer, tokens/s) under each precision and
gradient-checkpointing setting, against the framework's default, in one process.

Every variant trains the same tiny model from the same initial weights on the same
corridor IL data for the same number of updates; variants are interleaved over
`ROUNDS` rounds so that a noisy neighbour slows them all alike. Each optimizer
step is timed (a TrainerCallback); a variant's rate is its tokens per step over its
median step time (the first step of each round, which builds kernels, left out),
which a busy shared machine disturbs far less than a total. `trl_default` is
what TRL's SFTConfig does when neither is set (bf16 autocast + gradient
checkpointing), i.e. what the framework shipped before choosing for the hardware.
bf16 variants run even where bf16 is emulated, to show what that costs.

    .venv/bin/python benchmarks/bench_warmstart_throughput.py
"""
from __future__ import annotations

import dataclasses
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import emit, peak_rss_mb

import earlyexp.envs as envs
from earlyexp import threads
from earlyexp.agents.tiny_model import TinyModelConfig
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.precision import Precision, cpu_flags
from earlyexp.training import methods
from earlyexp.training.warmstart import (
    ModelConfig, TrainConfig, WarmstartConfig, base_model_path, datasets_for, length_budget,
    train_stage, training_precision,
)

STEPS = 8
ROUNDS = 4
BATCH = 16
#: name -> (dtype, gradient checkpointing)
VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16+gc": ("bf16", True),
            "fp32+gc": ("fp32", True)}
SHIPPED_BEFORE = "bf16+gc"  # TRL 1.16's SFTConfig defaults


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


class StepTimer:
    """Wall time of every optimizer step but the first of each `train()` (kernel set-up)."""

    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.started = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step > 1:
                    timer.seconds.append(time.perf_counter() - timer.started)

        self.callback, self.seconds, self.started = Callback(), [], 0.0


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    env = EnvConfig("corridor", {"num_tasks": 40})
    thread_count = threads.apply(threads.total_threads())
    with tempfile.TemporaryDirectory() as tmp:
        collect(CollectConfig(env=env, k=2, num_workers=0, out_dir=f"{tmp}/exp"))
        cfg = WarmstartConfig(env=env, method="il", experience_dir=f"{tmp}/exp",
                              out_dir=f"{tmp}/il", model=ModelConfig(tiny=TinyModelConfig()),
                              train=TrainConfig(steps=STEPS, batch_size=BATCH))
        default = training_precision(cfg)
        default_name = default.dtype + ("+gc" if cfg.train.gradient_checkpointing else "")
        base = base_model_path(cfg)
        tokenizer = AutoTokenizer.from_pretrained(base)
        # the IL stage exactly as warmstart() builds it (rows fitted to the model's context)
        budget = length_budget(cfg, tokenizer, AutoModelForCausalLM.from_pretrained(base).config)
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data,
                                                                max_length=budget.max_positions))
        stage = methods.get("il").stages(datasets_for(cfg, None, budget), cfg)[0]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        tokens = {name: 0 for name in VARIANTS}
        timers = {name: StepTimer() for name in VARIANTS}
        for _ in range(ROUNDS):
            for name, (dtype, checkpointing) in VARIANTS.items():
                cfg.train.gradient_checkpointing = checkpointing
                model = AutoModelForCausalLM.from_pretrained(base)
                report = train_stage(model, tokenizer, stage, cfg, Path(tmp) / name,
                                     Precision(dtype, dtype, device, "benchmark"),
                                     callbacks=(timers[name].callback,))
                tokens[name] += report["input_tokens"]
    # the same data in the same order for every variant, so tokens per step agree
    per_step = {name: tokens[name] / (ROUNDS * STEPS) for name in VARIANTS}
    rates = {name: per_step[name] / statistics.median(timers[name].seconds)
             for name in VARIANTS}
    fastest = max(rates, key=rates.get)
    emit(benchmark="warmstart_throughput", cpu=cpu_model(), device=device,
         cpu_bf16_flags=sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"}),
         torch=torch.__version__, threads=thread_count, model="tiny default",
         steps_per_round=STEPS, rounds=ROUNDS, batch_size=BATCH,
         tokens_per_step=round(per_step["fp32"], 1),
         tokens_per_s={name: round(rate, 1) for name, rate in rates.items()},
         default=default_name, default_reason=default.reason,
         default_vs_shipped_before=round(rates[default_name] / rates[SHIPPED_BEFORE], 2),
         default_vs_fastest=round(rates[default_name] / rates[fastest], 2),
         fastest=fastest, default_is_fastest=default_name == fastest,
         peak_rss_mb=round(peak_rss_mb(), 1))


if __name__ == "__main__":
    main()
