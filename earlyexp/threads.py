"""One thread budget for every process the framework starts, split among what runs at once.

Torch, OpenMP, MKL and the tokenizers each size their thread pools to the whole
machine by default. With several such processes at once (collection workers, a
trainer, a second run) the threads outnumber the cores and spin in OpenMP
barriers: tiny-model generation fell from ~150 to 0.6 actions/s that way on two
cores. So every process gets an explicit count, all derived from one setting:

    EARLYEXP_THREADS=4 earlyexp pipeline ...   # this run's threads in total

Given, that number is the run's total. Unset (the default), the total is
`OMP_NUM_THREADS` if the user set it, else a fair share of the machine among the
framework runs alive on it right now: `cores // runs`, where cores are those this
process may run on (`os.sched_getaffinity`: honours `taskset` and container CPU
sets) and runs are counted in a ledger, one file per run named by its pid in
`$EARLYEXP_LEDGER` (default `<tmp>/earlyexp-threads-<uid>`). A run joins it when
it starts (`claim`, called by the `earlyexp` command; a script may call it too;
library calls outside a claimed run use every core), leaves it at exit, and a
run killed without leaving is dropped by the next reader (its pid is gone or was
reused by a process started later). A run started first gives up its extra cores
when a second starts: the total is read again when a collection or warm-start
starts, at every warm-start step and every RL iteration (`rebalance`; collection
workers keep the share they started with), and taken back when the other ends.

Inside one run the total is split among what runs at the same time:

- collection workers each get `share(n)` of it (n workers at once); the parent
  only waits on them, so its pool stays idle meanwhile;
- `earlyexp compare` gives each of its N concurrent cells `total // N` as that
  cell's own `EARLYEXP_THREADS` (cells do not join the ledger: they are the
  compare run's share), and a cell's workers split it again;
- the trainer, evaluation (all its `num_envs` environments in one process) and
  RL run one at a time in the main process and get all of it;
- JVMs started after `apply` (ScienceWorld simulators and their spare replicas)
  size their GC and JIT pools to the same count.

Children inherit the pool variables `apply` sets and read them as their given
budget, so nothing is counted twice. This module is a leaf like `errors`: every
part, environments included, may import it.
"""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping

from earlyexp.errors import ConfigError

ENV_VAR = "EARLYEXP_THREADS"
#: Directory of the ledger of live runs (one empty-ish file per run, named by its pid).
LEDGER_VAR = "EARLYEXP_LEDGER"
#: The pid of the process whose default budget set the pool variables: that process
#: reads its share from the ledger again; its children take the variables as given.
OWNER_VAR = "EARLYEXP_THREADS_OWNER"
#: The variables that size native thread pools in child processes and in libraries
#: that read them at import (OpenMP, MKL, OpenBLAS, the tokenizers' Rayon pool).
POOL_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity; the CPU count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- the rule
def fair_share(cores: int, runs: int) -> int:
    """Threads of each of `runs` framework runs alive on a machine with `cores` cores."""
    return max(1, cores // max(1, runs))


def given_budget(environ: Mapping[str, str], pid: int) -> int | None:
    """The total given to process `pid` by `environ`, or None where it is the default.

    `EARLYEXP_THREADS` first (refused unless a whole number >= 1); then `OMP_NUM_THREADS`,
    unless this very process set it while applying its own default share (OWNER_VAR).
    """
    raw = environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(ENV_VAR, raw, "must be a whole number of threads >= 1 (or unset, "
                              "for a share of the cores among the framework's runs: "
                              f"{machine_cores()} cores here)")
        return value
    omp = environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0 and environ.get(OWNER_VAR) != str(pid):
        return int(omp)
    return None


def share(processes: int) -> int:
    """Threads for each of `processes` processes that run at the same time (at least 1)."""
    return max(1, total_threads() // max(1, processes))


def total_threads() -> int:
    """This run's thread budget: the one given (`given_budget`); else, in a run that
    claimed its share, the fair share of the cores among the live runs in the ledger
    (this one counted once); else every core this process may use."""
    given = given_budget(os.environ, os.getpid())
    if given is not None:
        return given
    if not is_listed_run():  # library use outside a claimed run: the old default
        return machine_cores()
    return fair_share(machine_cores(), len(live_runs(ledger_dir()) | {os.getpid()}))


def is_listed_run() -> bool:
    """Whether this process started a run on the default budget (`claim`) and so takes
    its share from the ledger."""
    return os.environ.get(OWNER_VAR) == str(os.getpid())


# --------------------------------------------------------------------------- the ledger
def ledger_dir() -> Path:
    """Where live runs are listed: `$EARLYEXP_LEDGER`, else one directory per user in /tmp."""
    user = getattr(os, "getuid", lambda: "user")()
    return Path(os.environ.get(LEDGER_VAR) or Path(tempfile.gettempdir()) / f"earlyexp-threads-{user}")


def start_time(pid: int) -> str | None:
    """A token that tells process `pid` from a later one given the same pid (its start
    time in clock ticks, from /proc); None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS, Windows): liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except OSError:
            pass  # alive, but another user's
        return "alive"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before ")" may hold spaces


def live_entries(entries: Mapping[int, str], started: Callable[[int], str | None]) -> set[int]:
    """The pids in `entries` (pid -> start token written at claim) still running as the
    same process: a dead pid, or one reused by a process started since, is not counted."""
    return {pid for pid, token in entries.items() if started(pid) == token}


def live_runs(directory: Path) -> set[int]:
    """Pids of the framework runs alive in the ledger at `directory`; drops stale entries."""
    entries = {}
    try:
        files = [p for p in directory.iterdir() if p.name.isdigit()]
    except FileNotFoundError:
        return set()
    for path in files:
        try:
            entries[int(path.name)] = path.read_text().strip()
        except OSError:  # left between listing and reading
            continue
    live = live_entries(entries, start_time)
    for pid in set(entries) - live:
        _unlink(directory / str(pid))
    return live


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # another reader dropped it first, or it is not ours to remove


def join_ledger() -> None:
    """List this process as a live run until it exits (idempotent)."""
    directory, pid = ledger_dir(), os.getpid()
    entry = directory / str(pid)
    if entry.exists():
        return
    token = start_time(pid)
    if token is None:  # no way to tell this process apart: do not list it
        return
    directory.mkdir(parents=True, exist_ok=True)
    scratch = directory / f".{pid}.tmp"
    scratch.write_text(token)
    scratch.replace(entry)  # atomic: a reader sees the whole token or no entry
    atexit.register(_unlink, entry)


# --------------------------------------------------------------------------- applying
def claim() -> int:
    """Start a run: on the default budget, join the ledger and take the fair share;
    with a given budget, take that. Applies the count (see `apply`) and returns it."""
    if given_budget(os.environ, os.getpid()) is None:
        join_ledger()
        os.environ[OWNER_VAR] = str(os.getpid())
    return apply(total_threads())


def rebalance() -> int:
    """Re-read this run's share (other runs may have started or ended) and resize the
    pools when it changed; cheap enough for every training step. Returns the count."""
    count = total_threads()
    if not is_listed_run():
        return count  # a given budget does not change while the process runs
    torch = sys.modules.get("torch")
    if os.environ.get("OMP_NUM_THREADS") != str(count) or (
            torch is not None and torch.get_num_threads() != count):
        apply(count)
    return count


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
