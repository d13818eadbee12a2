"""Every error the framework raises on purpose, in one hierarchy.

Each class keeps the offending values as attributes so that callers (and
tests) can inspect them, and each message states the rule, the value that
broke it and how to fix it. This module is a leaf: every part may import it.
"""
from __future__ import annotations

import difflib
from typing import Iterable


def closest(name: str, known: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" hint for an unknown name, or ""."""
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" Did you mean {match[0]!r}?" if match else ""


class EarlyExpError(Exception):
    """Raised for any error of this framework (the base class)."""


# --- environments -----------------------------------------------------------
class UnknownEnvError(EarlyExpError, KeyError):
    """Raised when an environment name is not registered."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name, self.known = name, sorted(known)
        super().__init__(
            f"No environment named {name!r}.{closest(name, self.known)} "
            f"Registered environments: {', '.join(self.known) or '(none)'}. "
            "`earlyexp envs` lists them with their splits."
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class DuplicateEnvError(EarlyExpError, ValueError):
    """Raised when an environment name is registered twice."""

    def __init__(self, name: str, existing: str):
        self.name, self.existing = name, existing
        super().__init__(
            f"An environment named {name!r} is already registered (entry point {existing}). "
            "Pick another name, or pass override=True to replace it on purpose."
        )


class UnknownTaskError(EarlyExpError, KeyError):
    """Raised when reset() is asked for a task id the environment does not have."""

    def __init__(self, env: str, task_id: str, known: Iterable[str]):
        self.env, self.task_id = env, task_id
        known = list(known)
        super().__init__(
            f"Environment {env!r} has no task {task_id!r}.{closest(task_id, known)} "
            f"Use env.tasks('train'|'test'|'ood') to list task ids ({len(known)} known)."
        )

    def __str__(self) -> str:
        return self.args[0]


class UnknownSplitError(EarlyExpError, ValueError):
    """Raised when tasks() is asked for a split the family does not define."""

    def __init__(self, env: str, split: str, splits: Iterable[str]):
        self.env, self.split, self.splits = env, split, list(splits)
        super().__init__(
            f"Environment {env!r} has no split {split!r}; its splits are {self.splits}."
        )


class ResetNeeded(EarlyExpError, RuntimeError):
    """Raised when step() is called before reset() or after the episode ended."""


class NonDeterministicEnvError(EarlyExpError, RuntimeError):
    """Raised when replaying an action prefix does not reproduce the recorded observation."""

    def __init__(self, env: str, task_id: str, step: int, expected: str, got: str):
        self.env, self.task_id, self.step = env, task_id, step
        self.expected, self.got = expected, got
        super().__init__(
            f"Replaying {step} actions of task {task_id!r} in {env!r} did not reproduce the "
            f"recorded observation, so the environment is not deterministic given task and "
            f"seed and cannot be restored by replay.\n  expected: {expected[:200]!r}\n"
            f"  got:      {got[:200]!r}\nImplement a native snapshot() for this environment "
            "or make reset() fully seeded."
        )


class EnvCrashedError(EarlyExpError, RuntimeError):
    """Raised when an environment's backing process (a JVM, a server) died."""


# --- configuration and data -------------------------------------------------
class ConfigError(EarlyExpError, ValueError):
    """Raised when a configuration value is invalid; names the key before any work starts."""

    def __init__(self, key: str, value, rule: str):
        self.key, self.value, self.rule = key, value, rule
        super().__init__(f"Invalid config `{key}={value!r}`: {rule}")


class ResumeMismatchError(ConfigError):
    """Raised when a run would resume outputs built under other settings than the ones
    asked for now (resuming would silently ignore the new values). Names every key that
    differs; `differences[key] == (built_with, asked_for)`."""

    def __init__(self, what: str, differences: dict[str, tuple]):
        self.what, self.differences = what, dict(sorted(differences.items()))
        shown = "; ".join(f"{k}: built with {a!r}, asked for {b!r}"
                          for k, (a, b) in self.differences.items())
        keys = ", ".join(self.differences)
        self.key, self.rule = keys, "resume"
        self.value = {k: b for k, (_, b) in self.differences.items()}
        if len(self.differences) == 1:
            self.value = next(iter(self.value.values()))
        EarlyExpError.__init__(
            self, f"Refusing to resume {what}: the config differs in {keys} ({shown}). "
            "Resume with the settings it was built with, or use another run_dir / out_dir "
            "for the new values.")


class CorruptShardError(EarlyExpError, IOError):
    """Raised when a stored Parquet shard cannot be read."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(
            f"Shard {path} is corrupt or truncated ({reason}). Nothing was skipped. "
            "Re-run with repair=true to move it aside to quarantine/ and recollect its tasks."
        )


class StoreFormatError(EarlyExpError, ValueError):
    """Raised when a data or run directory is unreadable, edited, or of an incompatible format."""


class MissingDataError(EarlyExpError, FileNotFoundError):
    """Raised when a directory expected to hold experience or a checkpoint does not."""


class CorruptCheckpointError(EarlyExpError, IOError):
    """Raised when RL checkpoints exist but none can be resumed as the user asked."""

    def __init__(self, path: str, reason: str, fix: str):
        self.path, self.reason = path, reason
        super().__init__(f"Cannot resume from {path}: {reason}. Nothing was overwritten. {fix}")


class EmptyDatasetError(EarlyExpError, ValueError):
    """Raised when a training dataset would be empty."""
