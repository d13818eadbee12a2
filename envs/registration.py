"""The environment registry: names to lazily imported `"module:Class"` entry points.

A family registers itself in its package's `__init__.py` with a string entry
point, so that listing environments imports no heavy engine:

    register("textworld", "earlyexp.envs.textworld.env:TextWorldEnv",
             gym_name="TextWorld", description="TextWorld games made with tw-make")

Each name is also registered with Gymnasium as `earlyexp/<GymName>-v0`, so
`gymnasium.make("earlyexp/TextWorld-v0")` works as well as `make("textworld")`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from earlyexp.errors import DuplicateEnvError, UnknownEnvError

NAMESPACE = "earlyexp"


@dataclass(frozen=True)
class EnvSpec:
    """How to build one registered environment."""

    name: str
    entry_point: str
    gym_name: str
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: A small, fast variant (few tasks) that the contract tests and `earlyexp envs` use.
    smoke_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def gym_id(self) -> str:
        return f"{NAMESPACE}/{self.gym_name}-v0"

    def load(self) -> type:
        module_name, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[str, EnvSpec] = {}


def register(
    name: str,
    entry_point: str,
    *,
    gym_name: str | None = None,
    description: str = "",
    kwargs: dict[str, Any] | None = None,
    smoke_kwargs: dict[str, Any] | None = None,
    override: bool = False,
) -> EnvSpec:
    """Register an environment under `name` (and `earlyexp/<gym_name>-v0` in Gymnasium)."""
    if ":" not in entry_point:
        raise ValueError(f"entry_point must look like 'package.module:Class', got {entry_point!r}")
    if name in _REGISTRY and not override:
        raise DuplicateEnvError(name, _REGISTRY[name].entry_point)
    spec = EnvSpec(name, entry_point, gym_name or name.title().replace("_", ""), description,
                   dict(kwargs or {}), dict(smoke_kwargs or {}))
    _REGISTRY[name] = spec
    gymnasium.register(id=spec.gym_id, entry_point=entry_point, kwargs=spec.kwargs,
                       disable_env_checker=True)
    return spec


def spec(name: str) -> EnvSpec:
    """The `EnvSpec` registered under `name` (raises `UnknownEnvError` with suggestions)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEnvError(name, _REGISTRY) from None


def make(name: str, **kwargs: Any):
    """Build the environment registered as `name`; `kwargs` override the registered ones."""
    return make_from_spec(spec(name), **kwargs)


def make_from_spec(env_spec: EnvSpec, **kwargs: Any):
    """Build an environment from its spec (worker processes get specs, not names, so an
    environment registered at run time in the parent is buildable in a child)."""
    env = env_spec.load()(**{**env_spec.kwargs, **kwargs})
    env.name = env_spec.name
    return env


def list_envs() -> list[str]:
    """Registered environment names, sorted."""
    return sorted(_REGISTRY)


def unregister(name: str) -> None:
    """Remove a registration (tests use this to clean up)."""
    env_spec = _REGISTRY.pop(name, None)
    if env_spec is not None:
        gymnasium.registry.pop(env_spec.gym_id, None)
