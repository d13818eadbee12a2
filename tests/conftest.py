"""Shared fixtures: a registered corridor env and a per-test scratch directory; the
signal state a child process gets from a shell."""
from __future__ import annotations

import signal

import pytest

import earlyexp.envs as envs


@pytest.fixture
def corridor():
    """The small deterministic CorridorEnv, registered as `corridor` for the test."""
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    yield envs.spec("corridor")
    envs.unregister("corridor")


def as_from_a_terminal() -> None:
    """A child's signal state as a shell gives it (a `preexec_fn`): SIGINT/SIGTERM default
    and unblocked. Dispositions and masks are inherited, and a library used by an earlier
    test in this pytest process (joblib's loky, Ray) can leave SIGINT ignored: the child
    then never sees it (faulthandler showed it waiting, unsignalled; SIG_IGN in pytest
    reproduces it)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
