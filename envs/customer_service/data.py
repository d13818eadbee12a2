"""Tasks and their splits, generated from a seed and cached on disk.

A `TaskSetSpec` fixes everything the data depends on. `load_task_set(spec)`
returns the world and the tasks of every split, generating them on the first
call and caching them as one JSON file:

    <cache root>/customer_service/<key>/task_set.json     key = hash of the spec

The file is written to a temporary name and moved into place with
`os.replace`, so a killed run leaves no half file that a later run would
trust; a file that does not parse, or was written by another format
version, is regenerated.

Splits: users are shuffled once and partitioned 60/20/20 into train, test and
ood pools, so no user appears in two splits. `train` and `test` draw requests
from the same templates; `ood` uses only the held-out templates
(`ood_templates`), never seen in `train`. A task is kept only if its gold
calls all succeed when replayed on a fresh database.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from earlyexp.envs.customer_service.database import copy_database, load_world
from earlyexp.envs.customer_service.reward import apply_gold
from earlyexp.envs.customer_service.templates import TEMPLATES, Request, Shop
from earlyexp.envs.customer_service.world import WorldSpec, generate_world

from earlyexp.errors import ConfigError
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

#: Bump when generation changes, so caches of the old procedure are not reused.
FORMAT_VERSION = 2
SPLITS = ("train", "test", "ood")
USER_POOL_SHARES = {"train": 0.6, "test": 0.2, "ood": 0.2}
MAX_ATTEMPTS_PER_TASK = 50


@dataclass
class Task:
    """One conversation: who the customer is, how they identify, and what they want."""

    task_id: str
    user_id: str
    identity_mode: str  # "email" or "name_zip" (the user forgot their email)
    identity: dict[str, str]  # email, first_name, last_name, zip
    requests: list[Request]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(
            data["task_id"],
            data["user_id"],
            data["identity_mode"],
            data["identity"],
            [Request(**r) for r in data["requests"]],
        )

    def gold_calls(self) -> list[dict[str, Any]]:
        return [c for r in self.requests for c in r.gold]


@dataclass(frozen=True)
class TaskSetSpec:
    """Everything the generated world and tasks depend on (the cache key)."""

    seed: int = 0
    num_users: int = 300
    num_train: int = 300
    num_test: int = 100
    num_ood: int = 100
    ood_templates: tuple[str, ...] = ("exchange", "modify_payment")
    second_request_rate: float = 0.25  # share of tasks with a second request
    version: int = field(default=FORMAT_VERSION)

    def __post_init__(self):
        object.__setattr__(self, "ood_templates", tuple(self.ood_templates))
        unknown = [t for t in self.ood_templates if t not in TEMPLATES]
        if unknown or not self.ood_templates or set(self.ood_templates) == set(TEMPLATES):
            raise ConfigError(
                "ood_templates",
                list(self.ood_templates),
                f"name at least one and not all of {sorted(TEMPLATES)}.",
            )
        for split in SPLITS:
            count = getattr(self, f"num_{split}")
            if not isinstance(count, int) or count < 1:
                raise ConfigError(f"num_{split}", count, "must be a positive integer.")
        if not 0.0 <= self.second_request_rate <= 1.0:
            raise ConfigError(
                "second_request_rate",
                self.second_request_rate,
                "must be a probability between 0 and 1.",
            )
        WorldSpec(self.seed, self.num_users)  # validates num_users

    def key(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True)
        return f"seed{self.seed}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"

    def templates(self, split: str) -> list[str]:
        held_out = split == "ood"
        return [t for t in TEMPLATES if (t in self.ood_templates) == held_out]


def cache_dir(spec: TaskSetSpec) -> Path:
    return family_cache_root("customer_service") / spec.key()


@lru_cache(maxsize=4)
def load_task_set(spec: TaskSetSpec) -> tuple[dict[str, Any], dict[str, list[Task]]]:
    """(world, {split: tasks}) of `spec`, from the cache or freshly generated and cached."""
    path = cache_dir(spec) / "task_set.json"
    payload = _read(path)
    if payload is None or payload.get("version") != FORMAT_VERSION:
        payload = _generate(spec)
        write_text_atomic(path, json.dumps(payload, separators=(",", ":")))
        payload = json.loads(json.dumps(payload))  # what a cache hit returns, exactly
    tasks = {split: [Task.from_dict(t) for t in payload["tasks"][split]] for split in SPLITS}
    return payload["world"], tasks


def _generate(spec: TaskSetSpec) -> dict[str, Any]:
    world = generate_world(WorldSpec(spec.seed, spec.num_users))
    shop, base = Shop(world), load_world(world)
    pools = _user_pools(spec.seed, sorted(shop.users))
    tasks = {split: _generate_split(spec, split, shop, base, pools[split]) for split in SPLITS}
    return {
        "version": FORMAT_VERSION,
        "spec": asdict(spec),
        "world": world,
        "tasks": {s: [_task_dict(t) for t in ts] for s, ts in tasks.items()},
    }


def _user_pools(seed: int, user_ids: list[str]) -> dict[str, list[str]]:
    rng = random.Random(f"customer_service-pools-{seed}")
    rng.shuffle(user_ids)
    train_end = int(len(user_ids) * USER_POOL_SHARES["train"])
    test_end = train_end + int(len(user_ids) * USER_POOL_SHARES["test"])
    return {
        "train": user_ids[:train_end],
        "test": user_ids[train_end:test_end],
        "ood": user_ids[test_end:],
    }


def _generate_split(spec: TaskSetSpec, split: str, shop: Shop, base, pool: list[str]) -> list[Task]:
    templates, tasks, seen = spec.templates(split), [], set()
    for index in range(getattr(spec, f"num_{split}")):
        for attempt in range(MAX_ATTEMPTS_PER_TASK):
            rng = random.Random(f"customer_service-task-{spec.seed}-{split}-{index}-{attempt}")
            # The template cycles with the index (balanced splits); attempts redraw the user.
            first = templates[index % len(templates)]
            task = _draw_task(rng, spec, split, index, shop, pool, [first] + templates)
            if task is None:
                continue
            fingerprint = json.dumps([r.gold for r in task.requests], sort_keys=True)
            if fingerprint not in seen and _gold_succeeds(base, task):
                seen.add(fingerprint)
                tasks.append(task)
                break
        else:
            raise ConfigError(
                f"num_{split}",
                getattr(spec, f"num_{split}"),
                f"could not generate task {index} of split {split!r} after "
                f"{MAX_ATTEMPTS_PER_TASK} attempts; use more num_users or fewer tasks.",
            )
    return tasks


def _draw_task(
    rng: random.Random,
    spec: TaskSetSpec,
    split: str,
    index: int,
    shop: Shop,
    pool: list[str],
    kinds: list[str],
) -> Task | None:
    user = shop.users[rng.choice(pool)]
    first = TEMPLATES[kinds[0]](rng, shop, user)
    if first is None:
        return None
    requests = [first]
    if rng.random() < spec.second_request_rate:
        kind = rng.choice([k for k in kinds[1:] if k != first.kind])
        second = TEMPLATES[kind](rng, shop, user)
        if second is not None and second.subject != first.subject:
            requests.append(second)
    mode = "email" if rng.random() < 0.7 else "name_zip"
    identity = {k: user[k] for k in ("email", "first_name", "last_name", "zip")}
    task_id = f"{split}-{index:04d}-" + "+".join(r.kind for r in requests)
    return Task(task_id, user["user_id"], mode, identity, requests)


def _gold_succeeds(base, task: Task) -> bool:
    db = copy_database(base)
    try:
        return not apply_gold(db, task.gold_calls())
    finally:
        db.close()


def _task_dict(task: Task) -> dict[str, Any]:
    return {
        **{k: v for k, v in task.__dict__.items() if k != "requests"},
        "requests": [r.to_dict() for r in task.requests],
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


