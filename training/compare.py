"""`earlyexp compare`: families x seeds x methods in one command, then one comparison report.

    earlyexp compare experiment=compare_smoke
    earlyexp compare compare.families=[household,bfcl] compare.seeds=[0,1,2] \
        methods=[il,iwm,sr,iwm_sr] train.steps=200
    earlyexp compare experiment=compare_paper compare.executor=ray ray.address=auto

Every pipeline key (configs/pipeline.yaml) applies to every cell; `compare.*` chooses
the cells and how they run, `compare.family_overrides.<family>` holds a family's own
pipeline keys (the paper's per-family hyperparameters). Each (family, seed) is a cell:
the existing pipeline in `out_dir/<family>/seed<seed>`, resumable stage by stage. A
cell whose results are all on disk is skipped; a cell that fails is recorded with its
error in its `cell.json` and the others go on; one progress bar counts the cells.

Cells run on an existing engine, never a scheduler of ours (`compare_exec.py`): a
local process pool sized by the machine, each cell with an explicit CPU-thread budget,
or Ray (`compare.executor=ray`, `ray.address`, per-cell `ray.num_cpus` / `ray.num_gpus`).
Ablation cells (expert fraction, branching K) train one warm-start per value on one
shared collection. At the end `comparison.md` / `comparison.html` are written from
whatever the cells left on disk (`compare_report.py`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from earlyexp.errors import ConfigError, closest
from earlyexp.training.pipeline import PipelineConfig

PLAN_FILE, CELL_FILE, WORLD_MODEL_FILE = "compare.json", "cell.json", "world_model.json"
ABLATION_AXES = {"expert_fraction": "data.expert_fraction", "k": "data.k"}


@dataclass
class AblationSettings:
    """Ablation curves: one warm-start per value, the other keys as in the comparison."""

    expert_fraction: list[float] = field(default_factory=list)  # e.g. [0.125, 0.25, 0.5, 1.0]
    k: list[int] = field(default_factory=list)         # branching K, e.g. [1, 2, 4, 8]
    families: list[str] = field(default_factory=list)  # families they run on; empty = the first
    seeds: list[int] | None = None                     # null = the first seed
    methods: list[str] | None = None                   # null = the compared methods
    run_rl: bool = False                               # RL after each warm-start too

    def __post_init__(self):
        if any(not 0 < v <= 1 for v in self.expert_fraction):
            raise ConfigError("compare.ablations.expert_fraction", self.expert_fraction,
                              "every fraction must be in (0, 1]")
        if any(v < 1 for v in self.k):
            raise ConfigError("compare.ablations.k", self.k, "every K must be >= 1")


@dataclass
class CompareSettings:
    """Which cells run and how (`compare.*`)."""

    families: list[str] = field(default_factory=lambda: ["textworld"])  # configs/env/<name>.yaml each
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    out_dir: str = "runs/compare"
    executor: str = "local"          # local (process pool here) | ray (pip install '.[ray]')
    workers: int | None = None       # local: cells at once; null = cores // threads_per_cell
    threads_per_cell: int | None = None  # CPU threads per cell; null = cores // workers
    world_model: bool = True         # next-observation NLL / accuracy of each checkpoint
    world_model_tasks: int = 20      # test tasks whose branched transitions are collected
    world_model_rows: int = 200      # at most this many of them scored (an even sample)
    family_overrides: dict[str, Any] = field(default_factory=dict)  # family -> pipeline keys
    ablations: AblationSettings = field(default_factory=AblationSettings)

    def __post_init__(self):
        from earlyexp.training.compare_exec import EXECUTORS

        if not self.families or len(set(self.families)) != len(self.families):
            raise ConfigError("compare.families", self.families, "name each family once")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("compare.seeds", self.seeds, "name each seed once")
        if self.executor not in EXECUTORS:
            raise ConfigError("compare.executor", self.executor, f"must be one of "
                              f"{list(EXECUTORS)}.{closest(self.executor, EXECUTORS)}")
        for key in ("workers", "threads_per_cell"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"compare.{key}", getattr(self, key), "must be >= 1 or null")
        for key in ("world_model_tasks", "world_model_rows"):
            if getattr(self, key) < 1:
                raise ConfigError(f"compare.{key}", getattr(self, key), "must be >= 1")
        from earlyexp.envs import list_envs
        known = set(list_envs())  # overrides of families left out of this run stay unused
        extra = sorted(set(self.family_overrides) - known)
        if extra:
            raise ConfigError(f"compare.family_overrides.{extra[0]}", "...",
                              f"not a registered family.{closest(extra[0], known)} "
                              "`earlyexp envs` lists them")
        extra = sorted(set(self.ablations.families) - set(self.families))
        if extra and (self.ablations.k or self.ablations.expert_fraction):
            raise ConfigError("compare.ablations.families", extra,
                              f"ablations run on compared families only: {self.families}")


@dataclass
class RaySettings:
    """The Ray executor (`compare.executor=ray`)."""

    address: str | None = None       # null = start Ray here; "auto" / "ray://host:10001" = cluster
    num_cpus: float = 1              # CPUs per cell (its thread budget: at least 1)
    num_gpus: float = 0              # GPUs per cell

    def __post_init__(self):
        if self.num_cpus <= 0 or self.num_gpus < 0:
            raise ConfigError("ray.num_cpus/num_gpus", (self.num_cpus, self.num_gpus),
                              "num_cpus must be > 0 and num_gpus >= 0")


@dataclass
class CompareConfig(PipelineConfig):
    """Configuration of `earlyexp compare` (configs/compare.yaml): the pipeline's keys for
    every cell, plus `compare.*` and `ray.*`."""

    compare: CompareSettings = field(default_factory=CompareSettings)
    ray: RaySettings = field(default_factory=RaySettings)


@dataclass
class Cell:
    """One unit of work: the pipelines of one (family, seed), or of one ablation axis of
    it (one pipeline per value, all on the first value's collection)."""

    key: str                          # "household/seed0", "ablations/k/household/seed0"
    family: str
    seed: int
    run_dir: str                      # absolute
    pipelines: list[PipelineConfig]
    ablation: str | None = None       # "expert_fraction" | "k"
    values: list[float] = field(default_factory=list)
    world_model_tasks: int = 0        # 0: no world-model accuracy
    world_model_rows: int = 200
    threads: int = 1                  # set by the executor: this cell's CPU-thread budget
    env_entry_points: dict[str, str] = field(default_factory=dict)  # re-registered in workers


# --- planning: every cell's config composed and checked before any work ---------------
COMPARE_OWNS = {"env": "compare.families", "seed": "compare.seeds", "run_dir": "compare.out_dir"}


def check_overrides(overrides: list[str]) -> None:
    """Keys a cell sets itself cannot be overridden for all cells."""
    for override in overrides:
        key = override.lstrip("+~").partition("=")[0]
        if key in COMPARE_OWNS:
            raise ConfigError(key, override.partition("=")[2],
                              f"compare sets it per cell; use {COMPARE_OWNS[key]}")


def cell_config(overrides: list[str], cfg: CompareConfig, family: str, seed: int,
                run_dir: Path, extra: dict[str, Any] | None = None) -> PipelineConfig:
    """The pipeline config of one cell: configs/compare.yaml with the user's overrides and
    `env=<family>`, then the family's overrides, checked as `earlyexp pipeline` checks."""
    from earlyexp.training.config import check_inputs, compose_config

    configured = has_env_config(family)
    composed = compose_config("compare", [*overrides, *([f"env={family}"] if configured else [])])
    tree = OmegaConf.to_container(composed, resolve=False)
    tree.pop("compare", None)
    tree.pop("ray", None)
    if not configured:  # registered at run time: its kwargs come from family_overrides
        tree["env"] = {"name": family, "kwargs": {}, "prompt": {}}
    tree.update(seed=seed, run_dir=str(run_dir))
    merged = OmegaConf.merge(tree, cfg.compare.family_overrides.get(family) or {}, extra or {})
    try:
        typed = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(PipelineConfig), merged))
    except Exception as e:  # noqa: BLE001 - OmegaConf's errors name the key
        key = getattr(e, "full_key", None) or f"compare.family_overrides.{family}"
        raise ConfigError(key, getattr(e, "value", None), str(e).splitlines()[0]) from e
    check_inputs("pipeline", typed)
    return typed


def has_env_config(family: str) -> bool:
    from importlib.resources import files
    from earlyexp.training.config import CONFIG_MODULE
    return files(CONFIG_MODULE).joinpath("env", f"{family}.yaml").is_file()


def plan(cfg: CompareConfig, overrides: list[str]) -> list[Cell]:
    """Every cell of the comparison, in order: (family, seed) cells, then ablation cells."""
    from earlyexp import envs

    check_overrides(overrides)
    out = Path(cfg.compare.out_dir).resolve()
    entry_points = {f: envs.spec(f).entry_point for f in cfg.compare.families}
    cells = []
    for family in cfg.compare.families:
        for seed in cfg.compare.seeds:
            run_dir = out / family / f"seed{seed}"
            pipeline = cell_config(overrides, cfg, family, seed, run_dir)
            cells.append(Cell(f"{family}/seed{seed}", family, seed, str(run_dir), [pipeline],
                              world_model_tasks=cfg.compare.world_model_tasks
                              if cfg.compare.world_model else 0,
                              world_model_rows=cfg.compare.world_model_rows,
                              env_entry_points=entry_points))
    cells += ablation_cells(cfg, overrides, out, entry_points)
    return cells


def ablation_cells(cfg: CompareConfig, overrides: list[str], out: Path,
                   entry_points: dict[str, str]) -> list[Cell]:
    """One cell per (axis, family, seed): a pipeline per value, largest value first (its
    collection and tiny tokenizer serve the smaller ones). K is collected once with the
    largest K; each value trains on the first K stored alternatives (`data.k`)."""
    a = cfg.compare.ablations
    cells = []
    for axis in ABLATION_AXES:
        values = sorted(set(getattr(a, axis)), reverse=True)
        if not values:
            continue
        for family in a.families or cfg.compare.families[:1]:
            for seed in a.seeds if a.seeds is not None else cfg.compare.seeds[:1]:
                base = out / "ablations" / axis / family / f"seed{seed}"
                pipelines = [cell_config(overrides, cfg, family, seed, base / f"{axis}={v:g}",
                                         _ablation_keys(cfg, axis, v, values))
                             for v in values]
                cells.append(Cell(f"ablations/{axis}/{family}/seed{seed}", family, seed,
                                  str(base), pipelines, axis, [float(v) for v in values],
                                  env_entry_points=entry_points))
    return cells


def _ablation_keys(cfg: CompareConfig, axis: str, value: float, values: list) -> dict:
    a = cfg.compare.ablations
    keys: dict[str, Any] = {"run_rl": a.run_rl, "methods": list(a.methods or cfg.methods)}
    if axis == "k":
        keys.update(collect={"k": int(max(values))}, data={"k": int(value)})
    else:
        keys.update(data={"expert_fraction": float(value)})
    return keys


# --- what is on disk ------------------------------------------------------------------
def expected_results(p: PipelineConfig) -> set[tuple[str, str, str]]:
    phases = ("before_rl", "after_rl") if p.run_rl else ("before_rl",)
    return {(m, ph, s) for m in p.methods for ph in phases for s in p.eval_splits}


def missing(cell: Cell) -> list[str]:
    """What the cell has not written yet (empty: finished, skip it)."""
    gaps = []
    for p in cell.pipelines:
        run = Path(p.run_dir) / "run.json"
        have = set()
        if run.is_file():
            try:
                have = {(r["warmstart"], r["phase"], r["split"])
                        for r in json.loads(run.read_text())["results"]}
            except (ValueError, KeyError, TypeError):
                have = set()
        gaps += [f"{p.run_dir}: {'/'.join(r)}" for r in sorted(expected_results(p) - have)]
    if cell.world_model_tasks and not (Path(cell.run_dir) / WORLD_MODEL_FILE).is_file():
        gaps.append(f"{cell.run_dir}: {WORLD_MODEL_FILE}")
    return gaps


def read_cell_status(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / CELL_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def write_plan(cfg: CompareConfig, cells: list[Cell], overrides: list[str]) -> Path:
    """`out_dir/compare.json`: what was asked for (the report reads it)."""
    from earlyexp.training.config import to_dict

    path = Path(cfg.compare.out_dir) / PLAN_FILE
    write_json_atomic(path, {
        "format": 1, "families": cfg.compare.families, "seeds": cfg.compare.seeds,
        "methods": cfg.methods, "budget": cfg.budget, "run_rl": cfg.run_rl,
        "eval_splits": cfg.eval_splits, "overrides": overrides,
        "cells": [{"key": c.key, "family": c.family, "seed": c.seed, "run_dir": c.run_dir,
                   "ablation": c.ablation, "values": c.values,
                   "run_dirs": [p.run_dir for p in c.pipelines]} for c in cells],
        "config": to_dict(cfg)})
    return path


# --- the command ----------------------------------------------------------------------
def compare(cfg: CompareConfig, overrides: list[str], console=None) -> dict[str, Any]:
    """Run every unfinished cell, then write the comparison report; returns
    {"report": path, "done": [...], "failed": [...], "skipped": [...]}."""
    from earlyexp.training.compare_exec import EXECUTORS, check_executor
    from earlyexp.training.compare_report import build_comparison

    cells = plan(cfg, overrides)          # every cell's config checked: nothing run yet
    check_executor(cfg)
    write_plan(cfg, cells, overrides)
    skipped = [c for c in cells if not missing(c)]
    todo = [c for c in cells if missing(c)]
    outcomes: dict[str, dict] = {}
    with _progress(console, len(cells)) as progress:
        bar = progress.add_task("cells", total=len(cells), status="")
        progress.update(bar, advance=len(skipped),
                        status=f"{len(skipped)} already finished" if skipped else "")

        def on_done(outcome: dict) -> None:
            outcomes[outcome["key"]] = outcome
            failed = sum(o["status"] == "failed" for o in outcomes.values())
            progress.update(bar, advance=1, status=f"last: {outcome['key']} {outcome['status']}"
                            + (f"; {failed} failed" if failed else ""))

        if todo:
            EXECUTORS[cfg.compare.executor](todo, cfg, on_done)
    report = build_comparison(cfg.compare.out_dir)
    return {"report": report, "skipped": [c.key for c in skipped],
            "done": [k for k, o in outcomes.items() if o["status"] == "done"],
            "failed": [o for o in outcomes.values() if o["status"] != "done"]}


def _progress(console, total: int):
    from rich.progress import (
        BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
        TimeRemainingColumn,
    )
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    TextColumn("{task.fields[status]}"), console=console, transient=False,
                    disable=console is None)

