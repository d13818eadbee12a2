"""Running comparison cells on an existing engine: a local process pool or Ray.

`EXECUTORS[name](cells, cfg, on_done)` runs every cell and calls `on_done(outcome)` as
each ends. Both hand each cell an explicit CPU-thread budget (`earlyexp/threads.py`):
with several torch processes on few cores, unbudgeted OpenMP pools spin against each
other (tiny-model generation fell from ~150 to 0.6 actions/s that way).

    local   `concurrent.futures.ProcessPoolExecutor` (spawn): `compare.workers` cells at
            once (null: cores // threads_per_cell, else one per core), each with
            `compare.threads_per_cell` threads (null: cores // workers)
    ray     one Ray task per cell requesting `ray.num_cpus` CPUs (its thread budget) and
            `ray.num_gpus` GPUs; `ray.address` names a cluster (null: Ray starts here).
            Cluster nodes need this package installed and `compare.out_dir` on a shared
            file system.

`run_cell` is what a worker runs: the cell's pipelines (resumable), the world-model
accuracy, and `cell.json` with the outcome; an exception becomes a failed outcome with
its error and traceback, never the end of the comparison.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earlyexp import threads
from earlyexp.errors import ConfigError


def check_executor(cfg) -> None:
    """Refuse `compare.executor=ray` where Ray is not installed, before any cell runs."""
    if cfg.compare.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as e:
            raise ConfigError("compare.executor", "ray", "Ray is not installed: pip install "
                              "'early-experience[ray]' (or compare.executor=local)") from e


# --- what a worker runs ---------------------------------------------------------------
def run_cell(cell) -> dict[str, Any]:
    """Run one cell in this process; returns (and writes to cell.json) its outcome."""
    from rich.console import Console

    from earlyexp.experience.workers import interrupt_on_sigterm
    from earlyexp.training.compare import CELL_FILE, write_json_atomic

    interrupt_on_sigterm()  # the driver stops a cell with SIGTERM: stop it as Ctrl-C would
    os.environ[threads.ENV_VAR] = str(cell.threads)  # the pipeline reads it: its total
    threads.apply(cell.threads)
    _register(cell.env_entry_points)
    run_dir = Path(cell.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    outcome = {"key": cell.key, "family": cell.family, "seed": cell.seed,
               "ablation": cell.ablation, "status": "running", "threads": cell.threads,
               "pid": os.getpid(), "host": os.uname().nodename, "started": time.time()}
    write_json_atomic(run_dir / CELL_FILE, outcome)
    start = time.perf_counter()
    with open(run_dir / "cell.log", "a", encoding="utf-8") as log, _output_to(log):
        console = Console(file=log, width=140, force_terminal=False, soft_wrap=True)
        try:
            _run_pipelines(cell, console)
            outcome["status"] = "done"
        except Exception as e:  # noqa: BLE001 - recorded; the other cells go on
            outcome.update(status="failed", error=f"{type(e).__name__}: {e}",
                           traceback=traceback.format_exc())
            console.print(outcome["traceback"], markup=False, highlight=False)
        except KeyboardInterrupt:  # stopped: finished stages stay on disk for the re-run
            outcome.update(status="interrupted", seconds=round(time.perf_counter() - start, 1))
            write_json_atomic(run_dir / CELL_FILE, outcome)
            raise
    outcome["seconds"] = round(time.perf_counter() - start, 1)
    write_json_atomic(run_dir / CELL_FILE, outcome)
    return outcome


def _run_pipelines(cell, console) -> None:
    from earlyexp.training.compare_worldmodel import world_model_accuracy
    from earlyexp.training.pipeline import Pipeline

    first = Path(cell.pipelines[0].run_dir)
    for i, cfg in enumerate(cell.pipelines):
        if i:  # ablation values share the first value's collection (same collect config)
            _link(Path(cfg.run_dir) / "experience", first / "experience")
        Pipeline(cfg, console).run()
    if cell.world_model_tasks:
        world_model_accuracy(cell.pipelines[0], cell.world_model_tasks, Path(cell.run_dir),
                             cell.world_model_rows)


def _link(link: Path, target: Path) -> None:
    if link.exists() or link.is_symlink():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)


def _register(entry_points: dict[str, str]) -> None:
    """Families registered at run time in the driver (not by the package) exist here too."""
    from earlyexp import envs
    from earlyexp.errors import UnknownEnvError

    for name, entry_point in entry_points.items():
        try:
            envs.spec(name)
        except UnknownEnvError:
            envs.register(name, entry_point)


@contextlib.contextmanager
def _output_to(log):
    """Send this process's stdout/stderr (and its children's: collection workers, JVMs)
    to the cell's log, so that cells do not write over the progress bar."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def failed_outcome(cell, error: str) -> dict[str, Any]:
    """A cell whose worker died before it could record anything: recorded by the driver."""
    from earlyexp.training.compare import CELL_FILE, write_json_atomic

    outcome = {"key": cell.key, "family": cell.family, "seed": cell.seed,
               "ablation": cell.ablation, "status": "failed", "error": error}
    write_json_atomic(Path(cell.run_dir) / CELL_FILE, outcome)
    return outcome


# --- executors ------------------------------------------------------------------------
def local_plan(cfg, cells: int) -> tuple[int, int]:
    """(workers, threads per cell) for the local pool on this machine."""
    total = threads.total_threads()
    per_cell = cfg.compare.threads_per_cell
    workers = cfg.compare.workers or (max(1, total // per_cell) if per_cell else total)
    workers = max(1, min(workers, cells))
    return workers, per_cell or max(1, total // workers)


def run_local(cells: list, cfg, on_done: Callable[[dict], None]) -> None:
    """A spawn process pool; a cell whose worker dies is retried once in a fresh pool."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers, per_cell = local_plan(cfg, len(cells))
    pending = [dataclasses.replace(c, threads=per_cell) for c in cells]
    deaths: dict[str, int] = {}
    while pending:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                pending = _run_in(pool, workers, pending, deaths, on_done)
            except KeyboardInterrupt:
                _stop_cells(pool)
                raise


def _run_in(pool, workers: int, cells: list, deaths: dict[str, int], on_done) -> list:
    """Run `cells` in `pool`, at most `workers` submitted at a time (the pool queues one
    more than it runs, and a queued cell would start after a stop); returns the cells to
    retry in a fresh pool, the pool being broken (a worker died)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue, running, retry, broken = list(cells), {}, [], False
    while running or (queue and not broken):  # a broken pool takes no new cells
        while queue and len(running) < workers and not broken:
            cell = queue.pop(0)
            running[pool.submit(run_cell, cell)] = cell
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            cell = running.pop(future)
            try:
                on_done(future.result())
            except BrokenProcessPool as e:
                broken = True
                deaths[cell.key] = deaths.get(cell.key, 0) + 1
                if deaths[cell.key] > 1:
                    on_done(failed_outcome(cell, f"its worker process died twice ({e})"))
                else:
                    retry.append(cell)
    return retry + queue


def _stop_cells(pool) -> None:
    """Ctrl-C or SIGTERM reached the driver: stop the running cells too (leaving the pool
    would wait for every queued cell to finish). Each worker gets SIGTERM, which its
    `run_cell` turns into a Ctrl-C (a shell's Ctrl-C may already have reached it; a
    background job's SIGINT is ignored), so each pipeline stops its own workers and JVMs
    and keeps what it finished; queued cells never start."""
    import signal

    for process in list((getattr(pool, "_processes", None) or {}).values()):  # pid -> Process
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    pool.shutdown(wait=True, cancel_futures=True)


def run_ray(cells: list, cfg, on_done: Callable[[dict], None]) -> None:
    """One Ray task per cell with the configured resources; Ray does the scheduling."""
    import ray

    started = not ray.is_initialized()
    if started:
        kwargs = ({"address": cfg.ray.address} if cfg.ray.address
                  else {"num_cpus": threads.total_threads(), "include_dashboard": False})
        ray.init(**kwargs, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=cfg.ray.num_cpus, num_gpus=cfg.ray.num_gpus,
                          max_retries=0)(run_cell)
        per_cell = max(1, int(cfg.ray.num_cpus))
        refs = {task.remote(dataclasses.replace(c, threads=per_cell)): c for c in cells}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            cell = refs.pop(ready[0])
            try:
                on_done(ray.get(ready[0]))
            except ray.exceptions.RayError as e:  # the task's process died, or Ray failed it
                on_done(failed_outcome(cell, f"{type(e).__name__}: {str(e).splitlines()[0]}"))
    finally:
        if started:
            ray.shutdown()


EXECUTORS: dict[str, Callable[[list, Any, Callable[[dict], None]], None]] = {
    "local": run_local,
    "ray": run_ray,
}
