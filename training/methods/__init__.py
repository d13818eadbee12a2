"""Warm-start objectives, one module per method, found by name.

Every module of this package except `base` defines `METHOD`, a `base.Method`; its
config is `configs/method/<name>.yaml` (selected with `method=<name>`). Adding an
objective is one new module here and one new config there: nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from earlyexp.training.methods.base import BUDGETS, Budget, Method, Stage  # noqa: F401

NOT_METHODS = {"base"}


@cache
def registry() -> dict[str, Method]:
    """Every method of this package by name (modules imported on first use)."""
    found: dict[str, Method] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in NOT_METHODS or info.name.startswith("_"):
            continue
        method = importlib.import_module(f"{__name__}.{info.name}").METHOD
        if method.name != info.name:
            raise ImportError(f"{__name__}.{info.name} defines METHOD named {method.name!r}; "
                              "a method's module is named after it")
        found[method.name] = method
    return found


def names() -> tuple[str, ...]:
    """The registered method names, the paper's three first."""
    order = ("il", "iwm", "sr")
    return tuple(sorted(registry(), key=lambda n: (n not in order,
                                                   order.index(n) if n in order else 0, n)))


def get(name: str) -> Method:
    """The method `name`, or ConfigError naming the key `method` and the choices."""
    from earlyexp.errors import ConfigError, closest

    if name not in registry():
        raise ConfigError("method", name, f"must be one of {list(names())}."
                          f"{closest(str(name), registry())} A new method is a module in "
                          "training/methods/ and a config in configs/method/")
    return registry()[name]
