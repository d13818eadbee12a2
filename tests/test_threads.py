"""The one thread budget: its default, its split over workers, and what it reaches."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

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
def clean_env(monkeypatch):
    """No budget variables set; afterwards the environment and torch's pool as before."""
    import torch

    saved, torch_threads = dict(os.environ), torch.get_num_threads()
    for name in (threads.ENV_VAR, *threads.POOL_VARS, "JAVA_TOOL_OPTIONS"):
        monkeypatch.delenv(name, raising=False)
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
