"""Text environments: the `TextEnv` contract, its registry and the families.

    import earlyexp.envs as envs
    env = envs.make("textworld")          # or gymnasium.make("earlyexp/TextWorld-v0")
    obs, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})

Every sub-package of this folder is an environment family; importing
`earlyexp.envs` imports each family's `__init__.py`, which only registers
string entry points, so no engine is loaded until an environment is made.
"""
from __future__ import annotations

import importlib
import pkgutil

from earlyexp.envs.core import INFO_KEYS, TEXT_CHARSET, Outcome, Snapshot, Status, TextEnv
from earlyexp.envs.registration import (
    EnvSpec, list_envs, make, make_from_spec, register, spec, unregister,
)

__all__ = [
    "INFO_KEYS", "TEXT_CHARSET", "EnvSpec", "Outcome", "Snapshot", "Status", "TextEnv",
    "list_envs", "make", "make_from_spec", "register", "spec", "unregister",
]


def _discover_families() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            importlib.import_module(f"{__name__}.{module.name}")


_discover_families()
