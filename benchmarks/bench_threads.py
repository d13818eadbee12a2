"""Collection with 2 workers and warm-start training at the same time vs one after the
other, with the framework's default thread budgets and without budgets, in one run.

The work is fixed: a policy-sampled collection (the tiny model proposes the
alternatives, so the workers run torch) of `TASKS` corridor tasks on 2 workers, and
`STEPS` warm-start updates. Each part is its own process, started the way the
`earlyexp` command starts one (no budget given, `threads.claim()` first), so the
budgets are the shipped defaults of earlyexp/threads.py: each run takes
`cores // live runs` from the ledger, the collection's workers split its share, and
a run re-reads its share at every step. Modes:

    sequential   collection, then training, each alone on the machine
    concurrent   both started together (the trainer first): two independent runs
    unbudgeted   both together, no budgets anywhere (torch's default: every core in
                 every process), i.e. what the framework did before it had budgets

Reported: wall seconds per mode, `*_vs_sequential` ratios of wall time for the same
items (below 1: running both at once is faster per item), and the threads the trainer
started with. Each mode has a private ledger, so other runs on the machine do not
change the split; variables that would give a budget (EARLYEXP_THREADS,
OMP_NUM_THREADS, ...) are removed first, since the defaults are what is measured.
Modes run in a fixed order after a warm-up of both parts, so caches are warm for all.

    .venv/bin/python benchmarks/bench_threads.py
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

from bench_warmstart_throughput import cpu_model
from common import emit

import earlyexp.envs as envs
from earlyexp import threads
from earlyexp.agents.tiny_model import TinyModelConfig
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.warmstart import (
    ModelConfig, TrainConfig, WarmstartConfig, base_model_path, warmstart,
)

TASKS, STEPS = 4, 6
ENV = EnvConfig("corridor", {"num_tasks": 40, "length": 4})
BUDGET_VARS = (threads.ENV_VAR, threads.OWNER_VAR, *threads.POOL_VARS)


def _register() -> None:
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)


def _train(experience: str, out: str) -> None:
    warmstart(WarmstartConfig(env=ENV, method="il", experience_dir=experience, out_dir=out,
                              model=ModelConfig(tiny=TinyModelConfig()),
                              train=TrainConfig(steps=STEPS, batch_size=16,
                                                precision="fp32")))


def _collect(policy: str, out: str) -> None:
    collect(CollectConfig(env=ENV, k=2, sampler="policy", policy_path=policy,
                          num_tasks=TASKS, num_workers=2, out_dir=out))


def _run(part, args: tuple, ledger: str, budgeted: bool) -> None:
    """One framework run in its own process, started as `earlyexp <command>` starts."""
    os.environ[threads.LEDGER_VAR] = ledger
    if budgeted:
        threads.claim()
    else:  # every pool at torch's default size: the workers' "share" is every core
        threads.share = lambda processes: os.cpu_count() or 1
    _register()
    part(*args)


def run_mode(tmp: Path, name: str, policy: str, experience: str, concurrent: bool,
             budgeted: bool) -> float:
    ctx = mp.get_context("spawn")
    ledger = str(tmp / f"{name}-ledger")
    trainer = ctx.Process(target=_run, args=(_train, (experience, str(tmp / f"{name}-il")),
                                             ledger, budgeted))
    collector = ctx.Process(target=_run, args=(_collect, (policy, str(tmp / f"{name}-exp")),
                                               ledger, budgeted))
    order = [[trainer, collector]] if concurrent else [[collector], [trainer]]
    start = time.perf_counter()
    for group in order:
        for process in group:
            process.start()
        for process in group:
            process.join()
    seconds = time.perf_counter() - start
    for process, part in ((trainer, "trainer"), (collector, "collection")):
        if process.exitcode != 0:
            raise RuntimeError(f"the {part} of mode {name} failed (exit code {process.exitcode})")
    return seconds


def main() -> None:
    for name in BUDGET_VARS:  # the defaults are what is measured; children inherit this
        os.environ.pop(name, None)
    _register()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        experience = str(tmp / "experience")
        collect(CollectConfig(env=ENV, k=2, num_workers=0, out_dir=experience))
        policy = str(base_model_path(WarmstartConfig(
            env=ENV, experience_dir=experience, model=ModelConfig(tiny=TinyModelConfig()))))
        modes = {"sequential": (False, True), "concurrent": (True, True),
                 "unbudgeted": (True, False)}  # name: (concurrent, budgeted)
        run_mode(tmp, "warmup", policy, experience, False, True)
        seconds = {name: run_mode(tmp, name, policy, experience, *mode)
                   for name, mode in modes.items()}
        trainer_threads = {name: json.loads((tmp / f"{name}-il" / "warmstart.json").read_text())
                           ["compute"]["threads"] for name in modes}
    base = seconds["sequential"]
    emit(benchmark="threads", cpu=cpu_model(), cores=threads.machine_cores(), tasks=TASKS,
         train_steps=STEPS, workers=2, seconds={k: round(v, 1) for k, v in seconds.items()},
         trainer_threads_at_start=trainer_threads,
         **{f"{k}_vs_sequential": round(v / base, 2) for k, v in seconds.items()
            if k != "sequential"})


if __name__ == "__main__":
    main()
