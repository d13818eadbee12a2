"""The report renders from a small recorded run, compares runs and survives missing data."""
from __future__ import annotations

import base64
import json
import math
import re

import pytest
from rich.console import Console

from earlyexp.errors import StoreFormatError
from earlyexp.training.report import (
    FIGURES, build_report, load_run, report_main, wilson_interval, write_run_record,
)
from earlyexp.training.tracking import Tracker

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
                                 "unique_trajectory_ratio": 1.0 - 0.1 * it, "pass@4": 0.9},
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
    assert len(pngs) == len(FIGURES) == page.count("<img ")
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    assert HOSTILE not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in page
    assert "55.0% [39.8, 69.3]" in page and "+25.0" in page  # il/test after RL and its delta
    md = (tmp_path / "run" / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) == len(FIGURES)
    assert all((tmp_path / "run" / f).stat().st_size > 1000 for f in linked)
    # the collapse table recovers the synthetic a = 0.04, b = 0.8 of the il curve
    row = next(line for line in md.splitlines() if line.startswith("| textworld/0/run | il | 6 |"))
    assert "| 0.04 | 0.8 | 76.0% |" in row
    assert "pass@4" in md and "expert_trajectories" in md and '"iterations": 6' in md


def test_several_runs_give_one_table_and_one_set_of_figures(tmp_path):
    for seed in (0, 1):
        record_run(tmp_path / f"seed{seed}", seed=seed)
    path = build_report([str(tmp_path / "seed0"), str(tmp_path / "seed1")])
    assert path == tmp_path / "report" / "report.html"
    page = path.read_text()
    assert len(images(page)) == len(FIGURES)
    assert page.count("<h2>Success rates</h2>") == 1
    assert "textworld/0/seed0" in page and "textworld/1/seed1" in page
    out = Console(record=True, width=200)
    assert report_main(out, [str(tmp_path / "seed0"), str(tmp_path / "seed1"),
                             f"out_dir={tmp_path / 'cmp'}"]) == 0
    assert (tmp_path / "cmp" / "report.html").exists() and "report written" in out.export_text()


def test_missing_metrics_omit_figures_with_a_note(tmp_path):
    record_run(tmp_path / "no_rl", rl=False)
    page = build_report([str(tmp_path / "no_rl")], str(tmp_path / "out")).read_text()
    assert len(images(page)) == 1                        # only success before/after RL
    assert page.count("class='note'>") >= len(FIGURES) - 1
    assert "omitted, no RL iteration logged &#x27;entropy&#x27;" in page

    record_run(tmp_path / "short", iterations=2)
    md = build_report([str(tmp_path / "short")]).with_suffix(".md").read_text()
    assert "needs at least 3 (entropy, success) points, got 2" in md


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
