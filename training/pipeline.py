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

RL variants (`rl_variants: {name: {rl key: value}}`) add RL runs per warm-start that
differ from the `rl` block in the keys given, e.g. a collapse mitigation:

    rl_variants: {clip_cov: {policy_loss: clip_cov}}

From warm-start `il` that is one more RL run, logged and reported as `il+clip_cov`
(stage `rl/il+clip_cov`, output `rl/il+clip_cov/`, evaluated after RL like `il`); its
before-RL row is the `il` warm-start's evaluation, recorded under both names. Seeds are
separate pipelines (`earlyexp compare compare.seeds=[0,1,2]`); `earlyexp report` over
their run directories draws each setting as the mean with a band over its seeds.
"""
from __future__ import annotations

import dataclasses
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from earlyexp import threads
from earlyexp.errors import ConfigError, closest
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.evaluate import EvalConfig, evaluate
from earlyexp.training.rl import RLConfig, train_rl
from earlyexp.training import methods as warmstart_methods
from earlyexp.training.warmstart import (
    METHODS, DataConfig, ModelConfig, TrainConfig, WarmstartConfig, base_model_path,
    check_base_model, check_budget, refuse_changed_settings, warmstart,
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
    methods: list[str] = field(default_factory=lambda: ["il", "iwm", "sr"])  # any of configs/method/
    budget: str = "paper"             # paper | equal_updates (training/methods/base.py)
    collect: CollectSettings = field(default_factory=CollectSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rl: RLConfig = field(default_factory=lambda: RLConfig(init="(set per warm-start)"))
    rl_variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> rl keys:
                                      # one more RL run per warm-start each, labelled <method>+<name>
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
        self._adopt_env_and_seed()
        variants = {name: self.rl_config(name) for name in self.rl_variants}
        reflect_first = [key for key, on in [
            ("eval.reflect_first", self.eval.reflect_first),
            ("rl.reflect_first", self.rl.reflect_first),
            *((f"rl_variants.{name}.reflect_first", rl.reflect_first)
              for name, rl in variants.items())] if on]
        if reflect_first and not reflecting:  # it would change nothing
            raise ConfigError(reflect_first[0], True, "applies to the warm-starts trained on "
                              f"reflections, and methods={self.methods} has none: add sr "
                              "(or iwm_sr) or drop it")
        # One length budget: the model's context, less the room every stage keeps for an action.
        context = self.model.tiny.max_positions
        if self.model.path is None and self.data.max_length not in (None, context):
            raise ConfigError("data.max_length", self.data.max_length,
                              f"must be null or model.tiny.max_positions={context}: training, "
                              "evaluation and RL share the model's context as their one budget")
        rooms = {"data.max_new_tokens": self.data.max_new_tokens,
                 "eval.max_new_tokens": self.eval.max_new_tokens,
                 "rl.max_new_tokens": self.rl.max_new_tokens,
                 **{f"rl_variants.{name}.max_new_tokens": rl.max_new_tokens
                    for name, rl in variants.items()}}
        if len(set(rooms.values())) > 1:
            raise ConfigError("data.max_new_tokens", rooms, "must equal eval.max_new_tokens and "
                              "rl.max_new_tokens (the prompt budget all stages share); set all three")

    def _adopt_env_and_seed(self) -> None:
        """The RL stage runs in the pipeline's env with its seed, so `rl` shows them (the
        report's config section prints this block). `rl.env` left at its default is
        replaced; one that names another env or other env keys is refused, as is another
        `rl.seed`."""
        if self.rl.env != EnvConfig() and not _within(self.rl.env, self.env):
            raise ConfigError("rl.env", self.rl.env.name, f"the pipeline's RL runs in its env "
                              f"({self.env.name!r}, set by env=...): drop rl.env, or run "
                              "`earlyexp rl` on its own for another env")
        if self.rl.seed not in (RLConfig.seed, self.seed):
            raise ConfigError("rl.seed", self.rl.seed, f"the pipeline's RL takes its seed "
                              f"(seed={self.seed}): drop rl.seed and set seed=...")
        self.rl.env, self.rl.seed = self.env, self.seed

    def rl_config(self, variant: str | None = None) -> RLConfig:
        """The `rl` block, or `rl_variants[variant]` applied to it (type-checked, then
        checked as any RLConfig): the settings shared by every warm-start's RL run."""
        if variant is None:
            return self.rl
        key = f"rl_variants.{variant}"
        if not VARIANT_NAME.fullmatch(variant):
            raise ConfigError("rl_variants", variant, "a variant name is part of a stage, a "
                              "directory and a label: use letters, digits, '_' or '-'")
        overrides = self.rl_variants[variant]
        if not overrides:
            raise ConfigError(key, overrides, "repeats the `rl` block's run: give the RL keys "
                              "this variant changes, e.g. {policy_loss: clip_cov}")
        fields = {f.name for f in dataclasses.fields(RLConfig)}
        for name in overrides:
            if name not in fields:
                raise ConfigError(f"{key}.{name}", overrides[name], "not a key of the rl block "
                                  f"(RLConfig).{closest(name, fields)}")
            if name in RL_SET_PER_RUN:
                raise ConfigError(f"{key}.{name}", overrides[name], "the pipeline sets it for "
                                  "every RL run (env, seed; init and out_dir per warm-start)")
        try:
            merged = OmegaConf.merge(OmegaConf.structured(self.rl), overrides)
            return OmegaConf.to_object(merged)
        except ConfigError as e:  # RLConfig's own checks: name the variant's key
            raise ConfigError(f"{key}.{e.key}", e.value, e.rule) from e
        except OmegaConfBaseException as e:
            raise ConfigError(f"{key}.{getattr(e, 'full_key', '') or '?'}",
                              getattr(e, "value", None), str(e).strip().splitlines()[0]) from e

    def collect_config(self, out_dir: str, policy_path: str | None = None,
                       k: int | None = None) -> CollectConfig:
        """The `CollectConfig` of the collection stage (validated like `earlyexp collect`'s)."""
        c = self.collect
        return CollectConfig(env=self.env, split=c.split, num_tasks=c.num_tasks,
                             k=c.k if k is None else k, sampler=c.sampler if k != 0 else "uniform",
                             policy_path=policy_path, temperature=c.temperature,
                             num_workers=c.num_workers, seed=self.seed, out_dir=out_dir)


#: RL keys the pipeline sets itself, which a variant cannot change.
RL_SET_PER_RUN = ("env", "seed", "init", "out_dir")
VARIANT_NAME = re.compile(r"[A-Za-z0-9_-]+")


def rl_label(method: str, variant: str | None = None) -> str:
    """The name an RL run from `method` is logged, stored and reported under."""
    return method if variant is None else f"{method}+{variant}"


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
            check_base_model(self.root / "experience" / "base_model", self.cfg.model)
            with self.timed("collect"):
                self.collect()
            with self.timed("reference bounds (expert, random)"):
                self.reference_bounds()
            for method in self.cfg.methods:
                with self.timed(f"warm-start {method}"):
                    checkpoint = self.warmstart(method)
                self.evaluate(method, "before_rl", checkpoint)
                for variant in self.variants():
                    with self.timed(f"RL from {rl_label(method, variant)}"):
                        final = self.reinforce(method, checkpoint, variant)
                    self.evaluate(method, "after_rl", final, variant)
        finally:
            self.tracker.close()
        self.say(f"pipeline finished in {time.perf_counter() - start:.0f} s")
        return self.report()

    def variants(self) -> list[str | None]:
        """The RL runs per warm-start: the `rl` block's (None), then each variant's."""
        return [None, *self.cfg.rl_variants] if self.cfg.run_rl else []

    def labels(self, method: str) -> list[str]:
        """The warm-start's name and those of its RL variants (rows of the results)."""
        return [rl_label(method, v) for v in self.variants()] or [method]

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
                                       "seconds": round(time.perf_counter() - start, 3)})

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
        cfg = WarmstartConfig(env=self.cfg.env, method=method, budget=self.cfg.budget,
                              experience_dir=str(self.root / "experience"),
                              model=self.cfg.model, data=self.cfg.data,
                              train=dataclasses.replace(self.cfg.train, seed=self.cfg.seed),
                              out_dir=str(out))
        if (out / "warmstart.json").exists():
            self.say(f"[2/4] warm-start {method}: already trained ({out})")
            self.note("resumed: already trained")
            self._record_warmstart(method, out, cfg, log_losses=False)
            return out
        self.say(f"[2/4] warm-start {method}: {self.cfg.train.steps} updates")
        base_model_path(cfg, self.cfg.methods)  # the tokenizer sees every method's data
        checkpoint = warmstart(cfg)
        self._record_warmstart(method, checkpoint, cfg, log_losses=True)
        return checkpoint

    def _record_warmstart(self, method: str, checkpoint: Path, cfg: WarmstartConfig,
                          log_losses: bool) -> None:
        """Data sizes (also of a resumed warm-start) and losses from its warmstart.json; a
        checkpoint trained under other settings (budget, steps, model, data, env) than
        `cfg` is refused, not silently reused."""
        import json

        from earlyexp.training.config import to_dict
        summary = json.loads((checkpoint / "warmstart.json").read_text())
        refuse_changed_settings(summary.get("config", {}), to_dict(cfg),
                                f"the warm-start {checkpoint}")
        for name, size in summary["data_sizes"].items():
            self.data_sizes[f"{method}/{name}"] = size
        for stage in summary["stages"] if log_losses else []:
            for step, loss in enumerate(stage["losses"], start=1):
                self.tracker.log({"loss": loss}, step * self.cfg.train.logging_steps,
                                 f"warmstart/{method}/{stage['name']}")

    def reinforce(self, method: str, checkpoint: Path, variant: str | None = None) -> Path:
        label = rl_label(method, variant)
        rl = self.cfg.rl_config(variant)
        cfg = dataclasses.replace(rl, env=self.cfg.env, seed=self.cfg.seed, init=str(checkpoint),
                                  out_dir=str(self.root / "rl" / label),
                                  reflect_first=rl.reflect_first and _reflects(method))
        self.say(f"[3/4] RL ({cfg.algo}) from {method}"
                 f"{f' (variant {variant})' if variant else ''}: {cfg.iterations} iterations")
        return train_rl(cfg, tracker=self.tracker, stage=f"rl/{label}").checkpoint

    def evaluate(self, method: str, phase: str, checkpoint: Path,
                 variant: str | None = None) -> None:
        """Evaluate a checkpoint on every eval split. Before RL the result is recorded under
        the warm-start and each of its RL variants (they all start from it)."""
        from earlyexp.agents.actors import LMAgent
        from earlyexp.agents.hf_policy import load_policy

        label = rl_label(method, variant)
        policy = load_policy(checkpoint, self.cfg.model.device)
        for split in self.cfg.eval_splits:
            cfg = dataclasses.replace(self._eval(split),
                                      reflect_first=self.cfg.eval.reflect_first and _reflects(method))
            agent = LMAgent(policy, cfg.mode, self.cfg.env.prompt_format(), cfg.temperature,
                            cfg.max_new_tokens, seed=cfg.seed, reflect_first=cfg.reflect_first)
            with (self.timed(f"evaluate {label} {phase.replace('_', ' ')} {split}"),
                  self.tracker.progress(None, f"eval {label} {split}", unit="episodes") as bar):
                result = evaluate(agent, self.cfg.env, cfg, on_episode=lambda _: bar.advance(1))
            summary = result.summary()
            store_episodes(self.root, f"{label}__{phase}__{split}", result.episodes)
            for name in self.labels(method) if phase == "before_rl" else [label]:
                self.results.append({"warmstart": name, "phase": phase, **summary})
                self.tracker.log({k: v for k, v in summary.items()
                                  if isinstance(v, (int, float))},
                                 0 if phase == "before_rl" else 1, f"eval/{name}/{split}")
            lo, hi = summary["success_ci"]
            self.say(f"[4/4] {label} {phase} {split}: success {summary['success']:.1%} "
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
        for label in (name for method in self.cfg.methods for name in self.labels(method)):
            cells = [_cell(self._find(label, phase, split)) for split, phase in columns]
            table.add_row(label.upper(), *cells)
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


def _reflects(method: str) -> bool:
    """Whether `method` trains on reflections, so that its checkpoint can act reflecting
    first (`eval.reflect_first`, `rl.reflect_first`; the others never saw `Reflection:`)."""
    return warmstart_methods.get(method).reflects


def _within(part: EnvConfig, whole: EnvConfig) -> bool:
    """`part` names `whole`'s env and sets none of its keys otherwise."""
    return part.name == whole.name and all(
        getattr(whole, block).get(key, object()) == value
        for block in ("kwargs", "prompt") for key, value in getattr(part, block).items())


def store_episodes(run_dir: Path, name: str, episodes) -> None:
    """`run_dir/episodes/<name>.jsonl`: task, seed and outcome of each evaluation episode,
    so that comparisons can pair methods episode by episode (the same task and seed)."""
    import json
    import os

    path = run_dir / "episodes" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps({"task_id": e.task_id, "seed": e.seed,
                                       "success": bool(e.success), "score": float(e.score),
                                       "length": e.length}) + "\n" for e in episodes))
    os.replace(tmp, path)


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
