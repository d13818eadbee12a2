"""The whole method on one environment: collect -> warm-start IL, IWM, SR -> RL from each
-> evaluate before and after RL -> report.

    earlyexp pipeline env=textworld            # configs/pipeline.yaml
    earlyexp demo                              # the same with configs/experiment/demo.yaml

Every stage writes under `run_dir` and is skipped when its output is already
complete, so an interrupted pipeline resumes where it stopped (collection per
shard, warm-starts per method, RL per checkpoint). The RL settings are the same
for every warm-start; only `init` differs, so the comparison isolates the warm-start.

Each stage's wall time (collection, reference bounds, each warm-start, each RL run,
each evaluation) is printed as a table at the end and stored in run.json
(`stage_seconds`); a stage found already complete shows as resumed.
"""
from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earlyexp import threads
from earlyexp.errors import ConfigError
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.evaluate import EvalConfig, evaluate
from earlyexp.training.rl import RLConfig, train_rl
from earlyexp.training import methods as warmstart_methods
from earlyexp.training.warmstart import (
    METHODS, DataConfig, ModelConfig, TrainConfig, WarmstartConfig, base_model_path, check_budget,
    warmstart,
)


@dataclass
class CollectSettings:
    """The collection stage (the keys mean what they mean in `CollectConfig`)."""

    split: str = "train"
    num_tasks: int | None = None
    k: int = 4
    sampler: str = "uniform"          # uniform (admissible actions or the family's proposer) | policy
    policy_path: str | None = None    # sampler=policy: the proposing checkpoint; null = an IL
                                      # model trained here on the expert data first (the paper's)
    temperature: float = 1.0          # sampler=policy: sampling temperature
    num_workers: int = 2


@dataclass
class PipelineConfig:
    """Configuration of `earlyexp pipeline` (configs/pipeline.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = 0
    run_dir: str = "runs/pipeline"
    methods: list[str] = field(default_factory=lambda: ["il", "iwm", "sr"])
    budget: str = "paper"             # paper | equal_updates (training/methods/base.py)
    collect: CollectSettings = field(default_factory=CollectSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rl: RLConfig = field(default_factory=lambda: RLConfig(init="(set per warm-start)"))
    run_rl: bool = True
    eval: EvalConfig = field(default_factory=EvalConfig)
    eval_splits: list[str] = field(default_factory=lambda: ["test"])
    wandb: bool = False

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ConfigError("methods", self.methods, f"must be a non-empty subset of {METHODS}")
        check_budget(self.budget)
        reflecting = [m for m in self.methods if warmstart_methods.get(m).reflects]
        if reflecting and self.collect.k == 0:
            raise ConfigError("collect.k", 0, f"methods include {reflecting}, which reflect on "
                              "the alternatives: set collect.k >= 1 or drop them from methods")
        self.collect_config("(checked)", self.collect.policy_path or "(trained here)")
        # One length budget: the model's context, less the room every stage keeps for an action.
        context = self.model.tiny.max_positions
        if self.model.path is None and self.data.max_length not in (None, context):
            raise ConfigError("data.max_length", self.data.max_length,
                              f"must be null or model.tiny.max_positions={context}: training, "
                              "evaluation and RL share the model's context as their one budget")
        rooms = {"data.max_new_tokens": self.data.max_new_tokens,
                 "eval.max_new_tokens": self.eval.max_new_tokens,
                 "rl.max_new_tokens": self.rl.max_new_tokens}
        if len(set(rooms.values())) > 1:
            raise ConfigError("data.max_new_tokens", rooms, "must equal eval.max_new_tokens and "
                              "rl.max_new_tokens (the prompt budget all stages share); set all three")

    def collect_config(self, out_dir: str, policy_path: str | None = None,
                       k: int | None = None) -> CollectConfig:
        """The `CollectConfig` of the collection stage (validated like `earlyexp collect`'s)."""
        c = self.collect
        return CollectConfig(env=self.env, split=c.split, num_tasks=c.num_tasks,
                             k=c.k if k is None else k, sampler=c.sampler if k != 0 else "uniform",
                             policy_path=policy_path, temperature=c.temperature,
                             num_workers=c.num_workers, seed=self.seed, out_dir=out_dir)


class Pipeline:
    """Runs the stages of `PipelineConfig` and records every result as it arrives."""

    def __init__(self, cfg: PipelineConfig, console=None):
        from earlyexp.training.config import to_dict
        from earlyexp.training.tracking import Tracker, make_run_name

        self.cfg, self.console = cfg, console
        self.root = Path(cfg.run_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = to_dict(cfg)
        self.tracker = Tracker(self.root, make_run_name(cfg.env.name, "pipeline", cfg.seed),
                               self.config, wandb=cfg.wandb, console=console)
        self.results: list[dict[str, Any]] = []
        self.baselines: list[dict[str, Any]] = []
        self.data_sizes: dict[str, int] = {}
        self.stage_seconds: list[dict[str, Any]] = []  # {"stage", "seconds", "note"} in run order
        self._stage_note = ""

    # ------------------------------------------------------------------ stages
    def run(self) -> Path:
        start = time.perf_counter()
        threads.apply(threads.total_threads())  # workers get shares of it (earlyexp/threads.py)
        try:
            with self.timed("collect"):
                self.collect()
            with self.timed("reference bounds (expert, random)"):
                self.reference_bounds()
            for method in self.cfg.methods:
                with self.timed(f"warm-start {method}"):
                    checkpoint = self.warmstart(method)
                self.evaluate(method, "before_rl", checkpoint)
                if self.cfg.run_rl:
                    with self.timed(f"RL from {method}"):
                        final = self.reinforce(method, checkpoint)
                    self.evaluate(method, "after_rl", final)
        finally:
            self.tracker.close()
        self.say(f"pipeline finished in {time.perf_counter() - start:.0f} s")
        return self.report()

    @contextmanager
    def timed(self, stage: str):
        """Record the wall time of the `with` block as `stage` (also when it fails);
        `note()` inside the block annotates the row."""
        start, self._stage_note = time.perf_counter(), ""
        try:
            yield
        except BaseException:
            self.note(self._stage_note or "interrupted")
            raise
        finally:
            self.stage_seconds.append({"stage": stage, "note": self._stage_note,
                                       "seconds": round(time.perf_counter() - start, 1)})

    def note(self, text: str) -> None:
        """Annotate the stage being timed (e.g. that it was found complete on disk)."""
        self._stage_note = text

    def collect(self) -> None:
        c = self.cfg.collect
        policy_path = c.policy_path
        if c.sampler == "policy" and not policy_path and c.k > 0:
            policy_path = str(self.proposer())
        cfg = self.cfg.collect_config(str(self.root / "experience"), policy_path)
        self.say(f"[1/4] collecting experience: {self.cfg.env.name} k={c.k} sampler={c.sampler} "
                 "(first run: the environment may generate its data)")
        with self.tracker.progress(None, "collect", unit="tasks") as bar:
            summary = collect(cfg, on_result=lambda done, total: bar.update(completed=done,
                                                                            total=total))
        self.data_sizes.update(stored_sizes(cfg.out_dir))  # all stored, not just this run's
        if summary.skipped:
            self.note(f"resumed: {summary.skipped} of {summary.tasks} tasks already stored")
        self.say(f"      {summary.trajectories} trajectories, {summary.transitions} transitions "
                 f"({summary.skipped} tasks already stored), {summary.seconds:.0f} s")

    def proposer(self) -> Path:
        """sampler=policy without a policy_path: as in the paper, an IL model trained on the
        expert trajectories (collected with k=0) proposes the alternatives."""
        out = self.root / "proposer"
        if (out / "warmstart.json").exists():
            return out
        expert_dir = str(self.root / "expert_experience")
        self.say(f"[1/4] sampler=policy: training the IL proposer on expert data -> {out}")
        collect(self.cfg.collect_config(expert_dir, k=0))
        cfg = WarmstartConfig(env=self.cfg.env, method="il", experience_dir=expert_dir,
                              model=self.cfg.model, data=self.cfg.data,
                              train=dataclasses.replace(self.cfg.train, seed=self.cfg.seed),
                              out_dir=str(out))
        return warmstart(cfg)

    def reference_bounds(self) -> None:
        """Expert and random-admissible success: the ceiling and the floor of the table."""
        from earlyexp.agents.actors import ExpertAgent, RandomAgent

        for agent in (ExpertAgent(), RandomAgent(self.cfg.seed)):
            for split in self.cfg.eval_splits:
                summary = evaluate(agent, self.cfg.env, self._eval(split)).summary()
                self.baselines.append({"agent": agent.name, **summary})

    def warmstart(self, method: str) -> Path:
        out = self.root / "warmstart" / method
        if (out / "warmstart.json").exists():
            self.say(f"[2/4] warm-start {method}: already trained ({out})")
            self.note("resumed: already trained")
            self._record_warmstart(method, out, log_losses=False)
            return out
        self.say(f"[2/4] warm-start {method}: {self.cfg.train.steps} updates")
        cfg = WarmstartConfig(env=self.cfg.env, method=method, budget=self.cfg.budget,
                              experience_dir=str(self.root / "experience"),
                              model=self.cfg.model, data=self.cfg.data,
                              train=dataclasses.replace(self.cfg.train, seed=self.cfg.seed),
                              out_dir=str(out))
        base_model_path(cfg, self.cfg.methods)  # the tokenizer sees every method's data
        checkpoint = warmstart(cfg)
        self._record_warmstart(method, checkpoint, log_losses=True)
        return checkpoint

    def _record_warmstart(self, method: str, checkpoint: Path, log_losses: bool) -> None:
        """Data sizes (also of a resumed warm-start) and losses from its warmstart.json; a
        checkpoint trained under another budget is refused, not silently reused."""
        import json
        summary = json.loads((checkpoint / "warmstart.json").read_text())
        budget = (summary.get("budget") or {}).get("name", "equal_updates")  # older: equal
        if budget != self.cfg.budget:
            raise ConfigError("budget", self.cfg.budget, f"{checkpoint} was trained with "
                              f"budget={budget}; use another run_dir for budget="
                              f"{self.cfg.budget}, or budget={budget} to resume it")
        for name, size in summary["data_sizes"].items():
            self.data_sizes[f"{method}/{name}"] = size
        for stage in summary["stages"] if log_losses else []:
            for step, loss in enumerate(stage["losses"], start=1):
                self.tracker.log({"loss": loss}, step * self.cfg.train.logging_steps,
                                 f"warmstart/{method}/{stage['name']}")

    def reinforce(self, method: str, checkpoint: Path) -> Path:
        cfg = dataclasses.replace(self.cfg.rl, env=self.cfg.env, init=str(checkpoint),
                                  seed=self.cfg.seed, out_dir=str(self.root / "rl" / method))
        self.say(f"[3/4] RL ({cfg.algo}) from {method}: {cfg.iterations} iterations")
        return train_rl(cfg, tracker=self.tracker, stage=f"rl/{method}").checkpoint

    def evaluate(self, method: str, phase: str, checkpoint: Path) -> None:
        from earlyexp.agents.actors import LMAgent
        from earlyexp.agents.hf_policy import load_policy

        policy = load_policy(checkpoint, self.cfg.model.device)
        for split in self.cfg.eval_splits:
            cfg = self._eval(split)
            agent = LMAgent(policy, cfg.mode, self.cfg.env.prompt_format(), cfg.temperature,
                            cfg.max_new_tokens, seed=cfg.seed)
            with (self.timed(f"evaluate {method} {phase.replace('_', ' ')} {split}"),
                  self.tracker.progress(None, f"eval {method} {split}", unit="episodes") as bar):
                summary = evaluate(agent, self.cfg.env, cfg,
                                   on_episode=lambda _: bar.advance(1)).summary()
            self.results.append({"warmstart": method, "phase": phase, **summary})
            self.tracker.log({k: v for k, v in summary.items() if isinstance(v, (int, float))},
                             0 if phase == "before_rl" else 1, f"eval/{method}/{split}")
            lo, hi = summary["success_ci"]
            self.say(f"[4/4] {method} {phase} {split}: success {summary['success']:.1%} "
                     f"[{lo:.1%}, {hi:.1%}] over {summary['episodes']} episodes")
            self._record()

    # ------------------------------------------------------------------ output
    def report(self) -> Path:
        from earlyexp.training.report import build_report
        self._record()
        path = build_report([str(self.root)])
        self.print_table()
        self.print_stage_times()
        self.say(f"report: {path}")
        return path

    def print_stage_times(self) -> None:
        """The wall time of every stage, its share of the whole, and the total."""
        from rich.table import Table

        if self.console is None or not self.stage_seconds:
            return
        total = sum(row["seconds"] for row in self.stage_seconds)
        table = Table(title="time per stage")
        for name, justify in (("stage", "left"), ("seconds", "right"), ("share", "right"),
                              ("note", "left")):
            table.add_column(name, justify=justify)
        for row in self.stage_seconds:
            share = row["seconds"] / total if total else 0.0
            table.add_row(row["stage"], f"{row['seconds']:.1f}", f"{share:.0%}", row["note"])
        table.add_row("total", f"{total:.1f}", "100%", "", style="bold")
        self.console.print(table)

    def print_table(self) -> None:
        from rich.table import Table

        if self.console is None:
            return
        table = Table(title=f"{self.cfg.env.name}: success rate [95% CI]")
        table.add_column("agent")
        columns = [(s, p) for s in self.cfg.eval_splits for p in ("before_rl", "after_rl")
                   if p == "before_rl" or self.cfg.run_rl]
        for split, phase in columns:
            table.add_column(f"{split} {phase.replace('_', ' ')}")
        for method in self.cfg.methods:
            cells = [_cell(self._find(method, phase, split)) for split, phase in columns]
            table.add_row(method.upper(), *cells)
        for row in self.baselines:
            cells = [_cell(row) if phase == "before_rl" and row["split"] == split else ""
                     for split, phase in columns]
            table.add_row(f"{row['agent']} (bound)", *cells)
        self.console.print(table)

    def _find(self, method: str, phase: str, split: str) -> dict | None:
        return next((r for r in self.results if r["warmstart"] == method
                     and r["phase"] == phase and r["split"] == split), None)

    def _record(self) -> None:
        from earlyexp.training.report import write_run_record
        write_run_record(self.root, self.cfg.env.name, self.cfg.seed,
                         {**self.config, "baselines": self.baselines}, self.data_sizes,
                         self.results, self.stage_seconds)

    def _eval(self, split: str) -> EvalConfig:
        return dataclasses.replace(self.cfg.eval, split=split)

    def say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text, highlight=False)


def stored_sizes(experience_dir: str | Path) -> dict[str, int]:
    """Trajectories and transitions an experience directory holds (its manifest's counts)."""
    from earlyexp.experience.storage import read_manifest

    shards = read_manifest(experience_dir)["shards"]
    return {kind: sum(int(shard[kind]) for shard in shards)
            for kind in ("trajectories", "transitions")}


def _cell(result: dict | None) -> str:
    if not result:
        return "-"
    lo, hi = result["success_ci"]
    return f"{result['success']:.0%} [{lo:.0%}, {hi:.0%}] n={result['episodes']}"
