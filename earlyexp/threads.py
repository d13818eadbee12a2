"""One thread budget for every process the framework starts.

Torch, OpenMP, MKL and the tokenizers each size their thread pools to the whole
machine by default. With several such processes at once (collection workers, a
trainer, a second run) the threads outnumber the cores and spin in OpenMP
barriers: tiny-model generation fell from ~150 to 0.6 actions/s that way on two
cores. So every process gets an explicit count, all derived from one setting:

    EARLYEXP_THREADS=4 earlyexp pipeline ...   # the framework's cores in total

Unset, the total is an `OMP_NUM_THREADS` already in the environment, else the
number of cores this process may run on (`os.sched_getaffinity`, which honours
`taskset` and container CPU sets). Collection workers each get `share(n)` of it
(n workers run at once); the trainer, evaluation and RL, which run one at a time
in the main process, get all of it (the CLI applies it at start); JVMs started
after `apply` size their GC and JIT pools to the same count. Two runs on one
machine should each be given their part: `EARLYEXP_THREADS=1 earlyexp ...`.
This module is a leaf like `errors`: every part, environments included, may
import it.
"""
from __future__ import annotations

import os
import sys

from earlyexp.errors import ConfigError

ENV_VAR = "EARLYEXP_THREADS"
#: The variables that size native thread pools in child processes and in libraries
#: that read them at import (OpenMP, MKL, OpenBLAS, the tokenizers' Rayon pool).
POOL_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity; the CPU count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def total_threads() -> int:
    """The framework's thread budget: `$EARLYEXP_THREADS`, else `$OMP_NUM_THREADS`, else
    every core this process may use. `apply` sets `OMP_NUM_THREADS`, so inside a worker
    the total is that worker's own share."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        omp = os.environ.get("OMP_NUM_THREADS", "").strip()
        return int(omp) if omp.isdigit() and int(omp) > 0 else machine_cores()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(ENV_VAR, raw, "must be a whole number of threads >= 1 (or unset, "
                          f"to use every core this process may run on: {machine_cores()})")
    return value


def share(processes: int) -> int:
    """Threads for each of `processes` processes that run at the same time (at least 1)."""
    return max(1, total_threads() // max(1, processes))


def apply(threads: int) -> int:
    """Size this process's thread pools to `threads`; children it starts inherit the size.

    Sets the pool variables (read by OpenMP and the tokenizers when they start) and,
    when torch is already imported, its intra-op pool directly. Returns `threads`.
    """
    for name in POOL_VARS:
        os.environ[name] = str(threads)
    os.environ["JAVA_TOOL_OPTIONS"] = java_tool_options(os.environ.get("JAVA_TOOL_OPTIONS", ""),
                                                        threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return threads


def java_tool_options(current: str, threads: int) -> str:
    """`JAVA_TOOL_OPTIONS` with the JVM's core count (which sizes its GC and JIT thread
    pools) set to `threads`; every JVM a process starts reads it, ScienceWorld's
    simulators and their spare replicas included. Options given on a JVM's own command
    line still win."""
    kept = [opt for opt in current.split() if not opt.startswith("-XX:ActiveProcessorCount=")]
    return " ".join([*kept, f"-XX:ActiveProcessorCount={threads}"])

