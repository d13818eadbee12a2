"""The report renders from a small recorded run, compares runs and survives missing data."""
from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pytest
from rich.console import Console

from earlyexp.errors import StoreFormatError
from earlyexp.training.report import (
    FIGURES, build_report, load_run, report_main, wilson_interval, write_run_record,
)
from earlyexp.training.report_collapse import COLLAPSE_FIGURES
from earlyexp.training.tracking import Tracker

ALL_FIGURES = len(FIGURES) + len(COLLAPSE_FIGURES)

HOSTILE = "<script>alert('x')</script>&"
IMG = re.compile(r"<img [^>]*src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


def result(ws: str, phase: str, success: float, split: str = "test") -> dict:
    return {"warmstart": ws, "phase": phase, "split": split, "success": success,
            "success_ci": list(wilson_interval(success * 40, 40)), "episodes": 40, "seeds": 2,
            "score": success, "mean_length": 7.5}


def record_run(run_dir, seed: int = 0, iterations: int = 6, rl: bool = True) -> None:
    """A small run as the pipeline writes it: RL curves through the Tracker, then run.json."""
    config = {"env": "textworld", "note": HOSTILE, "rl": {"iterations": iterations}}
    if rl:
        with Tracker(run_dir, f"textworld__pipeline__{seed}__1", config, echo=False) as tracker:
            for ws, a in (("il", 0.04), ("sr", 0.02)):
                for it in range(iterations):
                    entropy = 1.6 - 0.25 * it
                    tracker.log({"success": -a * math.exp(entropy) + 0.8 + 0.01 * seed,
                                 "entropy": entropy, "vendi": 4.0 - 0.5 * it,
                                 "unique_trajectory_ratio": 1.0 - 0.1 * it, "pass@4": 0.9,
                                 "pass@1": 0.5, "unique_query_ratio": 0.9 - 0.1 * it,
                                 "search_calls_per_episode": 2.0 - 0.2 * it,
                                 "template_entropy": 1.0 - 0.1 * it,
                                 "logp_adv_cov": 0.01 * it - 0.02, "logp_adv_cov/top": 0.3,
                                 "params/changed": 0.1 * it, "params/changed/mlp": 0.05 * it},
                                step=it, stage=f"rl/{ws}")
    results = [result("il", "before_rl", 0.3), result("il", "after_rl", 0.55),
               result("sr", "before_rl", 0.4), result("sr", "after_rl", 0.7),
               result("il", "after_rl", 0.2, split="ood")]
    write_run_record(run_dir, "textworld", seed, config,
                     {"expert_trajectories": 200, "transitions": 1600, HOSTILE: 1}, results)


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in IMG.findall(page)]


def test_report_renders_every_figure_from_a_recorded_run(tmp_path):
    record_run(tmp_path / "run")
    path = build_report([str(tmp_path / "run")])
    assert path == tmp_path / "run" / "report.html"
    page = path.read_text()
    pngs = images(page)
    assert len(pngs) == ALL_FIGURES == page.count("<img ")
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert HOSTILE not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in page
    assert "55.0% [39.8, 69.3]" in page and "+25.0" in page  # il/test after RL and its delta
    md = (tmp_path / "run" / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) == ALL_FIGURES
    assert all((tmp_path / "run" / f).stat().st_size > 1000 for f in linked)
    # the collapse table recovers the synthetic a = 0.04, b = 0.8 of the il curve
    row = next(line for line in md.splitlines()
               if line.startswith("| textworld/seed0 | il | none | entropy | 6 |"))
    assert "| 0.04 | 0.8 | 76.0% |" in row and "the first 3 points give no fit" in row
    assert "Not logged by any RL iteration" not in md
    assert "pass@4" in md and "expert_trajectories" in md and '"iterations": 6' in md


def test_several_runs_give_one_table_and_one_set_of_figures(tmp_path):
    for seed in (0, 1):
        record_run(tmp_path / f"seed{seed}", seed=seed)
    path = build_report([str(tmp_path / "seed0"), str(tmp_path / "seed1")])
    assert path == tmp_path / "report" / "report.html"
    page = path.read_text()
    assert len(images(page)) == ALL_FIGURES
    assert page.count("<h2>Success rates</h2>") == 1
    assert "textworld/seed0" in page and "textworld/seed1" in page
    assert "textworld/0/seed0" not in page      # the directory's name only where needed
    out = Console(record=True, width=200)
    assert report_main(out, [str(tmp_path / "seed0"), str(tmp_path / "seed1"),
                             f"out_dir={tmp_path / 'cmp'}"]) == 0
    assert (tmp_path / "cmp" / "report.html").exists() and "report written" in out.export_text()


def test_runs_sharing_env_and_seed_are_told_apart_by_directory(tmp_path):
    for name in ("base", "ablation", "again/base"):
        record_run(tmp_path / name, seed=2, rl=False)
    path = build_report([str(tmp_path / n) for n in ("base", "ablation", "again/base")],
                        out_dir=tmp_path / "out")
    title = re.search(r"<h1>(.*?)</h1>", path.read_text()).group(1)
    assert title == ("Early-experience report: textworld/seed2/base#1, "
                     "textworld/seed2/ablation, textworld/seed2/base#3")


def test_missing_metrics_omit_figures_with_a_note(tmp_path):
    record_run(tmp_path / "no_rl", rl=False)
    page = build_report([str(tmp_path / "no_rl")], str(tmp_path / "out")).read_text()
    assert len(images(page)) == 1                        # only success before/after RL
    assert page.count("class='note'>") >= ALL_FIGURES - 1
    assert "omitted, no RL iteration logged &#x27;unique_trajectory_ratio&#x27;" in page
    assert "Not logged by any RL iteration: policy_entropy / rl/choice_entropy / entropy" in page

    record_run(tmp_path / "short", iterations=3)
    md = build_report([str(tmp_path / "short")]).with_suffix(".md").read_text()
    assert "needs at least 4 (entropy, success) points, got 3" in md


def test_bad_run_directories_get_clear_errors(tmp_path):
    with pytest.raises(StoreFormatError, match="not a run directory"):
        load_run(tmp_path)
    record_run(tmp_path / "old", rl=False)
    doc = json.loads((tmp_path / "old" / "run.json").read_text())
    (tmp_path / "old" / "run.json").write_text(json.dumps({**doc, "format": 0}))
    with pytest.raises(StoreFormatError, match="format is 0, not 1"):
        build_report([str(tmp_path / "old")])
    del doc["results"][0]["phase"]
    (tmp_path / "old" / "run.json").write_text(json.dumps(doc))
    with pytest.raises(StoreFormatError, match=r"results\[0\] needs 'phase'"):
        load_run(tmp_path / "old")
    (tmp_path / "old" / "run.json").write_text("{not json")
    with pytest.raises(StoreFormatError, match="not valid JSON"):
        load_run(tmp_path / "old")
    with pytest.raises(StoreFormatError, match="phase 'during'"):
        write_run_record(tmp_path / "new", "env", 0, {}, {}, [{**result("il", "after_rl", 0.5),
                                                              "phase": "during"}])


def test_wilson_interval_by_hand_and_filled_in_when_absent(tmp_path):
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.49016, abs=1e-5), pytest.approx(0.94332, abs=1e-5))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    bare = {k: v for k, v in result("il", "after_rl", 0.8).items() if k != "success_ci"}
    write_run_record(tmp_path, "env", 0, {}, {}, [{**bare, "episodes": 10}])
    assert load_run(tmp_path).results[0]["success_ci"] == pytest.approx([lo, hi])


# --- the entropy-collapse section, standalone RL directories, the config that ran ---------
def rl_config(init: str, env: str = "searchqa", **overrides) -> dict:
    from earlyexp.experience.collect import EnvConfig
    from earlyexp.training.config import to_dict
    from earlyexp.training.rl import RLConfig

    return {**to_dict(RLConfig(init=init, env=EnvConfig(env), seed=3)), **overrides}


def record_rl_dir(out, config: dict, entropy, success, stage: str = "rl", extra=None) -> None:
    """What `earlyexp rl` leaves: the Tracker's config.json and metrics.jsonl, no run.json."""
    with Tracker(out, "searchqa__grpo__3__1", config, echo=False) as tracker:
        for it, (h, r) in enumerate(zip(entropy, success), start=1):
            tracker.log({"success": r, "rl/choice_entropy": h, "entropy": 5.0 + 0.01 * it,
                         "rl/episodes": 32, **(extra or {})}, step=it, stage=stage)


def test_standalone_rl_directory_reports_with_its_own_config(tmp_path):
    h = np.linspace(1.4, 0.4, 8)
    r = -0.1 * np.exp(h) + 0.7
    record_rl_dir(tmp_path / "rl", rl_config("runs/warmstart/searchqa/il"), h, r)
    run = load_run(tmp_path / "rl")
    assert run.label == "searchqa/seed3" and run.results == [] and list(run.series) == ["il"]
    md = build_report([str(tmp_path / "rl")]).with_suffix(".md").read_text()
    # rank mode: the fit uses the acting policy's choice entropy, not the vocabulary's
    row = next(line for line in md.splitlines() if "| il | none | rl/choice_entropy | 8 |" in line)
    slope, intercept = np.polyfit(np.exp(h), r, 1)
    assert f"| {-slope:.4g} | {intercept:.4g} |" in row
    assert "(earlyexp rl)" in md and '"name": "searchqa"' in md and "textworld" not in md


def test_degenerate_collapse_data_is_refused_in_the_report(tmp_path):
    h = 1.2 + 1e-5 * np.random.default_rng(0).normal(size=6)
    record_rl_dir(tmp_path / "flat", rl_config("x/il"), h, np.zeros(6))
    md = build_report([str(tmp_path / "flat")]).with_suffix(".md").read_text()
    row = next(line for line in md.splitlines() if "| il | none | rl/choice_entropy | 6 |" in line)
    assert "success does not vary (all 0)" in row and "entropy spans only" in row
    assert "1.000" not in row and "R²=1" not in md


def test_pipeline_config_section_shows_the_rl_config_that_ran(tmp_path):
    record_run(tmp_path / "run")
    ran = rl_config(str(tmp_path / "run" / "warmstart" / "il"), env="searchqa")
    final = tmp_path / "run" / "rl" / "il" / "final"
    final.mkdir(parents=True)
    (final / "rl.json").write_text(json.dumps({"algo": "grpo", "config": ran}))
    md = build_report([str(tmp_path / "run")]).with_suffix(".md").read_text()
    config = md.split("## Configuration", 1)[1]
    assert "RL from il (rl/il/final/rl.json)" in config and '"name": "searchqa"' in config
    assert '"rl": "(per warm-start, as run: below)"' in config


def test_seeds_make_one_band_and_mitigations_separate_lines(tmp_path):
    from earlyexp.training.report_collapse import band_figure, mitigation, pass_k_figure

    assert mitigation({"policy_loss": "clip", "entropy_coef": 0.0, "kl_coef": 0.0}) == "none"
    assert mitigation({"policy_loss": "clip_cov", "kl_coef": 0.05}) == "clip_cov+KL 0.05"
    h = np.linspace(1.4, 0.4, 5)
    for seed, shift in ((1, 0.0), (2, 0.2)):
        record_rl_dir(tmp_path / f"s{seed}", {**rl_config("w/il"), "seed": seed}, h + shift,
                      np.full(5, 0.1))
    record_rl_dir(tmp_path / "cov", {**rl_config("w/il"), "policy_loss": "clip_cov"}, h,
                  np.full(5, 0.1))
    runs = [load_run(tmp_path / d) for d in ("s1", "s2", "cov")]
    fig = band_figure(("policy_entropy", "rl/choice_entropy"), "t", "nats")(runs)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == {"il (2 seeds) [rl/choice_entropy]", "il · clip_cov [rl/choice_entropy]"}
    np.testing.assert_allclose(lines["il (2 seeds) [rl/choice_entropy]"].get_ydata(), h + 0.1)
    assert len(ax.collections) == 1                       # one band: the two seeds' range
    assert ax.get_ylim()[0] == 0.0                        # entropy axes start at zero
    assert all(float(t).is_integer() for t in ax.get_xticks())   # iterations are integers
    assert isinstance(pass_k_figure(runs), str)           # no pass@k anywhere: a note


def test_pass_k_before_and_after_from_evaluations(tmp_path):
    from earlyexp.training.report_collapse import pass_k_figure

    record_run(tmp_path / "run")
    with Tracker(tmp_path / "run", "x", {}, echo=False) as tracker:
        tracker.log({"pass@1": 0.2, "pass@2": 0.3, "pass@4": 0.5}, step=0, stage="eval/il/test")
        tracker.log({"pass@1": 0.4, "pass@2": 0.45, "pass@4": 0.5}, step=1, stage="eval/il/test")
    run = load_run(tmp_path / "run")
    assert run.evals[("il", "test", 1)]["pass@2"] == 0.45
    ax = pass_k_figure([run]).axes[0]
    after = next(line for line in ax.get_lines() if line.get_label() == "il after (eval test)")
    assert list(after.get_xdata()) == [1, 2, 4]
    np.testing.assert_allclose(after.get_ydata(), [40, 45, 50])
    labels = [line.get_label() for line in ax.get_lines()]
    assert "sr after (RL iteration 0→5)" in labels   # sr has no evaluation records: RL ends
