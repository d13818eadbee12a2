"""The per-family smoke configs (configs/experiment/smoke/<family>.yaml, README "Per-family
smoke runs"): each composes through Hydra's nested experiment path and passes the
pipeline's validation before any work — no environment is built, nothing is trained."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from earlyexp.training.config import load_config
from earlyexp.training.pipeline import PipelineConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FAMILIES = ["textworld", "household", "scienceworld", "bfcl", "webshop", "searchqa",
            "customer_service", "travel"]


def test_there_is_one_smoke_config_per_family():
    shipped = sorted(p.stem for p in (CONFIGS / "experiment" / "smoke").glob("*.yaml"))
    assert shipped == sorted(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_smoke_config_composes_and_validates(family):
    cfg = load_config("pipeline", [f"experiment=smoke/{family}"], PipelineConfig)
    assert cfg.env.name == family
    # the table's row: IL alone, no RL, on test, next to the expert and random bounds
    assert cfg.methods == ["il"] and cfg.run_rl is False
    assert cfg.eval_splits == ["test"] and cfg.eval.split == "test"
    assert cfg.collect.k == 0  # IL reads only the expert's actions
    # every env key the smoke config sets is one the family's own config documents (Hydra
    # merges unknown keys into env.kwargs silently; the env would refuse them only later)
    smoke = yaml.safe_load((CONFIGS / "experiment" / "smoke" / f"{family}.yaml").read_text())
    documented = yaml.safe_load((CONFIGS / "env" / f"{family}.yaml").read_text())["kwargs"]
    assert set(smoke["env"].get("kwargs", {})) <= set(documented)
    cfg.env.prompt_format()  # the prompt keys are PromptFormat's (raises ConfigError if not)


def test_customer_service_smoke_task_set_generates(tmp_path, monkeypatch):
    """Its sizes once crashed generation (an exchange drawn for a customer whose only
    payment methods were gift cards too small for the price difference): such a draw now
    redraws the customer (before the fix: IndexError from `random.choice([])`)."""
    from earlyexp.envs import make

    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    cfg = load_config("pipeline", ["experiment=smoke/customer_service"], PipelineConfig)
    env = make("customer_service", **cfg.env.kwargs)
    sizes = {split: len(env.tasks(split)) for split in ("train", "test", "ood")}
    assert sizes == {split: cfg.env.kwargs[f"num_{split}"] for split in sizes}
