"""Warm-start methods as a registry (one module + one config each) and the two budgets,
their update counts re-derived by hand from the dataset sizes."""
from __future__ import annotations

import json
import math
from collections import Counter
from importlib.resources import files

import pytest

from earlyexp.errors import ConfigError
from earlyexp.training import methods
from earlyexp.training.config import compose_config, load_config
from earlyexp.training.warmstart import WarmstartConfig, datasets_for, warmstart

from .conftest import warmstart_config

STEPS, BATCH = 20, 8


def test_every_method_has_one_module_and_one_config():
    configs = {p.name[:-5] for p in files("earlyexp.configs").joinpath("method").iterdir()
               if p.name.endswith(".yaml")}
    assert set(methods.registry()) == configs >= {"il", "iwm", "sr", "iwm_sr"}
    for name in configs:
        assert compose_config("warmstart", [f"method={name}"]).method == name
    assert compose_config("warmstart", []).method == "il"


def test_unknown_method_and_budget_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="iwm_sr.*Did you mean 'iwm_sr'"):
        methods.get("iwmsr")
    with pytest.raises(ConfigError, match="budget.*equal_updates"):
        load_config("warmstart", ["budget=equal"], WarmstartConfig)


def sizes(cfg) -> dict[str, int]:
    data = datasets_for(cfg)
    return {name: len(data[name]()) for name in ("il", "iwm", "sr")}


def expected_steps(method: str, budget: str, n: dict[str, int]) -> list[int]:
    """The budgets written out: paper = one world-model epoch, then the IL number of
    epochs (STEPS·BATCH/il rows) over the imitation rows; equal_updates = STEPS in all."""
    epoch = math.ceil(n["iwm"] / BATCH)
    il_epochs_over = lambda rows: math.ceil(STEPS * BATCH * rows / n["il"] / BATCH)  # noqa: E731
    if budget == "paper":
        return {"il": [STEPS], "iwm": [epoch, STEPS], "sr": [il_epochs_over(n["sr"] + n["il"])],
                "iwm_sr": [epoch, il_epochs_over(n["sr"] + n["il"])]}[method]
    first = max(1, min(epoch, STEPS // 2))
    return {"il": [STEPS], "iwm": [first, STEPS - first], "sr": [STEPS],
            "iwm_sr": [first, STEPS - first]}[method]


@pytest.mark.parametrize("budget", ["paper", "equal_updates"])
@pytest.mark.parametrize("method", ["il", "iwm", "sr", "iwm_sr"])
def test_stage_updates_follow_the_budget(corridor_env, corridor_experience, tmp_path, method,
                                         budget):
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path, method, steps=STEPS)
    cfg.budget = budget
    n = sizes(cfg)
    stages = methods.get(method).stages(datasets_for(cfg), cfg)
    assert [s.steps for s in stages] == expected_steps(method, budget, n)
    if budget == "paper" and method != "il":  # the paper's protocol: more updates than IL
        assert sum(s.steps for s in stages) > STEPS


def test_iwm_sr_is_the_world_model_stage_then_reflections_with_imitation(
        corridor_env, corridor_experience, tmp_path):
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path, "iwm_sr", steps=STEPS)
    data = datasets_for(cfg)
    world, reflect = methods.get("iwm_sr").stages(data, cfg)
    assert (world.name, reflect.name) == ("iwm", "sr+il")
    assert list(world.dataset["completion"]) == list(data["iwm"]()["completion"])
    assert Counter(reflect.dataset["completion"]) == Counter(
        list(data["sr"]()["completion"]) + list(data["il"]()["completion"]))


def test_iwm_sr_trains_and_names_its_budget(corridor_env, corridor_experience, tmp_path):
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path, "iwm_sr", steps=4)
    cfg.budget = "equal_updates"
    cfg.train.batch_size = BATCH
    summary = json.loads((warmstart(cfg) / "warmstart.json").read_text())
    assert summary["method"] == "iwm_sr" and summary["budget"]["name"] == "equal_updates"
    assert [s["name"] for s in summary["stages"]] == ["iwm", "sr+il"]
    assert [s["steps"] for s in summary["stages"]] == [2, 2] and summary["steps"] == 4
    assert all(s["losses"] for s in summary["stages"])


def test_pipeline_takes_any_registered_method_and_checks_alternatives(corridor_env):
    from earlyexp.training.pipeline import CollectSettings, PipelineConfig
    PipelineConfig(env=corridor_env, methods=["il", "iwm_sr"])
    with pytest.raises(ConfigError, match="iwm_sr"):
        PipelineConfig(env=corridor_env, methods=["il", "iwm_sr"], collect=CollectSettings(k=0))
    with pytest.raises(ConfigError, match="budget"):
        PipelineConfig(env=corridor_env, budget="equal")
