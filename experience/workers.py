"""A small process pool that survives crashing workers.

Each worker process owns its own state (its environments), built once by
`init(*init_args)` and rebuilt after a job raises. Jobs go out one at a time
over a private pipe per worker, so the pool always knows which job a worker
holds: when a worker process dies (a JVM segfault, `os._exit`, the OOM
killer), the pool starts a fresh one and retries the job; a job that fails
`max_attempts` times is returned as a `JobFailure` and the run goes on.

With `num_workers=0` the jobs run in the calling process (for debugging and
for policies that cannot be copied into workers); a failing job is still
retried and then reported, but a crash of the process itself is not survivable.

Threads: each worker sizes its torch/OpenMP pools to `threads` (default: an equal
share of the framework's budget, see `earlyexp.threads`), so the workers never
outnumber the cores with spinning threads.

Stopping: when the pool stops (its jobs done, an exception, Ctrl-C or SIGTERM in
the parent), an idle worker is told to finish and a busy one gets SIGTERM; either
way it closes its state (an environment closes its JVMs) before it exits. A worker
whose parent died without stopping it notices within a second and does the same.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterable, Iterator

from earlyexp import threads as thread_budget

POLL_SECONDS = 0.5
#: How long a worker may take to close its state (JVMs included) before it is killed.
STOP_GRACE_SECONDS = 10.0


@dataclass
class JobFailure:
    """A job that failed on every attempt; `error` is the last error's text."""

    job: Any
    error: str
    attempts: int


def _worker_main(conn: Connection, init: Callable, init_args: tuple, run: Callable,
                 threads: int) -> None:
    thread_budget.apply(threads)
    _stop_with_parent(os.getppid())
    state = None
    try:
        state = init(*init_args)
        while True:
            job = conn.recv()
            if job is None:
                break
            try:
                conn.send(("ok", run(state, job)))
            except (BrokenPipeError, EOFError):
                raise
            except Exception:  # noqa: BLE001 - every job error is reported to the parent
                conn.send(("error", traceback.format_exc(limit=8)))
                _close(state)
                state = init(*init_args)  # a fresh environment for the next job
    except (EOFError, BrokenPipeError, SystemExit):
        pass  # the parent is gone or asked us to stop: close the state and leave quietly
    finally:
        _close(state)


def _stop_with_parent(parent: int) -> None:
    """Exit cleanly on SIGTERM and when the parent dies; leave Ctrl-C to the parent.

    SIGINT reaches every process of the terminal's group, and a worker interrupted
    mid-job would only print a traceback: the parent stops the workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # orphaned: stop through the same path

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)


def interrupt_on_sigterm() -> None:
    """Make SIGTERM behave like Ctrl-C in this (main) process: raise KeyboardInterrupt.

    Python's default SIGTERM ends the process without running `finally` blocks, so a
    pool would never stop its workers (nor they their JVMs). Call once from a program's
    entry point, in the main thread.
    """
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame) -> None:
    # One SIGTERM starts the stop; a second (a driver forwarding it, a scheduler repeating
    # it) must not interrupt the clean-up that closes workers and JVMs. SIGKILL still works.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _close(state: Any) -> None:
    close = getattr(state, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - best effort while tearing down
            pass


class _Worker:
    def __init__(self, ctx, init, init_args, run, threads: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main,
                                   args=(child, init, init_args, run, threads), daemon=True)
        self.process.start()
        child.close()
        self.job: tuple[Any, int] | None = None  # (job, attempt)

    def stop(self) -> None:
        """Ask an idle worker to finish and a busy one (SIGTERM) to close and exit; kill
        it only if it has not exited after `STOP_GRACE_SECONDS`."""
        if self.job is None:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        elif self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=STOP_GRACE_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """Runs `run(state, job)` for every job in worker processes; see the module docstring."""

    def __init__(self, init: Callable, run: Callable, num_workers: int, init_args: tuple = (),
                 max_attempts: int = 2, start_method: str = "spawn", threads: int | None = None):
        self.init, self.run, self.init_args = init, run, init_args
        self.num_workers, self.max_attempts = num_workers, max_attempts
        #: torch/OpenMP threads of each worker (default: an equal share of the budget)
        self.threads = threads or thread_budget.share(num_workers)
        self.ctx = mp.get_context(start_method)
        self.restarts = 0

    def imap_unordered(self, jobs: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield `(job, result)` as jobs finish; `result` is a `JobFailure` when all tries failed."""
        if self.num_workers == 0:
            yield from self._run_inline(jobs)
            return
        pending = [(job, 1) for job in jobs]
        pending.reverse()  # pop() from the end keeps the original order
        workers = [self._spawn() for _ in range(min(self.num_workers, len(pending)))]
        try:
            while pending or any(w.job for w in workers):
                for w in workers:
                    if w.job is None and pending:
                        w.job = pending.pop()
                        w.conn.send(w.job[0])
                busy = [w for w in workers if w.job is not None]
                ready = wait([w.conn for w in busy], timeout=POLL_SECONDS)
                for i, w in enumerate(workers):
                    if w.job is None or (w.conn not in ready and w.process.is_alive()):
                        continue
                    outcome = self._receive(w)
                    job, attempt = w.job
                    w.job = None
                    if outcome[0] == "crash":
                        w.stop()
                        workers[i] = w = self._spawn()
                        self.restarts += 1
                    if outcome[0] == "ok":
                        yield job, outcome[1]
                    elif attempt < self.max_attempts:
                        pending.append((job, attempt + 1))
                    else:
                        yield job, JobFailure(job, outcome[1], attempt)
        finally:
            for w in workers:
                w.stop()

    def _spawn(self) -> _Worker:
        return _Worker(self.ctx, self.init, self.init_args, self.run, self.threads)

    @staticmethod
    def _receive(worker: _Worker) -> tuple[str, Any]:
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            return ("crash", f"worker process died (exit code {worker.process.exitcode}) "
                             f"while running this job")

    def _run_inline(self, jobs: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        state = self.init(*self.init_args)
        try:
            for job in jobs:
                for _attempt in range(1, self.max_attempts + 1):
                    try:
                        yield job, self.run(state, job)
                        break
                    except Exception:  # noqa: BLE001 - reported as a JobFailure
                        error = traceback.format_exc(limit=8)
                        _close(state)
                        state = self.init(*self.init_args)
                else:
                    yield job, JobFailure(job, error, self.max_attempts)
        finally:
            _close(state)
