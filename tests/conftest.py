"""Shared fixtures: a registered corridor env and a per-test scratch directory."""
from __future__ import annotations

import pytest

import earlyexp.envs as envs


@pytest.fixture
def corridor():
    """The small deterministic CorridorEnv, registered as `corridor` for the test."""
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    yield envs.spec("corridor")
    envs.unregister("corridor")
