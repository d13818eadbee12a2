"""The pipeline's collect settings, the one length budget, the base model from the data
the requested methods need, and resuming only what was built with the settings asked for."""
from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from earlyexp.errors import ConfigError
from earlyexp.experience.collect import CollectConfig, collect
from earlyexp.training.config import load_config
from earlyexp.training.evaluate import EvalConfig
from earlyexp.training.pipeline import CollectSettings, Pipeline, PipelineConfig
from earlyexp.training.warmstart import ModelConfig, TrainConfig, base_model_path, datasets_for

from .conftest import TINY, warmstart_config


def pipeline(*overrides: str) -> PipelineConfig:
    return load_config("pipeline", list(overrides), PipelineConfig)


def test_collect_settings_carry_policy_path_and_temperature():
    cfg = pipeline("collect.sampler=policy", "collect.policy_path=/ckpt", "collect.temperature=0.7")
    collect_cfg = cfg.collect_config("/out", cfg.collect.policy_path)
    assert (collect_cfg.sampler, collect_cfg.policy_path, collect_cfg.temperature) == \
        ("policy", "/ckpt", 0.7)
    expert_only = cfg.collect_config("/expert", k=0)  # the IL proposer's data
    assert expert_only.k == 0 and expert_only.sampler == "uniform"


@pytest.mark.parametrize("overrides, key", [
    (["collect.k=0"], "collect.k"),                                  # sr needs alternatives
    (["data.max_length=512"], "data.max_length"),                    # not the model's context
    (["eval.max_new_tokens=32"], "data.max_new_tokens"),             # two budgets
    (["collect.sampler=beam"], "sampler"),
])
def test_refused_before_any_work(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        pipeline(*overrides)


def test_k0_without_sr_is_accepted():
    assert pipeline("collect.k=0", "methods=[il,iwm]").collect.k == 0


def test_base_model_is_built_from_the_requested_methods_data_only(corridor_env, tmp_path):
    experience = tmp_path / "expert_only"
    collect(CollectConfig(env=corridor_env, k=0, num_workers=0, out_dir=str(experience)))
    cfg = warmstart_config(corridor_env, experience, tmp_path / "il")
    with pytest.raises(Exception, match="SR dataset is empty"):
        datasets_for(cfg)["sr"]()  # what used to kill the run at k=0
    path = base_model_path(cfg, ["il", "iwm"])
    record = json.loads((path / "tiny_model.json").read_text())
    assert record["built_from"] == ["il", "iwm"]
    assert (path / "config.json").exists() and (path / "tokenizer.json").exists()


def test_an_empty_mapping_override_that_would_be_ignored_is_refused():
    # experiment=search_collapse fills rl_variants; `rl_variants={}` merges nothing into it
    with pytest.raises(ConfigError, match=r"'~rl_variants\.clip_cov'") as err:
        pipeline("experiment=search_collapse", "rl_variants={}")
    assert err.value.key == "rl_variants"
    assert pipeline("experiment=search_collapse", "~rl_variants.clip_cov").rl_variants == {}
    assert pipeline("rl_variants={}").rl_variants == {}  # nothing to ignore: accepted


def _il_only(corridor_env, run_dir, **changes) -> PipelineConfig:
    cfg = PipelineConfig(env=corridor_env, run_dir=str(run_dir), methods=["il"], run_rl=False,
                         collect=CollectSettings(num_tasks=4, k=1, num_workers=0),
                         model=ModelConfig(tiny=TINY), train=TrainConfig(steps=3, batch_size=4),
                         eval=EvalConfig(num_tasks=2))
    return dataclasses.replace(cfg, **changes)


def test_a_resumed_run_refuses_settings_its_outputs_were_not_built_with(corridor_env, tmp_path):
    run = tmp_path / "run"
    Pipeline(_il_only(corridor_env, run)).run()
    # The stored warm-start (3 updates) would be reused and train.steps=5 ignored.
    with pytest.raises(ConfigError, match=r"train\.steps: built with 3, asked for 5.*run_dir") as err:
        Pipeline(_il_only(corridor_env, run, train=TrainConfig(steps=5, batch_size=4))).run()
    assert (err.value.key, err.value.value) == ("train.steps", 5)
    with pytest.raises(ConfigError) as err:
        Pipeline(_il_only(corridor_env, run, budget="equal_updates")).run()
    assert (err.value.key, err.value.value) == ("budget", "equal_updates")
    # Every key that differs is named at once, with what it was built with.
    with pytest.raises(ConfigError) as err:
        Pipeline(_il_only(corridor_env, run, budget="equal_updates",
                          train=TrainConfig(steps=5, batch_size=4))).run()
    assert err.value.differences == {"budget": ("paper", "equal_updates"),
                                     "train.steps": (3, 5)}
    # The stored base model (2 layers) would be reused: refused before collection resumes.
    deeper = ModelConfig(tiny=dataclasses.replace(TINY, num_layers=3))
    with pytest.raises(ConfigError) as err:
        Pipeline(_il_only(corridor_env, run, model=deeper)).run()
    assert (err.value.key, err.value.value) == ("model.tiny.num_layers", 3)
    # Moving the run directory or logging more often changes nothing that was learnt.
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    Pipeline(_il_only(corridor_env, moved,
                      train=TrainConfig(steps=3, batch_size=4, logging_steps=1))).run()
    stages = json.loads((moved / "run.json").read_text())["stage_seconds"]
    assert {row["stage"]: row["note"] for row in stages}["warm-start il"] == \
        "resumed: already trained"
