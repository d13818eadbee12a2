"""Generate a task set (sandbox plus queries with their expert plans) and cache it on disk.

    <cache root>/travel/<format>-<digest of the spec>/tasks.json

The file is written to a temporary name and moved into place with `os.replace`,
so a killed run leaves either the whole file or none. Everything in it follows
from the spec: the same spec always yields the same sandbox and the same tasks.

Queries are drawn in a fixed order (train, test, ood) from one generator; a
query is kept only if the solver finds a plan for it, and it gets a budget
between 10% and 50% above that plan's cost, so every task is solvable and the
budget binds. A query equal to an earlier one (budget aside) is skipped, so the
splits are disjoint.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from earlyexp.envs.travel.evaluation import evaluate
from earlyexp.envs.travel.geography import CITY_STATE, STATES
from earlyexp.envs.travel.names import QUERY_CUISINES
from earlyexp.envs.travel.plan import Plan
from earlyexp.envs.travel.queries import LEVELS, ROOM_RULES, ROOM_TYPES, TRANSPORTATION, Query
from earlyexp.envs.travel.sandbox import FIRST_DATE, LAST_DATE, Sandbox, generate_places
from earlyexp.envs.travel.solver import Solver

from earlyexp.errors import ConfigError
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

#: Bump when generation changes, so that old caches are not reused.
FORMAT_VERSION = 1
SPLITS = ("train", "test", "ood")
#: Trip lengths per split: ood holds the 7-day, three-city trips train never shows.
SPLIT_DAYS = {"train": (3, 5), "test": (3, 5), "ood": (7,)}
#: Candidate queries a split may reject (no plan, duplicate) per task before giving up.
MAX_ATTEMPTS_PER_TASK = 50
BUDGET_SLACK = (1.1, 1.5)


@dataclass(frozen=True)
class TaskSetSpec:
    """Everything that determines a task set (its cache key)."""

    num_train: int
    num_test: int
    num_ood: int
    seed: int

    def __post_init__(self):
        for split in SPLITS:
            count = getattr(self, f"num_{split}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ConfigError(f"num_{split}", count, "must be a positive integer.")
        if not isinstance(self.seed, int):
            raise ConfigError("seed", self.seed, "must be an integer.")

    def key(self) -> str:
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"v{FORMAT_VERSION}-{digest[:12]}"


@dataclass(frozen=True)
class Task:
    task_id: str
    split: str
    query: Query
    plan: Plan  # the expert's plan


class TaskSet:
    """The sandbox and the tasks of one spec."""

    def __init__(self, sandbox: Sandbox, tasks: list[Task]):
        self.sandbox = sandbox
        self.tasks = {task.task_id: task for task in tasks}
        self.splits = {split: [t.task_id for t in tasks if t.split == split] for split in SPLITS}


def default_cache_root() -> Path:
    """`$EARLYEXP_CACHE` or `~/.cache/earlyexp` (the folder that holds travel/)."""
    return family_cache_root("travel").parent


def ensure_task_set(spec: TaskSetSpec, cache_root: Path | None = None) -> TaskSet:
    """Load the task set of `spec` from the cache, generating and caching it first if needed."""
    path = (cache_root or default_cache_root()) / "travel" / spec.key() / "tasks.json"
    try:
        payload = json.loads(path.read_text())
        if payload.get("spec") == asdict(spec):
            return _from_json(payload)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing or unreadable: generate it again below
    payload = generate(spec)
    write_text_atomic(path, json.dumps(payload, sort_keys=True))
    return _from_json(payload)


def generate(spec: TaskSetSpec) -> dict[str, Any]:
    """The JSON payload of a task set: spec, sandbox places and tasks with expert plans."""
    sandbox = Sandbox(spec.seed, generate_places(spec.seed))
    solver = Solver(sandbox)
    rng = random.Random(f"travel-queries-{spec.seed}")
    seen: set[str] = set()
    tasks = []
    for split in SPLITS:
        wanted = getattr(spec, f"num_{split}")
        for _ in range(wanted * MAX_ATTEMPTS_PER_TASK):
            if sum(t["split"] == split for t in tasks) == wanted:
                break
            query = sample_query(rng, rng.choice(SPLIT_DAYS[split]))
            fingerprint = json.dumps(query.to_json(), sort_keys=True)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            solved = solver.solve(query)
            if solved is None:
                continue
            plan, cost = solved
            query = replace(query, budget=_budget(rng, cost))
            _check_expert(query, plan, sandbox)
            index = sum(t["split"] == split for t in tasks)
            tasks.append({"task_id": f"{split}-{index:04d}", "split": split,
                          "query": query.to_json(), "plan": plan.to_json()})
        else:
            raise RuntimeError(f"could not generate {wanted} solvable {split} queries in "
                               f"{wanted * MAX_ATTEMPTS_PER_TASK} attempts")
    return {"format": FORMAT_VERSION, "spec": asdict(spec), "places": sandbox.to_json(),
            "tasks": tasks}


def sample_query(rng: random.Random, days: int) -> Query:
    """A random query without a budget (the budget follows from the expert's plan)."""
    origin = rng.choice(sorted(CITY_STATE))
    other_states = sorted(s for s in STATES if s != CITY_STATE[origin])
    state = rng.choice(other_states)
    destination = rng.choice([c for c, _, _ in STATES[state]]) if days == 3 else state
    last_start = (LAST_DATE - FIRST_DATE).days - (days - 1)
    start = FIRST_DATE.fromordinal(FIRST_DATE.toordinal() + rng.randint(0, last_start))
    level = rng.choice(LEVELS)
    constraints = _constraints(rng, level)
    return Query(origin, destination, days, start.isoformat(),
                 1 if level == "easy" else rng.randint(2, 8), 0, level, **constraints)


def _constraints(rng: random.Random, level: str) -> dict[str, Any]:
    """TravelPlanner's levels: easy has none, medium one local constraint, hard a
    transportation constraint plus two local ones."""
    local = ["room_rule", "room_type", "cuisines"]
    chosen = {"easy": [], "medium": rng.sample(local, 1),
              "hard": ["transportation"] + rng.sample(local, 2)}[level]
    values = {"room_rule": lambda: rng.choice(sorted(ROOM_RULES)),
              "room_type": lambda: rng.choice(sorted(ROOM_TYPES)),
              "cuisines": lambda: tuple(sorted(rng.sample(QUERY_CUISINES, rng.randint(1, 3)))),
              "transportation": lambda: rng.choice(sorted(TRANSPORTATION))}
    return {name: values[name]() for name in chosen}


def _budget(rng: random.Random, cost: int) -> int:
    return int(math.ceil(cost * rng.uniform(*BUDGET_SLACK) / 100) * 100)


def _check_expert(query: Query, plan: Plan, sandbox: Sandbox) -> None:
    report = evaluate(query, plan, sandbox)
    if not report.final_pass:  # a solver bug, never a data problem: fail loudly
        raise RuntimeError(f"the expert plan fails its own query {query}:\n{report.render()}")


def _from_json(payload: dict[str, Any]) -> TaskSet:
    sandbox = Sandbox(payload["spec"]["seed"], payload["places"])
    tasks = [Task(row["task_id"], row["split"], Query.from_json(row["query"]),
                  Plan.from_json(row["plan"])) for row in payload["tasks"]]
    return TaskSet(sandbox, tasks)


