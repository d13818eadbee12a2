"""Collect expert trajectories and branched early experience into an experience directory.

    from earlyexp.experience.collect import CollectConfig, collect
    summary = collect(CollectConfig(env=EnvConfig("textworld"), k=4, out_dir="runs/tw"))

Tasks are spread over `num_workers` processes, each owning its environment.
Results stream into an `ExperienceWriter`; a restarted run skips the tasks
the manifest already lists. A task whose environment crashes is retried once
in a fresh worker and, if it fails again, stored as a failed trajectory with
its error, and the run goes on.
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from earlyexp.agents.prompts import PromptFormat
from earlyexp.errors import ConfigError
from earlyexp.experience.branching import PolicySampler, UniformSampler, collect_task
from earlyexp.experience.records import Trajectory
from earlyexp.experience.storage import ExperienceWriter, TaskResult, task_key
from earlyexp.experience.workers import JobFailure, WorkerPool

SAMPLERS = ("uniform", "policy")


@dataclass
class EnvConfig:
    """Which environment to build and how (the `env` config group)."""

    name: str = "textworld"
    kwargs: dict[str, Any] = field(default_factory=dict)
    prompt: dict[str, Any] = field(default_factory=dict)  # PromptFormat fields

    def spec(self):
        from earlyexp.envs import spec
        return spec(self.name)

    def make(self):
        from earlyexp.envs import make_from_spec
        return make_from_spec(self.spec(), **self.kwargs)

    def prompt_format(self) -> PromptFormat:
        try:
            return PromptFormat(**self.prompt)
        except (TypeError, ValueError) as e:
            raise ConfigError("env.prompt", self.prompt, str(e)) from e


@dataclass
class CollectConfig:
    """Configuration of `earlyexp collect` (configs/collect.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    split: str = "train"              # which task split to collect on
    num_tasks: int | None = None      # first N tasks of the split; None = all
    seeds_per_task: int = 1           # episodes per task, seeds seed..seed+n-1
    seed: int = 0                     # base seed for episodes and samplers
    k: int = 4                        # alternatives per expert state (0 = expert only)
    sampler: str = "uniform"          # uniform | policy
    policy_path: str | None = None    # checkpoint for sampler=policy
    temperature: float = 1.0          # sampling temperature for sampler=policy
    num_workers: int = 2              # worker processes; 0 = in this process
    shard_size: int = 8               # tasks per Parquet shard
    max_attempts: int = 2             # tries per task before it is stored as failed
    out_dir: str = "runs/experience"
    repair: bool = False              # quarantine corrupt shards instead of stopping

    def __post_init__(self):
        checks = [
            ("k", self.k >= 0, "must be >= 0"),
            ("sampler", self.sampler in SAMPLERS, f"must be one of {SAMPLERS}"),
            ("num_tasks", self.num_tasks is None or self.num_tasks >= 1, "must be >= 1 or null"),
            ("seeds_per_task", self.seeds_per_task >= 1, "must be >= 1"),
            ("num_workers", self.num_workers >= 0, "must be >= 0"),
            ("shard_size", self.shard_size >= 1, "must be >= 1"),
            ("max_attempts", self.max_attempts >= 1, "must be >= 1"),
            ("temperature", self.temperature > 0, "must be > 0"),
            ("policy_path", self.sampler != "policy" or bool(self.policy_path),
             "sampler=policy needs policy_path=<checkpoint dir>"),
        ]
        for key, ok, rule in checks:
            if not ok:
                raise ConfigError(key, getattr(self, key), rule)

    def meta(self) -> dict[str, Any]:
        """What must match for two runs to share an experience directory."""
        keys = ("split", "seed", "k", "sampler", "policy_path", "temperature")
        return {"env": asdict(self.env), **{key: getattr(self, key) for key in keys}}


@dataclass
class CollectSummary:
    out_dir: str
    tasks: int
    skipped: int
    trajectories: int
    transitions: int
    failures: list[dict[str, str]]
    expert_success: float
    seconds: float
    worker_restarts: int


# --- what each worker runs (module level, so that spawn can pickle it) -------
@dataclass
class _WorkerState:
    env: Any
    sampler: Any
    k: int

    def close(self) -> None:
        self.env.close()


def _init_worker(cfg: CollectConfig, env_spec) -> _WorkerState:
    from earlyexp.envs import make_from_spec

    if cfg.sampler == "policy":
        from earlyexp.agents import load_policy  # built by the agents part
        sampler = PolicySampler(load_policy(cfg.policy_path), cfg.env.prompt_format(),
                                temperature=cfg.temperature)
    else:
        sampler = UniformSampler()
    return _WorkerState(make_from_spec(env_spec, **cfg.env.kwargs), sampler, cfg.k)


def _run_job(state: _WorkerState, job: tuple[str, int]) -> TaskResult:
    task_id, seed = job
    rng = random.Random(f"{task_id}@{seed}")  # alternatives independent of scheduling
    result = collect_task(state.env, task_id, seed, state.k, state.sampler, rng)
    return _unless_expert_gave_up(result, state.env.max_steps)


def _unless_expert_gave_up(result: TaskResult, max_steps: int) -> TaskResult:
    """An expert that stopped offering actions before the episode ended (the env rejected
    its action, and an expert never repeats a rejected action) is an expert failure: the
    task is stored with that error and without transitions, so no dataset learns from it."""
    trajectory = result.trajectory
    last = next((t for t in reversed(result.transitions) if t.is_expert), None)
    ended = (trajectory.success or (last is not None and last.terminated)
             or len(trajectory.steps) >= max_steps)
    if ended:
        return result
    error = (f"expert failure: no expert action after {len(trajectory.steps)} steps, before "
             "the episode ended (an expert gives up where the env rejected its action)")
    return TaskResult(replace(trajectory, error=error))


# --- orchestration -------------------------------------------------------------
def plan_jobs(cfg: CollectConfig, env) -> list[tuple[str, int]]:
    task_ids = env.tasks(cfg.split)
    if cfg.num_tasks is not None:
        task_ids = task_ids[: cfg.num_tasks]
    return [(t, cfg.seed + i) for t in task_ids for i in range(cfg.seeds_per_task)]


def collect(cfg: CollectConfig, on_result: Callable[[int, int], None] | None = None
            ) -> CollectSummary:
    """Run a collection (or resume one); `on_result(done, total)` reports progress."""
    start = time.perf_counter()
    probe = cfg.env.make()  # fail on a bad env name or kwargs before any worker starts
    try:
        jobs = plan_jobs(cfg, probe)
        if not jobs:
            raise ConfigError("split", cfg.split, f"environment {cfg.env.name!r} has no tasks there")
        _, info = probe.reset(seed=cfg.seed, options={"task_id": jobs[0][0]})
        if (cfg.k > 0 and cfg.sampler == "uniform" and info["admissible_actions"] is None
                and probe.propose_actions(1, random.Random(0)) is None):
            raise ConfigError("sampler", "uniform", f"{cfg.env.name!r} has an open action space "
                              "(no admissible actions) and proposes no alternatives; "
                              "use sampler=policy")
    finally:
        probe.close()
    writer = ExperienceWriter(cfg.out_dir, cfg.meta(), cfg.shard_size, repair=cfg.repair)
    todo = [job for job in jobs if task_key(*job) not in writer.done]
    pool = WorkerPool(_init_worker, _run_job, cfg.num_workers, init_args=(cfg, cfg.env.spec()),
                      max_attempts=cfg.max_attempts)
    trajectories = transitions = successes = 0
    failures: list[dict[str, str]] = []
    with writer:
        for done, (job, result) in enumerate(pool.imap_unordered(todo), start=1):
            if isinstance(result, JobFailure):
                result = _failed_result(cfg, job, result)
            if result.trajectory.error:
                failures.append({"task": task_key(*job), "error": result.trajectory.error})
            writer.add(result)
            trajectories += 1
            transitions += len(result.transitions)
            successes += result.trajectory.success
            if on_result:
                on_result(done, len(todo))
    return CollectSummary(
        str(Path(cfg.out_dir).resolve()), len(jobs), len(jobs) - len(todo), trajectories,
        transitions, failures, successes / max(1, trajectories),
        time.perf_counter() - start, pool.restarts,
    )


def _failed_result(cfg: CollectConfig, job: tuple[str, int], failure: JobFailure) -> TaskResult:
    task_id, seed = job
    error = failure.error.strip().splitlines()[-1] if failure.error.strip() else "unknown error"
    trajectory = Trajectory(cfg.env.name, task_id, seed, "expert", [], False, 0.0,
                            error=f"failed after {failure.attempts} attempts: {error}")
    return TaskResult(trajectory)
