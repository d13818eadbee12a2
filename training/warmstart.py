"""Warm-start training: imitation (IL), implicit world modeling (IWM), self-reflection (SR)
and any other objective registered in `training/methods/` (one module + one config each).

A method turns its datasets into `Stage`s, each trained with TRL's `SFTTrainer`
(completion-only loss); `budget` decides each stage's updates (`methods/base.py`):

    paper          (default) the paper's protocol: IWM = one epoch of world-model data,
                   then the IL schedule unchanged; SR = expert + reflections for the IL
                   number of epochs; IL = `train.steps` updates
    equal_updates  every method `train.steps` updates: a world-model stage at most half
                   of them, imitation the rest

The result is a plain Hugging Face checkpoint directory plus `warmstart.json`
(method, budget, data sizes, stages with their steps and losses, config, throughput, and
the compute it ran with: precision and why, gradient checkpointing, threads).

Compute: TRL's `SFTConfig` defaults to bf16 and gradient checkpointing; both are set
here explicitly. Precision follows `train.precision` (see `precision.py`: bf16 only
where the device has it natively); gradient checkpointing is off unless
`train.gradient_checkpointing=true`, since it recomputes activations to save memory
that the small models this runs on do not need.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from datasets import Dataset

from earlyexp import threads
from earlyexp.agents.prompts import LengthBudget
from earlyexp.agents.tiny_model import TinyModelConfig
from earlyexp.errors import ConfigError, ResumeMismatchError
from earlyexp.experience.collect import EnvConfig
from earlyexp.experience.datasets import (
    fit_to_length, il_dataset, iwm_dataset, reflect_all, select_tasks, sr_dataset,
)
from earlyexp.experience.reflection import REFLECTORS
from earlyexp.experience.storage import ExperienceStore
from earlyexp.training import methods
from earlyexp.training.config import flatten
from earlyexp.training.methods import BUDGETS, Stage
from earlyexp.training.precision import PRECISIONS, Precision, choose_precision

#: The registered warm-start methods (training/methods/), the paper's three first.
METHODS = methods.names()


DEVICES = ("auto", "cpu", "cuda")


@dataclass
class ModelConfig:
    path: str | None = None                # local HF checkpoint; null = embedded tiny model
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    lora: dict[str, Any] | None = None     # peft LoraConfig kwargs: train adapters only
    device: str = "auto"                   # auto (cuda if available) | cpu | cuda

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ConfigError("model.device", self.device, f"must be one of {list(DEVICES)}")
        if self.device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise ConfigError("model.device", "cuda", "no CUDA device is visible here; "
                                  "use model.device=cpu or auto")
        if self.lora is not None:
            lora_config(self.lora)  # refuses unknown keys and bad values now


def lora_config(kwargs: dict[str, Any]):
    """`peft.LoraConfig(**kwargs)` for a causal LM, or ConfigError naming `model.lora`."""
    from peft import LoraConfig, TaskType

    known = {f.name for f in dataclasses.fields(LoraConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        from earlyexp.errors import closest
        raise ConfigError(f"model.lora.{unknown[0]}", kwargs[unknown[0]],
                          f"not a peft LoraConfig field.{closest(unknown[0], known)}")
    for key, (ok, rule) in LORA_RULES.items():  # peft itself checks none of these
        if key in kwargs and not ok(kwargs[key]):
            raise ConfigError(f"model.lora.{key}", kwargs[key], rule)
    try:
        return LoraConfig(**{"task_type": TaskType.CAUSAL_LM, **kwargs})
    except (TypeError, ValueError) as e:
        raise ConfigError("model.lora", kwargs, f"peft refused it: {e}") from e


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


LORA_RULES = {
    "r": (lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 1,
          "the adapter rank: an integer >= 1"),
    "lora_alpha": (lambda x: _number(x) and x > 0, "a number > 0 (the update is scaled by "
                                                   "lora_alpha / r)"),
    "lora_dropout": (lambda x: _number(x) and 0 <= x < 1, "a probability in [0, 1)"),
}


def apply_lora(model, kwargs: dict[str, Any]):
    """Wrap `model` so that only LoRA adapter weights train (merged back before saving)."""
    from peft import get_peft_model
    return get_peft_model(model, lora_config(dict(kwargs)))


def training_device(cfg: WarmstartConfig) -> str:
    """"cuda" or "cpu": `model.device`, with auto = cuda where one is visible."""
    if cfg.model.device != "auto":
        return cfg.model.device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class DataConfig:
    expert_fraction: float = 1.0           # fraction of expert trajectories used, in (0, 1]
    k: int | None = None                   # alternatives per state used; null = stored K
    reflector: str = "template"            # template | llm
    iwm_schedule: str = "sequential"       # sequential | mixed
    max_length: int | None = None          # tokens of prompt + completion; null = model context
    max_new_tokens: int = 24               # room kept for an action (= eval/rl max_new_tokens)

    def __post_init__(self):
        if not 0 < self.expert_fraction <= 1:
            raise ConfigError("data.expert_fraction", self.expert_fraction, "must be in (0, 1]")
        if self.reflector not in REFLECTORS:
            raise ConfigError("data.reflector", self.reflector, f"must be one of {list(REFLECTORS)}")
        if self.iwm_schedule not in ("sequential", "mixed"):
            raise ConfigError("data.iwm_schedule", self.iwm_schedule, "must be sequential or mixed")
        if self.max_length is not None and self.max_length < 16:
            raise ConfigError("data.max_length", self.max_length,
                              "must be >= 16, or null for the model's context")
        if self.max_new_tokens < 1:
            raise ConfigError("data.max_new_tokens", self.max_new_tokens, "must be >= 1")


@dataclass
class TrainConfig:
    steps: int = 300                       # IL's optimizer updates (budget decides the others')
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05             # linear warm-up over this fraction of a stage's updates
    weight_decay: float = 0.0
    seed: int = 0
    logging_steps: int = 10
    precision: str = "auto"                # auto (bf16 where native, else fp32) | fp32 | bf16
    gradient_checkpointing: bool = False   # recompute activations: less memory, more time
    # Also train on the prompt's tokens (observations, goal), not only the completion's.
    # Off, as in the paper; on, a small model practises copying what it reads (searchqa's
    # names and years). It makes every method partly a world model: compare like with like.
    prompt_loss: bool = False

    def __post_init__(self):
        for key in ("steps", "batch_size", "logging_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key}", getattr(self, key), "must be >= 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("train.warmup_ratio", self.warmup_ratio,
                              "a fraction of each stage's updates, in [0, 1)")
        if self.precision not in PRECISIONS:
            raise ConfigError("train.precision", self.precision, f"must be one of {PRECISIONS}")
        if self.learning_rate <= 0:
            raise ConfigError("train.learning_rate", self.learning_rate, "must be > 0")


@dataclass
class WarmstartConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    method: str = "il"                     # a module of training/methods/ (method=<name>)
    budget: str = "paper"                  # paper (IWM/SR train longer, as the paper) | equal_updates
    experience_dir: str = "runs/experience"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out_dir: str = "runs/warmstart"

    def __post_init__(self):
        methods.get(self.method)  # ConfigError naming `method` and the choices
        check_budget(self.budget)


def check_budget(budget: str, key: str = "budget") -> None:
    if budget not in BUDGETS:
        from earlyexp.errors import closest
        raise ConfigError(key, budget, f"must be one of {list(BUDGETS)}.{closest(budget, BUDGETS)}")


#: method name -> its stages function (the registry's, kept for callers by name)
METHOD_STAGES = {name: m.stages for name, m in methods.registry().items()}


# --- data --------------------------------------------------------------------------
def datasets_for(cfg: WarmstartConfig, reflector=None, budget: LengthBudget | None = None
                 ) -> dict[str, Callable[[], Dataset]]:
    """Lazy builders of the IL / IWM / SR datasets from the experience directory, each row
    fitted to `budget` (None: rendered whole, as the tiny tokenizer is trained on)."""
    transitions = select_tasks(ExperienceStore(cfg.experience_dir).transitions(),
                               cfg.data.expert_fraction, cfg.train.seed)
    fmt = cfg.env.prompt_format()

    def sr() -> Dataset:
        chosen = reflector or REFLECTORS[cfg.data.reflector]()
        return sr_dataset(reflect_all(transitions, chosen, cfg.data.k), fmt, budget)

    return {"il": lambda: il_dataset(transitions, fmt, budget),
            "iwm": lambda: iwm_dataset(transitions, fmt, cfg.data.k, budget),
            "sr": sr}


#: The datasets each method trains on (what the tiny base model's tokenizer is built from).
METHOD_DATA = {name: m.data for name, m in methods.registry().items()}


def length_budget(cfg: WarmstartConfig, tokenizer, model_config) -> LengthBudget:
    """The one length budget: the model's context (`max_position_embeddings`) with
    `data.max_new_tokens` kept for the action, as evaluation and RL
    keep `max_new_tokens`; IL prompts thus get exactly the room an acting agent's prompts get.
    `data.max_length` may only restate the context: a shorter one would train on a view of a
    state that the agent never acts on."""
    context = getattr(model_config, "max_position_embeddings", None) or 2048
    if cfg.data.max_length not in (None, context):
        raise ConfigError("data.max_length", cfg.data.max_length,
                          f"must be null or the model's context ({context} positions): evaluation "
                          "and RL render prompts for that context, so training rows must too. "
                          "For shorter sequences, use a model with a shorter context "
                          "(model.tiny.max_positions)")
    return LengthBudget.for_tokenizer(tokenizer, context, cfg.data.max_new_tokens)


# --- training ----------------------------------------------------------------------
def base_model_path(cfg: WarmstartConfig, methods: tuple[str, ...] | list[str] | None = None
                    ) -> Path:
    """The starting checkpoint: `model.path`, or the tiny model built once per experience dir,
    its tokenizer trained on the data `methods` train on (default: `cfg.method`'s; the
    pipeline passes all of its methods, so no dataset a run does not need is built)."""
    if cfg.model.path:
        return Path(cfg.model.path)
    path = Path(cfg.experience_dir) / "base_model"
    check_base_model(path, cfg.model)
    if not (path / "config.json").exists():
        from earlyexp.agents.tiny_model import create_tiny_model
        data = datasets_for(cfg)
        names = dict.fromkeys(n for m in (methods or [cfg.method]) for n in METHOD_DATA[m])
        texts = []
        for name in names:
            ds = data[name]()
            texts += [p + c for p, c in zip(ds["prompt"], ds["completion"])]
        create_tiny_model(texts, path, cfg.model.tiny, built_from=list(names))
    return path


def check_base_model(path: Path, model: ModelConfig) -> None:
    """Refuse a tiny base model already built at `path` with other `model.tiny` sizes: it
    would be reused, and the sizes the user typed silently ignored."""
    record = path / "tiny_model.json"
    if model.path or not record.exists():
        return
    built = {"model": {"tiny": json.loads(record.read_text())}}
    refuse_changed_settings(built, {"model": {"tiny": dataclasses.asdict(model.tiny)}},
                            f"the base model in {path}")


#: Keys that do not change what a warm-start learns: paths (a run directory may be moved
#: or copied), the device, logging, and memory-for-time trades.
NOT_LEARNT = frozenset({"experience_dir", "out_dir", "model.device", "train.logging_steps",
                        "train.gradient_checkpointing"})
#: Keys whose null warmstart() resolves before recording them (to the model's context).
RESOLVED_FROM_NULL = frozenset({"data.max_length"})


def refuse_changed_settings(built: dict[str, Any], current: dict[str, Any], what: str) -> None:
    """Refuse to resume `what` when settings it was built with differ from the ones asked
    for now (ResumeMismatchError naming every one): resuming would silently ignore the new
    values. Keys one side lacks (a schema older or newer than the other) are not compared."""
    now = flatten(json.loads(json.dumps(current)))
    differences = {key: (old, now[key]) for key, old in flatten(built).items()
                   if key in now and now[key] != old and key not in NOT_LEARNT
                   and not (now[key] is None and key in RESOLVED_FROM_NULL)}
    if differences:
        raise ResumeMismatchError(what, differences)


def training_precision(cfg: WarmstartConfig) -> Precision:
    """The precision this machine trains `cfg` in (refuses bf16 where it is not native)."""
    return choose_precision(cfg.train.precision, training_device(cfg))


def train_stage(model, tokenizer, stage: Stage, cfg: WarmstartConfig, out_dir: Path,
                precision: Precision, callbacks: tuple = ()) -> dict[str, Any]:
    """Train `model` on one stage; `callbacks` are extra transformers TrainerCallbacks."""
    import datasets
    import torch
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()  # the pipeline prints its own progress
    hf_logging.disable_progress_bar()

    args = SFTConfig(
        output_dir=str(out_dir / "trainer"), max_steps=stage.steps,
        per_device_train_batch_size=cfg.train.batch_size, learning_rate=cfg.train.learning_rate,
        # the ratio as whole steps: transformers 4 reads a float warmup_steps as steps, 5 as
        # a ratio; an int means the same in both (and ceil is how both round a ratio)
        warmup_steps=math.ceil(cfg.train.warmup_ratio * stage.steps),
        weight_decay=cfg.train.weight_decay, lr_scheduler_type="cosine",
        # at least one logged loss per stage, however short
        logging_steps=min(cfg.train.logging_steps, stage.steps), save_strategy="no",
        report_to=[], seed=cfg.train.seed, completion_only_loss=not cfg.train.prompt_loss,
        max_length=cfg.data.max_length, use_cpu=training_device(cfg) == "cpu",
        dataloader_num_workers=0, disable_tqdm=True, include_num_input_tokens_seen=True,
        bf16=precision.bf16, fp16=False,  # explicit: TRL defaults bf16 to on
        **_checkpointing(SFTConfig, cfg.train.gradient_checkpointing),
    )
    dataset = fit_to_length(rows_drawn(stage, cfg), tokenizer, cfg.data.max_length)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)  # losses go to warmstart.json and the tracker
    for callback in (*callbacks, _rebalance_threads()):
        trainer.add_callback(callback)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    rates = [log["learning_rate"] for log in trainer.state.log_history if "learning_rate" in log]
    tokens = trainer.state.num_input_tokens_seen or 0
    # What the trainer really ran with (after TRL's own defaults), for warmstart.json.
    ran = {"bf16": bool(args.bf16), "fp16": bool(args.fp16),
           "gradient_checkpointing": any(getattr(m, "gradient_checkpointing", False) is True
                                         for m in model.modules()),
           "threads": torch.get_num_threads()}
    return {"name": stage.name, "examples": len(stage.dataset), "steps": stage.steps,
            "losses": losses, "learning_rates": rates, "seconds": seconds,
            "input_tokens": tokens, "ran_with": ran}


def rows_drawn(stage: Stage, cfg: WarmstartConfig) -> Dataset:
    """The rows a stage trains on. The trainer draws `steps × batch_size` rows at random
    without replacement (more: whole epochs); when a stage has more rows than that (a
    world-model stage under equal_updates), the same uniform draw is made here, so that
    only those rows are fitted and tokenised (the search-collapse IWM stage: 19,200 of
    108,000 rows; fitting and tokenising all of them took ~190 s of a shared core).
    Which rows are drawn changes, not how: a uniform draw either way."""
    drawn = stage.steps * cfg.train.batch_size
    if len(stage.dataset) <= drawn:
        return stage.dataset
    return stage.dataset.shuffle(seed=cfg.train.seed).select(range(drawn))


def _rebalance_threads():
    """A callback that re-reads this run's thread share before every step (another run
    on the machine may have started or ended: earlyexp/threads.py)."""
    from transformers import TrainerCallback

    class RebalanceThreads(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            threads.rebalance()

    return RebalanceThreads()


def _checkpointing(config_class, on: bool) -> dict[str, bool]:
    """Gradient checkpointing set explicitly (TRL defaults it to on), under both its
    names: transformers 5 calls it `activation_checkpointing` and warns on the old one."""
    import dataclasses
    names = {f.name for f in dataclasses.fields(config_class)}
    return {name: on for name in ("gradient_checkpointing", "activation_checkpointing")
            if name in names}


def warmstart(cfg: WarmstartConfig, reflector=None) -> Path:
    """Train `cfg.method` from the base model; returns the checkpoint directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from earlyexp.training.config import to_dict

    start = time.perf_counter()
    precision = training_precision(cfg)  # refused here, before any data is built
    thread_count = threads.apply(threads.total_threads())
    base = base_model_path(cfg)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    if cfg.model.lora is not None:
        model = apply_lora(model, cfg.model.lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    budget = length_budget(cfg, tokenizer, model.config)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data,
                                                            max_length=budget.max_positions))
    data = datasets_for(cfg, reflector, budget)
    stages = methods.get(cfg.method).stages(data, cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = [train_stage(model, tokenizer, stage, cfg, out, precision)
               for stage in stages if stage.steps]
    if cfg.model.lora is not None:  # a plain checkpoint: evaluation and RL load it as is
        model = model.merge_and_unload()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {
        "method": cfg.method, "base_model": str(base),
        "budget": {"name": cfg.budget, "rule": BUDGETS[cfg.budget].rule},
        "data_sizes": {s.name: len(s.dataset) for s in stages},
        "steps": sum(s.steps for s in stages), "stages": reports,
        "seconds": time.perf_counter() - start, "config": to_dict(cfg),
        "trainable_parameters": trainable, "device": training_device(cfg),
        "compute": {"precision": precision.as_dict(),
                    "gradient_checkpointing": cfg.train.gradient_checkpointing,
                    "threads": thread_count},
    }
    (out / "warmstart.json").write_text(json.dumps(summary, indent=1))
    return out
