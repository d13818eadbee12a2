"""The entropy-collapse experiment: its config, the pipeline's RL variants (one more RL run
per warm-start, e.g. with a collapse mitigation) and the RL block that shows the env and
seed that ran."""
from __future__ import annotations

import json

import numpy as np
import pytest

from earlyexp.errors import ConfigError
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.config import load_config, to_dict
from earlyexp.training.evaluate import EvalConfig
from earlyexp.training.pipeline import CollectSettings, Pipeline, PipelineConfig
from earlyexp.training.rl import RLConfig
from earlyexp.training.warmstart import ModelConfig, TrainConfig

from .conftest import TINY


def pipeline(*overrides: str) -> PipelineConfig:
    return load_config("pipeline", list(overrides), PipelineConfig)


# --- the experiment ------------------------------------------------------------------
def test_search_collapse_composes_generate_mode_searchqa_with_a_mitigation():
    cfg = pipeline("experiment=search_collapse")
    assert cfg.env.name == "searchqa" and cfg.methods == ["il", "iwm", "sr"]
    assert (cfg.rl.mode, cfg.eval.mode, cfg.rl.algo) == ("generate", "generate", "grpo")
    assert cfg.run_rl and cfg.rl.policy_loss == "clip" and cfg.rl.entropy_coef == 0
    # "with and without one mitigation": the rl block is the plain loss, a variant mitigates
    assert len(cfg.rl_variants) == 1
    (name, changes), = cfg.rl_variants.items()
    mitigated = cfg.rl_config(name)
    assert mitigated.policy_loss in ("clip_cov", "kl_cov") or mitigated.entropy_coef > 0
    assert {k: getattr(mitigated, k) for k in changes} == changes
    # every other RL key is the rl block's (the comparison isolates the mitigation)
    plain, varied = to_dict(cfg.rl), to_dict(mitigated)
    assert {k for k in plain if plain[k] != varied[k]} == set(changes)
    # what the RL stage runs in: the experiment's env and seed
    assert cfg.rl.env == cfg.env and mitigated.env == cfg.env and mitigated.seed == cfg.seed
    # the search agent sees no menu of actions (searchqa's menu holds the expert's action)
    assert cfg.env.prompt["show_admissible"] is False


def test_search_collapse_seeds_run_as_compare_cells():
    compare = pytest.importorskip("earlyexp.training.compare")  # `earlyexp compare`'s module
    CompareConfig, plan = compare.CompareConfig, compare.plan

    overrides = ["experiment=search_collapse", "compare.families=[searchqa]",
                 "compare.seeds=[0,1,2]", "compare.world_model=false"]
    cells = plan(load_config("compare", overrides, CompareConfig), overrides[:1])
    assert [(c.key, c.pipelines[0].seed, c.pipelines[0].rl.seed) for c in cells] == \
        [(f"searchqa/seed{s}", s, s) for s in (0, 1, 2)]
    assert all(c.pipelines[0].rl_variants == cells[0].pipelines[0].rl_variants for c in cells)


# --- the rl block shows what ran ----------------------------------------------------
def test_rl_block_takes_the_pipelines_env_and_seed():
    cfg = pipeline("env=searchqa", "seed=3")
    shown = to_dict(cfg)["rl"]
    assert shown["env"]["name"] == "searchqa" and shown["seed"] == 3
    assert shown["env"] == to_dict(cfg)["env"]
    assert pipeline("env=searchqa", "rl.env.name=searchqa").rl.env.name == "searchqa"
    assert pipeline("seed=3", "rl.seed=3").rl.seed == 3


@pytest.mark.parametrize("overrides, key", [
    (["env=searchqa", "rl.env.name=textworld", "+rl.env.kwargs.num_train=5"], "rl.env"),
    (["env=searchqa", "rl.env.name=household"], "rl.env"),
    (["seed=3", "rl.seed=4"], "rl.seed"),
])
def test_a_different_rl_env_or_seed_is_refused(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as e:
        pipeline(*overrides)
    assert e.value.key == key


# --- RL variants: refused before any work ---------------------------------------------
@pytest.mark.parametrize("variants, key", [
    ("{x:{policy_los:clip_cov}}", "rl_variants.x.policy_los"),     # unknown key, suggested
    ("{x:{policy_loss:clop}}", "rl_variants.x.policy_loss"),       # RLConfig's own check
    ("{x:{iterations:abc}}", "rl_variants.x.iterations"),          # type
    ("{x:{seed:3}}", "rl_variants.x.seed"),                        # the pipeline sets it
    ("{x:{init:/ckpt}}", "rl_variants.x.init"),
    ("{x:{}}", "rl_variants.x"),                                   # repeats the rl block
    ("{x:{max_new_tokens:9}}", "data.max_new_tokens"),             # the one length budget
    ("{x/y:{kl_coef:0.1}}", "rl_variants"),                        # not a path-safe name
])
def test_bad_rl_variants_are_refused(variants, key):
    with pytest.raises(ConfigError) as e:
        pipeline(f"++rl_variants={variants}")  # ++: keys the (empty) default lacks
    assert e.value.key == key
    if key.endswith("policy_los"):
        assert "Did you mean 'policy_loss'" in str(e.value)


# --- the variant mechanism end to end -------------------------------------------------
def _tiny(corridor_env: EnvConfig, run_dir, seed: int) -> PipelineConfig:
    return PipelineConfig(
        env=corridor_env, seed=seed, run_dir=str(run_dir), methods=["il"],
        collect=CollectSettings(num_tasks=4, k=1, num_workers=0),
        model=ModelConfig(tiny=TINY), train=TrainConfig(steps=3, batch_size=4, logging_steps=1),
        rl=RLConfig(init="(set per warm-start)", iterations=2, tasks_per_iteration=2,
                    group_size=2, num_tasks=4, minibatch_size=8, checkpoint_every=1),
        rl_variants={"kl_cov": {"policy_loss": "kl_cov", "kl_cov_ratio": 0.5}},
        eval=EvalConfig(num_tasks=3))


@pytest.mark.slow
def test_variants_run_per_warmstart_and_report_as_mitigations_banded_over_seeds(
        corridor_env, tmp_path):
    from earlyexp.training.report import load_run
    from earlyexp.training.report_collapse import collapse_table, grouped

    dirs = [tmp_path / f"seed{s}" for s in (0, 1)]
    for seed, run_dir in enumerate(dirs):
        Pipeline(_tiny(corridor_env, run_dir, seed)).run()

    run_dir = dirs[0]
    stages = {json.loads(line)["stage"] for line in (run_dir / "metrics.jsonl").open()}
    assert {"rl/il", "rl/il+kl_cov", "eval/il/test", "eval/il+kl_cov/test"} <= stages
    ran = {label: json.loads((run_dir / "rl" / label / "final" / "rl.json").read_text())["config"]
           for label in ("il", "il+kl_cov")}
    assert (ran["il"]["policy_loss"], ran["il+kl_cov"]["policy_loss"]) == ("clip", "kl_cov")
    assert ran["il+kl_cov"]["kl_cov_ratio"] == 0.5 and ran["il"]["kl_cov_ratio"] == 2e-4
    for cfg in ran.values():  # both start from the one warm-start, in the pipeline's env
        assert cfg["init"] == str(run_dir / "warmstart" / "il") and cfg["env"]["name"] == "corridor"
        assert cfg["iterations"] == 2 and cfg["seed"] == 0

    record = json.loads((run_dir / "run.json").read_text())
    rows = {(r["warmstart"], r["phase"]): r for r in record["results"]}
    assert set(rows) == {(w, p) for w in ("il", "il+kl_cov") for p in ("before_rl", "after_rl")}
    before = {k: v for k, v in rows["il", "before_rl"].items() if k != "warmstart"}
    assert {k: v for k, v in rows["il+kl_cov", "before_rl"].items() if k != "warmstart"} == before
    assert record["config"]["rl"]["env"]["name"] == "corridor"  # the config section's fix
    stages_timed = [row["stage"] for row in record["stage_seconds"]]
    assert stages_timed.index("RL from il") < stages_timed.index("RL from il+kl_cov") < \
        stages_timed.index("evaluate il+kl_cov after rl test")

    runs = [load_run(d) for d in dirs]
    groups = grouped(runs)  # two seeds of each setting: one band each
    assert {key: len(members) for key, members in groups.items()} == \
        {("corridor", "il", "none"): 2, ("corridor", "il+kl_cov", "kl_cov"): 2}
    _, table = collapse_table(runs)
    assert sorted((row[1], row[2]) for row in table) == \
        sorted([("il", "none"), ("il+kl_cov", "kl_cov")] * 2)


def test_a_fit_where_success_rises_with_entropy_is_not_given_a_ceiling():
    from earlyexp.experience.collapse import fit_collapse
    from earlyexp.training.report_collapse import _ceiling_note

    h = np.linspace(0.5, 1.6, 8)
    rising = fit_collapse(h, 0.02 * np.exp(h) - 0.01)       # R = +0.02·e^H - 0.01: a = -0.02
    assert rising.ok and rising.a == pytest.approx(-0.02)
    assert _ceiling_note(rising).startswith("a <= 0")
    falling = fit_collapse(h, -0.05 * np.exp(h) + 0.5)      # a = 0.05, ceiling 0.45
    assert falling.ok and falling.ceiling == pytest.approx(0.45) and _ceiling_note(falling) == ""
    beyond = fit_collapse(h, -0.5 * np.exp(h) + 3.0)        # ceiling 2.5: not a rate
    assert _ceiling_note(beyond).startswith("ceiling outside")
