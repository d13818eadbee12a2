"""Stopping a collection stops every worker it started and every process they own.

The environment here owns a child process (a stand-in for a ScienceWorld JVM, which
only its `close()` ends) and steps slowly, so the signal lands while workers are busy.
The real ScienceWorld case is the slow test at the end.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from earlyexp.envs.testing import CorridorEnv
from earlyexp.experience.workers import STOP_GRACE_SECONDS

from ..conftest import as_from_a_terminal

#: The pool's own worst case to stop: per busy worker SIGTERM, STOP_GRACE_SECONDS, then
#: SIGKILL and 5 s; a parent slower than that (plus start-up slack) hangs somewhere.
PARENT_EXIT_SECONDS = 2 * (STOP_GRACE_SECONDS + 5) + 15

ROOT = Path(__file__).resolve().parents[2]


class ChildOwningEnv(CorridorEnv):
    """A corridor that starts a long `sleep` child process and steps in 0.2 s."""

    def __init__(self, pid_dir: str, **kwargs):
        super().__init__(**kwargs)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks on demand (a hang)
        self._child = subprocess.Popen(["sleep", "600"])
        Path(pid_dir, f"{os.getpid()}-{self._child.pid}").touch()

    def _act(self, action):
        time.sleep(0.2)
        return super()._act(action)

    def close(self) -> None:
        if self._child.poll() is None:
            self._child.terminate()
            self._child.wait()
        super().close()


COLLECT = """
import sys
import earlyexp.envs as envs
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.experience.workers import interrupt_on_sigterm
if __name__ == "__main__":
    import faulthandler, signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # stacks on demand (a hang)
    interrupt_on_sigterm()  # what the CLI does at start
    envs.register("owning", "tests.experience.test_shutdown:ChildOwningEnv")
    env = EnvConfig("owning", {"pid_dir": sys.argv[2], "num_tasks": 50, "length": 8})
    try:
        collect(CollectConfig(env=env, k=2, num_workers=2, out_dir=sys.argv[1]))
    except KeyboardInterrupt:
        sys.exit(130)
"""


def _start_collection(tmp_path) -> tuple[subprocess.Popen, list[int], list[int]]:
    """Start a 2-worker collection; return it with its worker pids and their children's."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    stderr = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([sys.executable, "-c", COLLECT, str(tmp_path / "exp"), str(pid_dir)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=stderr,
                            preexec_fn=as_from_a_terminal)
    deadline = time.time() + 120
    while time.time() < deadline:
        owners = [name.split("-") for name in os.listdir(pid_dir)]
        in_workers = [(int(o), int(c)) for o, c in owners if int(o) != proc.pid]
        if len(in_workers) >= 2:
            break
        assert proc.poll() is None, "the collection ended before its workers started"
        time.sleep(0.1)
    else:
        pytest.fail("the workers did not start their environments within 120 s")
    time.sleep(1.0)  # mid-episode: every worker is busy with a job
    return proc, [w for w, _ in in_workers], [c for _, c in in_workers]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.time() + seconds
    while time.time() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if not _gone(p)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_parent_stops_busy_workers_and_their_children(tmp_path, signum):
    proc, workers, children = _start_collection(tmp_path)
    assert not any(_gone(p) for p in workers + children)
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=PARENT_EXIT_SECONDS)
    except subprocess.TimeoutExpired:  # show where each process hangs, then fail
        for pid in [proc.pid, *workers]:
            if not _gone(pid):
                os.kill(pid, signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        pytest.fail("the parent did not exit; stacks:\n"
                    + (tmp_path / "stderr.txt").read_text()[-6000:])
    assert code == 130  # the parent ran its finally blocks, then exited
    assert _wait_gone(workers + children, 5) == []


def test_workers_of_a_killed_parent_close_their_environments(tmp_path):
    proc, workers, children = _start_collection(tmp_path)
    proc.kill()  # SIGKILL: the parent can clean nothing up; the workers notice it is gone
    proc.wait(timeout=10)
    assert _wait_gone(workers + children, 15) == []


PIPELINE = ["-m", "earlyexp.training.cli", "collect", "env=scienceworld", "num_workers=2",
            "k=1", "num_tasks=6"]


@pytest.mark.slow
def test_stopping_scienceworld_collection_leaves_no_jvm(tmp_path):
    pytest.importorskip("scienceworld")
    proc = subprocess.Popen([sys.executable, *PIPELINE, f"out_dir={tmp_path / 'exp'}"], cwd=ROOT)
    deadline = time.time() + 180
    javas: list[int] = []
    while time.time() < deadline and len(javas) < 2:
        time.sleep(0.5)
        javas = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)
                 if p.name() == "java"]
    assert len(javas) >= 2, "two workers should each be running a JVM"
    workers = [p.pid for p in psutil.Process(proc.pid).children() if p.name() != "java"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert _wait_gone(workers + javas, 10) == []
