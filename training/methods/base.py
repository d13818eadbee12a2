"""What a warm-start method is, and the two update budgets every method is trained under.

A method (one module in this package, one config in `configs/method/`) names the
datasets it trains on and turns them into `Stage`s, each trained in turn with TRL's
`SFTTrainer`. How many updates a stage gets is the budget's decision, never the
method's, so that one rule covers every method:

    paper           the paper's protocol (its training configs): a world-model stage is
                    one epoch of its data; an imitation stage trains for the IL number
                    of epochs over its rows (IL: `train.steps` updates; IL + reflections:
                    proportionally more), so IWM and SR see more updates than IL
    equal_updates   the controlled ablation: every method spends `train.steps` updates;
                    a world-model stage takes one epoch but at most half of them, the
                    imitation stage that follows gets the rest
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from datasets import Dataset, concatenate_datasets

if TYPE_CHECKING:
    from earlyexp.training.warmstart import WarmstartConfig

#: Lazy builders of the datasets a method may train on: "il", "iwm", "sr".
DataBuilders = dict[str, Callable[[], Dataset]]


@dataclass
class Stage:
    name: str
    dataset: Dataset
    steps: int


@dataclass(frozen=True)
class Method:
    """A warm-start objective: the datasets it trains on and how they become stages."""

    name: str
    summary: str                                   # one line for --help and reports
    data: tuple[str, ...]                          # datasets trained on (tokenizer built from)
    stages: Callable[[DataBuilders, WarmstartConfig], list[Stage]]
    reflects: bool = False                         # reflects on alternatives: needs collect.k >= 1


@dataclass(frozen=True)
class Budget:
    """Updates per stage. `world_model(rows, cfg)`: a world-model stage over `rows`;
    `imitation(rows, il_rows, spent, cfg)`: an imitation stage over `rows` (of which
    `il_rows` are the plain IL data) after `spent` updates of earlier stages."""

    name: str
    rule: str                                      # the rule in words (warmstart.json, report)
    world_model: Callable[[int, WarmstartConfig], int]
    imitation: Callable[[int, int, int, WarmstartConfig], int]


def one_epoch(rows: int, cfg: WarmstartConfig) -> int:
    return max(1, math.ceil(rows / cfg.train.batch_size))


def il_epochs(rows: int, il_rows: int, spent: int, cfg: WarmstartConfig) -> int:
    # IL runs steps·batch/il_rows epochs; the same epochs over `rows` take steps·rows/il_rows
    return math.ceil(cfg.train.steps * rows / max(1, il_rows))


def at_most_half(rows: int, cfg: WarmstartConfig) -> int:
    return max(1, min(one_epoch(rows, cfg), cfg.train.steps // 2))


def the_rest(rows: int, il_rows: int, spent: int, cfg: WarmstartConfig) -> int:
    return max(0, cfg.train.steps - spent)


BUDGETS: dict[str, Budget] = {
    "paper": Budget("paper", "world-model stage: one epoch of its data; imitation stage: the "
                    "IL number of epochs over its rows (IL = train.steps updates)",
                    one_epoch, il_epochs),
    "equal_updates": Budget("equal_updates", "every method train.steps updates in total; a "
                            "world-model stage one epoch but at most half of them, imitation "
                            "the rest", at_most_half, the_rest),
}


def budget_of(cfg: WarmstartConfig) -> Budget:
    return BUDGETS[cfg.budget]


def mix(a: Dataset, b: Dataset, seed: int) -> Dataset:
    """`a` and `b` shuffled together (one stage over both)."""
    return concatenate_datasets([a, b]).shuffle(seed=seed)


def world_model_stage(data: DataBuilders, cfg: WarmstartConfig) -> Stage:
    """The next-observation stage shared by the world-model methods."""
    iwm = data["iwm"]()
    return Stage("iwm", iwm, budget_of(cfg).world_model(len(iwm), cfg))


def reflection_stage(data: DataBuilders, cfg: WarmstartConfig, spent: int = 0) -> Stage:
    """Reflections + expert actions mixed with the plain IL data, under the budget."""
    sr, il = data["sr"](), data["il"]()
    rows = mix(sr, il, cfg.train.seed)
    return Stage("sr+il", rows, budget_of(cfg).imitation(len(rows), len(il), spent, cfg))
