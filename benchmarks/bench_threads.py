"""Collection with 2 workers and warm-start training at the same time vs one after the
other, with the framework's thread budgets and without them, in one run.

The work is fixed: a policy-sampled collection (the tiny model proposes the
alternatives, so the workers run torch) of `TASKS` corridor tasks on 2 workers, and
`STEPS` warm-start updates in a separate process. Modes:

    sequential   collection, then training; budgets as shipped (earlyexp/threads.py)
    concurrent   both at once; budgets as shipped (each worker a share, the trainer all)
    concurrent_split   both at once, the budget split by hand: the trainer
                 EARLYEXP_THREADS=cores-1, each worker 1 thread
    unbudgeted   both at once; every process with torch's default (all cores), i.e.
                 what the framework did before it had budgets

Reported: wall seconds per mode and `*_vs_sequential` ratios of wall time for the same
items (below 1: running both at once is faster per item). Modes run in a fixed order
after a warm-up of both parts, so caches and compiled kernels are warm for all.

    .venv/bin/python benchmarks/bench_threads.py
"""
from __future__ import annotations

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


def _register() -> None:
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)


def _train(experience: str, out: str, budget: str | None) -> None:
    """The trainer process: `budget` is its EARLYEXP_THREADS (None: torch's default)."""
    if budget is None:
        os.environ.pop(threads.ENV_VAR, None)
        os.environ.pop("OMP_NUM_THREADS", None)  # nothing set: torch sizes to every core
    else:
        os.environ[threads.ENV_VAR] = budget
    _register()
    warmstart(WarmstartConfig(env=ENV, method="il", experience_dir=experience, out_dir=out,
                              model=ModelConfig(tiny=TinyModelConfig()),
                              train=TrainConfig(steps=STEPS, batch_size=16,
                                                precision="fp32")))


def _collect(policy: str, out: str, worker_threads: int | None) -> None:
    _register()
    original = threads.share
    if worker_threads is not None:  # the pool asks `share` for each worker's threads
        threads.share = lambda processes: worker_threads
    try:
        collect(CollectConfig(env=ENV, k=2, sampler="policy", policy_path=policy,
                              num_tasks=TASKS, num_workers=2, out_dir=out))
    finally:
        threads.share = original


def run_mode(tmp: Path, name: str, policy: str, experience: str, concurrent: bool,
             trainer_budget: str | None, worker_threads: int | None) -> float:
    ctx = mp.get_context("spawn")
    trainer = ctx.Process(target=_train, args=(experience, str(tmp / f"{name}-il"),
                                               trainer_budget))
    start = time.perf_counter()
    if concurrent:
        trainer.start()
        _collect(policy, str(tmp / f"{name}-exp"), worker_threads)
        trainer.join()
    else:
        _collect(policy, str(tmp / f"{name}-exp"), worker_threads)
        trainer.start()
        trainer.join()
    if trainer.exitcode != 0:
        raise RuntimeError(f"the trainer of mode {name} failed (exit code {trainer.exitcode})")
    return time.perf_counter() - start


def main() -> None:
    _register()
    cores = threads.total_threads()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        experience = str(tmp / "experience")
        collect(CollectConfig(env=ENV, k=2, num_workers=0, out_dir=experience))
        policy = str(base_model_path(WarmstartConfig(
            env=ENV, experience_dir=experience, model=ModelConfig(tiny=TinyModelConfig()))))
        modes = {  # name: (concurrent, trainer's EARLYEXP_THREADS, threads per worker)
            "sequential": (False, str(cores), None),
            "concurrent": (True, str(cores), None),
            "concurrent_split": (True, str(max(1, cores - 1)), 1),
            "unbudgeted": (True, None, os.cpu_count() or 1),
        }
        run_mode(tmp, "warmup", policy, experience, False, str(cores), None)
        seconds = {name: run_mode(tmp, name, policy, experience, *mode)
                   for name, mode in modes.items()}
    base = seconds["sequential"]
    emit(benchmark="threads", cpu=cpu_model(), cores=cores, tasks=TASKS, train_steps=STEPS,
         workers=2, seconds={k: round(v, 1) for k, v in seconds.items()},
         **{f"{k}_vs_sequential": round(v / base, 2) for k, v in seconds.items()
            if k != "sequential"})


if __name__ == "__main__":
    main()
