"""The one thread budget: its default, its split over workers, and what it reaches."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from earlyexp import threads
from earlyexp.errors import ConfigError
from earlyexp.experience.workers import WorkerPool


def _allowed_cpus_from_proc() -> int:
    """Independent count of this process's allowed CPUs, from /proc (e.g. `0-1,4`)."""
    text = open("/proc/self/status").read()
    ranges = re.search(r"Cpus_allowed_list:\s*(\S+)", text).group(1)
    count = 0
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No budget variables set and a private, empty ledger; afterwards the environment
    and torch's pool as before."""
    import torch

    saved, torch_threads = dict(os.environ), torch.get_num_threads()
    for name in (threads.ENV_VAR, threads.OWNER_VAR, *threads.POOL_VARS, "JAVA_TOOL_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(threads.LEDGER_VAR, str(tmp_path / "ledger"))
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
    torch.set_num_threads(torch_threads)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_default_budget_is_the_cores_this_process_may_use(clean_env):
    assert threads.total_threads() == threads.machine_cores() == _allowed_cpus_from_proc()


def test_one_setting_split_over_processes(clean_env):
    clean_env.setenv(threads.ENV_VAR, "5")
    assert [threads.share(n) for n in (1, 2, 3, 8)] == [5, 2, 1, 1]
    clean_env.setenv("OMP_NUM_THREADS", "1")  # EARLYEXP_THREADS wins over OpenMP's own
    assert threads.total_threads() == 5
    clean_env.delenv(threads.ENV_VAR)
    assert threads.total_threads() == 1


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_budget_names_the_variable_and_the_fix(clean_env, bad):
    clean_env.setenv(threads.ENV_VAR, bad)
    with pytest.raises(ConfigError, match="EARLYEXP_THREADS.*whole number of threads >= 1"):
        threads.total_threads()


def _init():
    return None


def _report(state, job):
    import torch
    return torch.get_num_threads(), os.environ["OMP_NUM_THREADS"], os.environ["JAVA_TOOL_OPTIONS"]


def test_each_worker_runs_with_its_share(clean_env):
    clean_env.setenv(threads.ENV_VAR, "4")
    pool = WorkerPool(_init, _report, num_workers=2)
    results = [result for _, result in pool.imap_unordered(range(4))]
    assert set(results) == {(2, "2", "-XX:ActiveProcessorCount=2")}


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime")
def test_jvms_started_after_apply_size_themselves_to_the_budget(clean_env):
    clean_env.setenv("JAVA_TOOL_OPTIONS", "-Xss2m -XX:ActiveProcessorCount=7")
    threads.apply(1)
    assert os.environ["JAVA_TOOL_OPTIONS"] == "-Xss2m -XX:ActiveProcessorCount=1"
    flags = subprocess.run(["java", "-XX:+PrintFlagsFinal", "-version"], capture_output=True,
                           text=True, check=True).stdout
    assert re.search(r"\bint ActiveProcessorCount\s+=\s+1\b", flags), flags[:500]


# --- the rule, as pure functions ------------------------------------------------------
def test_fair_share_splits_the_cores_among_live_runs():
    # (cores, runs) -> cores // runs, never below one thread
    cases = {(2, 1): 2, (2, 2): 1, (2, 3): 1, (8, 3): 2, (16, 4): 4, (1, 5): 1, (4, 0): 4}
    assert {case: threads.fair_share(*case) for case in cases} == cases


def test_given_budget_reads_the_user_and_the_parent_but_not_its_own_default():
    assert threads.given_budget({}, pid=10) is None
    assert threads.given_budget({"EARLYEXP_THREADS": "3", "OMP_NUM_THREADS": "1"}, pid=10) == 3
    assert threads.given_budget({"OMP_NUM_THREADS": "2"}, pid=10) == 2
    # process 10 set OMP_NUM_THREADS itself from its share: not a given budget for it ...
    own = {"OMP_NUM_THREADS": "2", threads.OWNER_VAR: "10"}
    assert threads.given_budget(own, pid=10) is None
    # ... but for a child it started (another pid) it is the budget the parent gave
    assert threads.given_budget(own, pid=11) == 2


def test_only_entries_of_the_same_running_process_count():
    entries = {1: "100", 2: "200", 3: "300"}   # pid -> start token written at claim
    running = {1: "100", 2: "999"}              # 2: pid reused by a later process; 3: gone
    assert threads.live_entries(entries, running.get) == {1}


@pytest.mark.parametrize("cells, given, expected", [
    # (cells, EARLYEXP_THREADS) -> (cells at once, threads per cell) = (min(cells, T), T // that)
    (8, "4", (4, 1)), (2, "4", (2, 2)), (3, "8", (3, 2)), (1, "2", (1, 2)),
])
def test_compare_pool_gives_each_concurrent_cell_its_part(clean_env, cells, given, expected):
    from earlyexp.training.compare_exec import local_plan

    clean_env.setenv(threads.ENV_VAR, given)
    cfg = SimpleNamespace(compare=SimpleNamespace(workers=None, threads_per_cell=None))
    assert local_plan(cfg, cells) == expected


# --- the ledger, with real processes ----------------------------------------------------
CLAIMING_RUN = ("import sys; from earlyexp import threads; print(threads.claim(), flush=True); "
                "sys.stdin.read()")  # a run on the default budget, alive until stdin closes


def _start_run() -> tuple[subprocess.Popen, int]:
    """An independent run (started from a shell, not by this process: no budget inherited)."""
    env = {k: v for k, v in os.environ.items()
           if k not in (threads.ENV_VAR, threads.OWNER_VAR, *threads.POOL_VARS)}
    run = subprocess.Popen([sys.executable, "-c", CLAIMING_RUN], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=env)
    return run, int(run.stdout.readline())


def test_independent_runs_split_the_machine_and_drop_out_when_they_end(clean_env):
    cores, ledger = threads.machine_cores(), threads.ledger_dir()
    first, first_threads = _start_run()
    second, second_threads = _start_run()
    try:
        assert (first_threads, second_threads) == (cores, threads.fair_share(cores, 2))
        assert threads.live_runs(ledger) == {first.pid, second.pid}
        first.kill()  # killed: no chance to leave the ledger itself
        first.wait()
        assert threads.live_runs(ledger) == {second.pid}
        assert not (ledger / str(first.pid)).exists()  # the stale entry was dropped
    finally:
        second.communicate("")  # a normal exit leaves the ledger
    assert threads.live_runs(ledger) == set() and not list(ledger.iterdir())


def test_a_run_gives_up_cores_while_another_runs_and_takes_them_back(clean_env):
    import torch

    cores = threads.machine_cores()
    assert threads.claim() == cores == torch.get_num_threads()
    other, _ = _start_run()
    try:
        assert threads.rebalance() == threads.fair_share(cores, 2) == torch.get_num_threads()
        assert os.environ["OMP_NUM_THREADS"] == str(threads.fair_share(cores, 2))
    finally:
        other.communicate("")
    assert threads.rebalance() == cores == torch.get_num_threads()


def test_a_given_budget_is_neither_listed_nor_rebalanced(clean_env):
    clean_env.setenv(threads.ENV_VAR, "3")
    assert threads.claim() == 3
    assert not threads.ledger_dir().exists() or not list(threads.ledger_dir().iterdir())
    other, _ = _start_run()
    try:
        assert threads.rebalance() == 3
    finally:
        other.communicate("")


def test_library_use_outside_a_claimed_run_keeps_every_core(clean_env):
    other, _ = _start_run()
    try:
        assert threads.total_threads() == threads.machine_cores()
    finally:
        other.communicate("")
