"""Experiment tracking: one `Tracker` per run, used by every stage.

    tracker = Tracker(run_dir, make_run_name("textworld", "grpo-il", 0), to_dict(cfg))
    tracker.log({"success": 0.4, "entropy": 1.2, "vendi": 2.5}, step=it, stage="rl/il")
    with tracker.progress(total=len(tasks), description="eval test", unit="episodes") as bar:
        ...; bar.advance()
    tracker.close()

Every `log` call goes to
  * `run_dir/metrics.jsonl` (always): one JSON object per call,
    `{"stage": str, "step": int, "time": unix seconds, "metrics": {key: float | null}}`,
    flushed at once (a non-finite value is stored as null);
  * TensorBoard (always) under `run_dir/tb/`, tag `f"{stage}/{key}"` (`rl/il/entropy`,
    `eval/il/test/success`);
  * the console (rich), one compact line;
  * Weights & Biases when `wandb=True`: the same tags, each stage against its own
    step axis `f"{stage}/step"`, since stages count steps differently.

Stage names used across the framework: `warmstart/{method}` (SFT steps),
`rl/{warmstart}` (one line per RL iteration), `eval/{warmstart}/{split}`. The metric
keys are those of `earlyexp.experience.diversity.METRICS`, plus `pass@{k}`,
`collapse/*` and `params/changed*`. Under multi-process training log from the main
process only.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn,
    TimeElapsedColumn, TimeRemainingColumn,
)
from rich.text import Text

from earlyexp.errors import ConfigError

METRICS_FILE, CONFIG_FILE, TB_DIR = "metrics.jsonl", "config.json", "tb"


def make_run_name(env: str, method: str, seed: int, when: float | None = None) -> str:
    """The run name `{env}__{method}__{seed}__{unix time}` (CleanRL's convention)."""
    return f"{env}__{method}__{seed}__{int(time.time() if when is None else when)}"


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl`, in order. A truncated last line (a run killed
    mid-write) is dropped; a malformed line elsewhere raises ValueError naming it."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number} is not a JSON object ({e}); the metrics file is "
                             "corrupt") from e
        if not isinstance(record, dict) or not {"stage", "step", "metrics"} <= record.keys():
            raise ValueError(f"{path}:{number} lacks stage/step/metrics; "
                             "not a Tracker metrics file")
        records.append(record)
    return records


def _parse_record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _scalar(key: str, value: Any) -> float:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # torch / numpy scalars
        value = value.item()
    if isinstance(value, (bool, int, float)):
        return float(value)
    raise TypeError(f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}")


class _RateColumn(ProgressColumn):
    """Throughput of a task, in its `unit` per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        text = f"{speed:.2f} {unit}/s" if speed else f"- {unit}/s"
        return Text(text, style="progress.data.speed")


class ProgressBar:
    """Handle of one running progress bar: `advance(n)`, `update(completed=..., total=...)`."""

    def __init__(self, progress: Progress, task_id):
        self._progress, self._task = progress, task_id

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, **fields) -> None:
        self._progress.update(self._task, **fields)


class Tracker:
    """Logs a run's metrics to JSONL, TensorBoard, the console and optionally W&B.

    Writes the full `config` to `run_dir/config.json` at construction; appends to an
    existing `metrics.jsonl` (a resumed run continues it). A context manager.
    """

    def __init__(self, run_dir: str | os.PathLike, run_name: str, config: Mapping[str, Any],
                 wandb: bool = False, *, console: Console | None = None,
                 wandb_project: str = "early-experience", echo: bool = True):
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir, self.run_name = Path(run_dir), run_name
        self.console = console or Console()
        self.echo = echo
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(dict(config), indent=1, default=str), encoding="utf-8")
        os.replace(tmp, self.run_dir / CONFIG_FILE)
        self._wandb_run, self._wandb_stages = None, set()
        if wandb:
            self._wandb_run = _start_wandb(wandb_project, run_name, dict(config), self.run_dir)
        self._jsonl = open(self.run_dir / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        self._tb = SummaryWriter(log_dir=str(self.run_dir / TB_DIR), flush_secs=10)
        self._closed = False

    def log(self, metrics: Mapping[str, Any], step: int, stage: str) -> None:
        """Record `metrics` (numbers) at `step` of `stage` (e.g. "rl/il", "eval/il/test")."""
        if self._closed:
            raise RuntimeError(f"Tracker for {self.run_name!r} is closed; create a new one to log")
        if not stage or stage != stage.strip("/"):
            raise ValueError(f"stage must be a non-empty name like 'rl/il', got {stage!r}")
        if int(step) != step or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        step, now = int(step), time.time()
        values = {str(k): _scalar(k, v) for k, v in metrics.items()}
        record = {"stage": stage, "step": step, "time": now,
                  "metrics": {k: v if math.isfinite(v) else None for k, v in values.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        for key, value in values.items():
            if math.isfinite(value):
                self._tb.add_scalar(f"{stage}/{key}", value, step, walltime=now)
        if self._wandb_run is not None:
            self._log_wandb(values, step, stage)
        if self.echo:
            shown = "  ".join(f"{k}={v:.4g}" for k, v in values.items())
            self.console.print(f"[bold]{stage}[/bold] step {step}  {shown}", highlight=False)

    def _log_wandb(self, values: dict[str, float], step: int, stage: str) -> None:
        if stage not in self._wandb_stages:
            self._wandb_run.define_metric(f"{stage}/step")
            self._wandb_run.define_metric(f"{stage}/*", step_metric=f"{stage}/step")
            self._wandb_stages.add(stage)
        self._wandb_run.log({f"{stage}/step": step,
                             **{f"{stage}/{k}": v for k, v in values.items()}})

    def truncate(self, stage: str, after_step: int) -> int:
        """Forget what `stage` logged after `after_step`: a resumed run redoes those steps,
        and each must be logged once. Rewrites `metrics.jsonl` (other stages untouched; a
        line cut by a kill is dropped too) and, when the run dir holds this stage alone,
        hides the dropped steps from TensorBoard (`purge_step`). TensorBoard files shared
        with other stages are left alone (TensorBoard purges by step across every tag);
        `metrics.jsonl` is the record that counts. Returns the number of records dropped."""
        path = self.run_dir / METRICS_FILE
        self._jsonl.close()
        kept, dropped, stages = [], 0, set()
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for number, line in enumerate(lines, 1):
            record = _parse_record(line)
            if record is None and number == len(lines):   # cut by a kill mid-write
                continue
            stages.add(record.get("stage") if record else None)
            if record and record.get("stage") == stage and record.get("step", 0) > after_step:
                dropped += 1
            else:
                kept.append(line if line.endswith("\n") else line + "\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
        self._jsonl = open(path, "a", encoding="utf-8")  # noqa: SIM115
        if dropped and stages <= {stage}:
            from torch.utils.tensorboard import SummaryWriter
            self._tb.close()
            self._tb = SummaryWriter(log_dir=str(self.run_dir / TB_DIR), flush_secs=10,
                                     purge_step=after_step + 1)
        return dropped

    @contextmanager
    def progress(self, total: int | None, description: str,
                 unit: str = "it") -> Iterator[ProgressBar]:
        """A rich progress bar with count, throughput (`unit`/s), elapsed time and ETA.

        `total=None` gives an indeterminate bar (set it later with `bar.update(total=n)`).
        """
        columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TaskProgressColumn(), _RateColumn(),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            yield ProgressBar(progress, progress.add_task(description, total=total, unit=unit))

    def close(self) -> None:
        """Flush and close every sink (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._jsonl.close()
        self._tb.flush()
        self._tb.close()
        if self._wandb_run is not None:
            self._wandb_run.finish()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _start_wandb(project: str, run_name: str, config: dict, run_dir: Path):
    try:
        import wandb
    except ImportError as e:
        raise ConfigError("tracker.wandb", True,
                          "Weights & Biases logging needs the wandb package, which is not "
                          "installed: run `pip install wandb` (or `pip install "
                          "'early-experience[wandb]'`), or set tracker.wandb=false") from e
    return wandb.init(project=project, name=run_name, config=config, dir=str(run_dir))
