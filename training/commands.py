"""Implementations of the `envs` and `collect` CLI commands (kept out of cli.py so
that `earlyexp help` imports nothing heavy)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.progress import TimeRemainingColumn
from rich.table import Table

from earlyexp.experience.collect import EnvConfig
from earlyexp.training.config import load_config, to_dict


def list_environments(console: Console, args: list[str]) -> int:
    """Table of registered environments. Split sizes need the environment built with its
    configured kwargs; pass `--sizes` to build each one (engines start, data may generate).
    `--prompts <family ...|all>` reports prompt lengths under the budget instead
    (training/prompt_report.py)."""
    import earlyexp.envs as envs

    if "--prompts" in args:
        from earlyexp.training.prompt_report import report_prompts
        return report_prompts(console, args)
    with_sizes = "--sizes" in args
    table = Table(title="registered environments")
    for column in ("name", "gymnasium id", "description", "splits"):
        table.add_column(column)
    for name in envs.list_envs():
        spec = envs.spec(name)
        table.add_row(name, spec.gym_id, spec.description,
                      _split_sizes(name) if with_sizes else "(--sizes)")
    console.print(table)
    return 0


def _split_sizes(name: str) -> str:
    import earlyexp.envs as envs
    from earlyexp.training.config import compose_config

    try:
        kwargs = dict(compose_config("collect", [f"env={name}"]).env.get("kwargs") or {})
    except Exception:  # noqa: BLE001 - a family without a config file still lists
        kwargs = {}
    try:
        env = envs.make(name, **kwargs)
        try:
            sizes = ", ".join(f"{s}={len(env.tasks(s))}" for s in env.splits)
            note = getattr(env, "split_note", None)  # e.g. ScienceWorld's verified gold paths
            return f"{sizes}; {note()}" if note else sizes
        finally:
            env.close()
    except Exception as e:  # noqa: BLE001 - shown in the table, not fatal for the listing
        return f"unavailable: {type(e).__name__}: {str(e).splitlines()[0][:80]}"


def run_collect(console: Console, args: list[str]) -> int:
    from earlyexp.experience.collect import CollectConfig, collect

    cfg = load_config("collect", args, CollectConfig)
    console.print(f"collecting [bold]{cfg.env.name}[/bold] split={cfg.split} k={cfg.k} "
                  f"sampler={cfg.sampler} workers={cfg.num_workers} -> {cfg.out_dir}")
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("tasks", total=None, rate="")

        def on_result(done: int, total: int) -> None:
            elapsed = progress.tasks[bar].elapsed or 1e-9
            progress.update(bar, completed=done, total=total, rate=f"{done / elapsed:.2f} tasks/s")

        summary = collect(cfg, on_result=on_result)
    _print_summary(console, summary)
    Path(cfg.out_dir, "collect_config.json").write_text(json.dumps(to_dict(cfg), indent=1))
    return 0


def _print_summary(console: Console, summary) -> None:
    table = Table(title="collection summary", show_header=False)
    rows = [
        ("tasks", f"{summary.tasks} ({summary.skipped} already stored, skipped)"),
        ("trajectories written", str(summary.trajectories)),
        ("transitions written", str(summary.transitions)),
        ("expert success", f"{summary.expert_success:.1%}"),
        ("failures", str(len(summary.failures))),
        ("worker restarts", str(summary.worker_restarts)),
        ("time", f"{summary.seconds:.1f} s"),
        ("data", summary.out_dir),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for failure in summary.failures[:10]:
        console.print(f"[red]failed[/red] {failure['task']}: {failure['error']}")


def run_warmstart(console: Console, args: list[str]) -> int:
    from earlyexp.training.warmstart import WarmstartConfig, warmstart

    cfg = load_config("warmstart", args, WarmstartConfig)
    console.print(f"warm-start [bold]{cfg.method}[/bold] on {cfg.env.name} from "
                  f"{cfg.model.path or 'the embedded tiny model'}: {cfg.train.steps} updates, "
                  f"batch {cfg.train.batch_size} -> {cfg.out_dir}")
    out = warmstart(cfg)
    summary = json.loads((out / "warmstart.json").read_text())
    table = Table(title=f"warm-start {cfg.method}")
    for column in ("stage", "examples", "updates", "first loss", "last loss", "tokens/s"):
        table.add_column(column)
    for stage in summary["stages"]:
        losses = [f"{x:.3f}" for x in stage["losses"]] or ["none logged"] * 2
        rate = stage["input_tokens"] / max(stage["seconds"], 1e-9)
        table.add_row(stage["name"], str(stage["examples"]), str(stage["steps"]),
                      losses[0], losses[-1], f"{rate:.0f}")
    console.print(table)
    console.print(f"checkpoint: {out}")
    return 0


def run_evaluate(console: Console, args: list[str]) -> int:
    from earlyexp.training.evaluate import (
        EvaluateCommandConfig, build_agent, episode_record, evaluate,
    )

    cfg = load_config("evaluate", args, EvaluateCommandConfig)
    agent = build_agent(cfg)
    result = evaluate(agent, cfg.env, cfg.eval)
    summary = result.summary()
    table = Table(title=f"{cfg.env.name} {cfg.eval.split}: {agent.name}")
    for key in ("episodes", "seeds", "success", "score", "mean_length", "invalid_rate"):
        table.add_column(key)
    lo, hi = summary["success_ci"]
    table.add_row(str(summary["episodes"]), str(summary["seeds"]),
                  f"{summary['success']:.1%} [{lo:.1%}, {hi:.1%}]", f"{summary['score']:.3f}",
                  f"{summary['mean_length']:.1f}", f"{summary['invalid_rate']:.1%}")
    console.print(table)
    if cfg.out:
        Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.out).write_text(json.dumps(
            {"summary": summary, "config": to_dict(cfg),
             "episodes": [episode_record(e) for e in result.episodes]}, indent=1))
        console.print(f"written to {cfg.out}")
    return 0


def run_pipeline(console: Console, args: list[str]) -> int:
    from earlyexp.training.pipeline import Pipeline, PipelineConfig

    cfg = load_config("pipeline", args, PipelineConfig)
    Pipeline(cfg, console).run()
    return 0


def run_compare(console: Console, args: list[str]) -> int:
    from earlyexp.training.compare import CompareConfig, compare

    cfg = load_config("compare", args, CompareConfig)
    c = cfg.compare
    console.print(f"comparing {cfg.methods} (budget={cfg.budget}) on {c.families} x seeds "
                  f"{c.seeds} with executor={c.executor} -> {c.out_dir}", highlight=False)
    outcome = compare(cfg, args, console)
    for failure in outcome["failed"]:
        console.print(f"[red]cell {failure['key']} failed:[/red] {failure.get('error', '?')} "
                      f"(see its cell.log)", highlight=False)
    console.print(f"{len(outcome['done'])} cells run, {len(outcome['skipped'])} already "
                  f"finished, {len(outcome['failed'])} failed; report: {outcome['report']}",
                  highlight=False)
    return 1 if outcome["failed"] else 0


SERVABLE = {"webshop": "earlyexp.envs.webshop.server:serve"}


@dataclass
class ServeConfig:
    """Configuration of `earlyexp serve <env>` (configs/serve.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    host: str = "127.0.0.1"       # interface to bind; 127.0.0.1 = this machine only
    port: int = 3000              # TCP port, 1..65535

    def __post_init__(self):
        from earlyexp.errors import ConfigError, closest

        if self.env.name not in SERVABLE:
            raise ConfigError("env", self.env.name, f"servable environments: {sorted(SERVABLE)}."
                              f"{closest(self.env.name, SERVABLE)}")
        if not 1 <= self.port <= 65535:
            raise ConfigError("port", self.port, "must be a TCP port in 1..65535")


def serve_overrides(args: list[str]) -> list[str]:
    """`serve webshop port=1` -> Hydra overrides `env=webshop port=1`."""
    from earlyexp.errors import ConfigError, closest

    if not args or "=" in args[0]:
        raise ConfigError("env", None, f"name the environment first: `earlyexp serve "
                          f"<env> [host=..] [port=..]`; servable: {sorted(SERVABLE)}")
    if args[0] not in SERVABLE:
        raise ConfigError("env", args[0], f"servable environments: {sorted(SERVABLE)}."
                          f"{closest(args[0], SERVABLE)}")
    return [f"env={args[0]}", *args[1:]]


def run_serve(console: Console, args: list[str]) -> int:
    """`earlyexp serve <env> [host=127.0.0.1] [port=3000] [env.kwargs.<name>=value ...]`."""
    import importlib

    cfg = load_config("serve", serve_overrides(args), ServeConfig)
    module, _, attr = SERVABLE[cfg.env.name].partition(":")
    serve = getattr(importlib.import_module(module), attr)
    console.print(f"serving {cfg.env.name} on http://{cfg.host}:{cfg.port}/ (Ctrl-C stops)")
    serve(host=cfg.host, port=cfg.port, **cfg.env.kwargs)
    return 0
