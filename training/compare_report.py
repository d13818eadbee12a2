"""The comparison report: `comparison.md` + self-contained `comparison.html` in the
comparison's out_dir, from what its cells left on disk (`compare.json` lists them).

Sections: the cells (done / partial / failed / not started, with the error, wall time,
threads and data sizes; a partial or failed cell is shown as such and the rest of the
report is still written); success family x method x {before, after RL} per split, mean
over seeds with a 95% stratified-bootstrap interval, with expert and random bounds and
the paper's Table 2 in a separate reference column; paired differences method − IL
(per episode by (task, evaluation seed) where the cells stored episodes) and the count
of families where each method beats IL; world-model accuracy of every checkpoint; the
ablation curves; the budget every number was trained under. Statistics: compare_stats.py.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from earlyexp.errors import StoreFormatError
from earlyexp.training.compare_stats import (
    Estimate, mean_over_seeds, outcomes_from_summary, paired_difference, unpaired_difference,
)
from earlyexp.training.report import _COLOURS, _SPARE, _Page

#: "Agent Learning via Early Experience", Table 2 (Llama-3.2-3B; their model, their data):
#: success % IL / IWM / SR before RL, and after GRPO where reported. Family -> benchmark.
PAPER_SOURCE = ("paper Table 2, Llama-3.2-3B (their model and data; a reference, "
                "not comparable to a tiny model)")
PAPER_TABLE2: dict[str, tuple[str, dict[str, float], dict[str, float]]] = {
    "household": ("ALFWorld", {"il": 78.1, "iwm": 83.6, "sr": 85.9},
                  {"il": 92.2, "iwm": 97.7, "sr": 99.2}),
    "scienceworld": ("ScienceWorld", {"il": 51.6, "iwm": 55.5, "sr": 56.2}, {}),
    "travel": ("TravelPlanner", {"il": 19.4, "iwm": 28.3, "sr": 32.2}, {}),
    "bfcl": ("BFCLv3", {"il": 21.3, "iwm": 25.3, "sr": 29.3}, {}),
    "customer_service": ("Tau-Bench", {"il": 24.3, "iwm": 26.1, "sr": 28.7}, {}),
    "searchqa": ("SearchQA (F1)", {"il": 38.0, "iwm": 39.0, "sr": 38.6}, {}),
    "webshop": ("WebShop", {"il": 41.8, "iwm": 60.2, "sr": 52.7},
                {"il": 82.0, "iwm": 92.2, "sr": 89.8}),
}
PHASE_NAMES = {"before_rl": "before RL", "after_rl": "after RL"}
#: Under every table of success intervals (compare_stats.py marks these estimates `*`).
WILSON_NOTE = ("* every outcome the same (all 0 or all 1): a percentile bootstrap has zero "
               "width there, so the interval is Wilson's score interval over the pooled "
               "episodes.")


@dataclass
class RunData:
    """One pipeline run directory of a cell, as far as it got."""

    run_dir: Path
    value: float | None = None               # the ablation value, if any
    results: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    episodes: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    baselines: list[dict] = field(default_factory=list)
    data_sizes: dict[str, int] = field(default_factory=dict)
    stage_seconds: float = 0.0
    problem: str | None = None               # why run.json could not be read


@dataclass
class CellData:
    key: str
    family: str
    seed: int
    run_dir: Path
    ablation: str | None
    runs: list[RunData]
    status: dict[str, Any] | None
    expected: set
    world_model: dict | None = None

    @property
    def state(self) -> str:
        if self.status and self.status.get("status") == "failed":
            return "failed"
        got = {k for r in self.runs for k in r.results}
        if self.expected <= got and all(r.problem is None for r in self.runs):
            return "done"
        if any(r.results for r in self.runs) or self.status:
            return "running or interrupted" if (self.status or {}).get("status") == "running" \
                else "partial"
        return "not started"


# --- loading ------------------------------------------------------------------------
def load_run_data(run_dir: Path, value: float | None = None) -> RunData:
    from earlyexp.training.report import load_run

    data = RunData(run_dir, value)
    if not (run_dir / "run.json").is_file():
        data.problem = "no run.json yet"
        return data
    try:
        run = load_run(run_dir)
    except StoreFormatError as e:
        data.problem = str(e).split(";")[0]
        return data
    data.results = {(r["warmstart"], r["phase"], r["split"]): r for r in run.results}
    data.baselines = list(run.config.get("baselines") or [])
    data.data_sizes = dict(run.data_sizes)
    doc = json.loads((run_dir / "run.json").read_text())
    data.stage_seconds = sum(float(s.get("seconds", 0)) for s in doc.get("stage_seconds", []))
    for path in sorted((run_dir / "episodes").glob("*.jsonl")):
        method, phase, split = path.stem.split("__")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        data.episodes[(method, phase, split)] = {(r["task_id"], r["seed"]): r["success"]
                                                 for r in rows}
    return data


def load_cells(out_dir: Path) -> tuple[dict, list[CellData]]:
    from earlyexp.training.compare import PLAN_FILE, read_cell_status
    from earlyexp.training.compare_worldmodel import read_world_model

    try:
        plan = json.loads((out_dir / PLAN_FILE).read_text())
    except (OSError, ValueError) as e:
        raise StoreFormatError(f"{out_dir / PLAN_FILE} is missing or unreadable ({e}); is "
                               f"{out_dir} the out_dir of `earlyexp compare`?") from e
    phases = ["before_rl", "after_rl"] if plan["run_rl"] else ["before_rl"]
    cells = []
    for c in plan["cells"]:
        values = c.get("values") or [None] * len(c["run_dirs"])
        runs = [load_run_data(Path(d), v) for d, v in zip(c["run_dirs"], values)]
        cfg_methods = plan["config"]["compare"]["ablations"]["methods"] or plan["methods"]
        methods = cfg_methods if c["ablation"] else plan["methods"]
        run_rl = plan["config"]["compare"]["ablations"]["run_rl"] if c["ablation"] else plan["run_rl"]
        expected = {(m, p, s) for m in methods for p in (phases if run_rl else ["before_rl"])
                    for s in plan["eval_splits"]}
        cells.append(CellData(c["key"], c["family"], c["seed"], Path(c["run_dir"]),
                              c["ablation"], runs, read_cell_status(c["run_dir"]), expected,
                              read_world_model(c["run_dir"])))
    return plan, cells


# --- tables ---------------------------------------------------------------------------
Table = tuple[list[str], list[list[str]]]


def _main(cells: list[CellData]) -> list[CellData]:
    return [c for c in cells if c.ablation is None]


def _outcomes(runs: list[RunData], key: tuple) -> list[np.ndarray]:
    out = []
    for run in runs:
        if key in run.episodes:
            out.append(np.array([float(v) for v in run.episodes[key].values()]))
        elif key in run.results:
            r = run.results[key]
            out.append(outcomes_from_summary(r["success"], r["episodes"]))
    return out


def estimate(runs: list[RunData], key: tuple) -> Estimate | None:
    outcomes = _outcomes(runs, key)
    return mean_over_seeds(outcomes) if outcomes else None


def _cell_text(e: Estimate | None) -> str:
    return "—" if e is None else f"{e.pp()} s={e.strata}"


def cells_table(cells: list[CellData]) -> Table:
    rows = []
    for c in cells:
        status = c.status or {}
        note = status.get("error") or "; ".join(r.problem for r in c.runs if r.problem) or ""
        got = {k for r in c.runs for k in r.results}
        if c.state == "partial":
            note = f"{len(c.expected - got)} of {len(c.expected)} results missing. {note}"
        sizes = {}
        for r in c.runs[:1]:
            sizes = r.data_sizes
        size_text = ", ".join(f"{k}={v}" for k, v in sorted(sizes.items()))
        wall = status.get("seconds")
        stages = sum(r.stage_seconds for r in c.runs)
        rows.append([c.key, c.state, note[:300], "—" if wall is None else f"{wall:.0f}",
                     f"{stages:.0f}", str(status.get("threads", "—")), size_text or "—"])
    return (["cell", "status", "error / note", "wall s (cell)", "stages s (run.json)",
             "threads", "data sizes"], rows)


def success_table(plan: dict, cells: list[CellData]) -> Table:
    splits, phases = plan["eval_splits"], ["before_rl"] + (["after_rl"] if plan["run_rl"] else [])
    head = ["family", "agent", *[f"{s} {PHASE_NAMES[p]}" for s in splits for p in phases],
            "paper Table 2: before RL", "paper: after RL"]
    rows = []
    for family in plan["families"]:
        runs = [r for c in _main(cells) if c.family == family for r in c.runs]
        bench, before, after = PAPER_TABLE2.get(family, ("", {}, {}))
        for method in plan["methods"]:
            rows.append([family, method, *[_cell_text(estimate(runs, (method, p, s)))
                                           for s in splits for p in phases],
                         _paper(bench, before.get(method)), _paper(bench, after.get(method))])
        for agent in ("expert", "random"):
            per_split = []
            for s in splits:
                outs = [outcomes_from_summary(b["success"], b["episodes"]) for r in runs
                        for b in r.baselines if b.get("agent") == agent and b.get("split") == s]
                e = mean_over_seeds(outs) if outs else None
                per_split += [_cell_text(e)] + ["(bound)"] * (len(phases) - 1)
            rows.append([family, f"{agent} (bound)", *per_split, "", ""])
    return head, rows


def _paper(bench: str, value: float | None) -> str:
    return f"{value:.1f} ({bench})" if value is not None else "—"


def difference(runs: list[RunData], method: str, key_rest: tuple) -> Estimate | None:
    """method − IL on `key_rest` = (phase, split) over the seeds both have."""
    pairs, a, b = [], [], []
    for run in runs:
        mk, bk = (method, *key_rest), ("il", *key_rest)
        if mk in run.episodes and bk in run.episodes:
            pairs.append((run.episodes[mk], run.episodes[bk]))
        elif mk in run.results and bk in run.results:
            a += _outcomes([run], mk)
            b += _outcomes([run], bk)
    if pairs and not a:
        return paired_difference(pairs)
    if a or pairs:  # some seeds without episodes: unpaired over every seed
        a2 = a + [np.array([float(v) for v in m.values()]) for m, _ in pairs]
        b2 = b + [np.array([float(v) for v in x.values()]) for _, x in pairs]
        return unpaired_difference(a2, b2)
    return None


def differences_table(plan: dict, cells: list[CellData]) -> tuple[Table, Table]:
    splits, phases = plan["eval_splits"], ["before_rl"] + (["after_rl"] if plan["run_rl"] else [])
    rows, wins = [], {}
    for method in [m for m in plan["methods"] if m != "il"]:
        for family in plan["families"]:
            runs = [r for c in _main(cells) if c.family == family for r in c.runs]
            for phase in phases:
                for split in splits:
                    e = difference(runs, method, (phase, split))
                    if e is None:
                        continue
                    w = wins.setdefault((method, phase, split), [0, 0, 0])
                    w[0] += e.mean > 0
                    w[1] += e.resolved and e.mean > 0
                    w[2] += 1
                    rows.append([f"{method} − il", family, PHASE_NAMES[phase], split,
                                 e.pp(signed=True), str(e.n), str(e.strata),
                                 "per episode (task, seed)" if e.paired else "unpaired",
                                 "yes" if e.resolved else "no"])
    head = ["difference", "family", "phase", "split", "Δ pp [95% CI]", "episodes/pairs",
            "seeds", "pairing", "interval excludes 0"]
    count = (["difference", "phase", "split", "families with Δ > 0",
              "… and interval above 0", "families compared"],
             [[f"{m} − il", PHASE_NAMES[p], s, str(w[0]), str(w[1]), str(w[2])]
              for (m, p, s), w in wins.items()])
    return (head, rows), count


def world_model_table(plan: dict, cells: list[CellData]) -> Table:
    acc: dict[tuple, list[dict]] = {}
    for c in _main(cells):
        for row in (c.world_model or {}).get("rows", []):
            acc.setdefault((c.family, row["warmstart"], row["phase"]), []).append(row)
    rows = []
    for (family, method, phase), items in sorted(acc.items(), key=lambda kv: (
            plan["families"].index(kv[0][0]), _order(plan, kv[0][1]), kv[0][2] != "before_rl")):
        mean = {k: float(np.mean([i[k] for i in items]))
                for k in ("nll", "token_accuracy", "exact_match")}
        rows.append([family, method, PHASE_NAMES[phase], f"{mean['nll']:.3f}",
                     f"{100 * mean['token_accuracy']:.1f}", f"{100 * mean['exact_match']:.1f}",
                     str(sum(i["examples"] for i in items)),
                     _tokens_per_example(items),
                     str(len(items))])
    return (["family", "checkpoint", "phase", "next-obs NLL (nats/token)", "token accuracy %",
             "exact match %", "transitions", "tokens / transition", "seeds"], rows)


def _tokens_per_example(items: list[dict]) -> str:
    examples = sum(i["examples"] for i in items)
    if not examples or any("tokens" not in i for i in items):
        return "—"
    return f"{sum(i['tokens'] for i in items) / examples:.0f}"


def _order(plan: dict, method: str) -> int:
    return plan["methods"].index(method) if method in plan["methods"] else len(plan["methods"])


# --- ablations ------------------------------------------------------------------------
AXIS_LABELS = {"expert_fraction": "fraction of expert trajectories", "k": "branching factor K"}


def ablation_points(cells: list[CellData], axis: str, split: str = "test"
                    ) -> dict[tuple[str, str], list[tuple[float, Estimate]]]:
    """(family, method) -> [(value, success estimate over seeds)] before RL."""
    by_value: dict[tuple[str, str, float], list[RunData]] = {}
    for c in cells:
        if c.ablation != axis:
            continue
        for run in c.runs:
            for (method, phase, s) in run.results:
                if phase == "before_rl" and s == split:
                    by_value.setdefault((c.family, method, run.value), []).append(run)
    curves: dict[tuple[str, str], list[tuple[float, Estimate]]] = {}
    for (family, method, value), runs in sorted(by_value.items()):
        e = estimate(runs, (method, "before_rl", split))
        if e is not None:
            curves.setdefault((family, method), []).append((value, e))
    return curves


def ablation_figure(curves: dict, axis: str) -> Figure:
    fig = Figure(figsize=(6.4, 3.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"Ablation: success before RL vs {AXIS_LABELS[axis]} (95% CI)")
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("test success (%)")
    ax.grid(alpha=0.3)
    for i, ((family, method), points) in enumerate(sorted(curves.items())):
        xs = [v for v, _ in points]
        ys = [100 * e.mean for _, e in points]
        err = [[100 * (e.mean - e.lo) for _, e in points], [100 * (e.hi - e.mean) for _, e in points]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"{method} · {family}",
                    color=_COLOURS.get(method, _SPARE[i % len(_SPARE)]))
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({v for pts in curves.values() for v, _ in pts}),
                  [f"{v:g}" for v in sorted({v for pts in curves.values() for v, _ in pts})])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def ablation_table(curves: dict, axis: str) -> Table:
    rows = [[family, method, f"{value:g}", e.pp(), str(e.strata)]
            for (family, method), points in sorted(curves.items()) for value, e in points]
    return ["family", "method", axis, "test success before RL [95% CI]", "seeds"], rows


# --- the page -------------------------------------------------------------------------
class ComparisonPage(_Page):
    def write(self) -> Path:
        (self.out / "comparison.md").write_text("\n".join(self.md), encoding="utf-8")
        (self.out / "comparison.html").write_text("\n".join(self.h) + "</body></html>",
                                                  encoding="utf-8")
        return self.out / "comparison.html"


def build_comparison(out_dir: str | Path) -> Path:
    """Write comparison.md (figures under figures/) and comparison.html; returns the HTML
    path. Cells that are partial, failed or not started are listed as such."""
    from earlyexp.training.methods import BUDGETS

    out = Path(out_dir)
    plan, cells = load_cells(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    page = ComparisonPage("Warm-start comparison: " + ", ".join(plan["families"]), out)
    budget = plan["budget"]
    page.text(f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. Methods {plan['methods']}, "
              f"seeds {plan['seeds']}, **budget={budget}**: {BUDGETS[budget].rule}.",
              f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. Methods {plan['methods']}, "
              f"seeds {plan['seeds']}, <b>budget={budget}</b>: {BUDGETS[budget].rule}.")
    page.heading("Cells")
    page.table(cells_table(cells))
    page.heading("Success rate, mean over seeds [95% interval]")
    page.note("Interval: stratified bootstrap over each seed's episodes (episode noise); s = "
              "seeds behind the mean. " + WILSON_NOTE + " The paper's numbers are a "
              "reference only: " + PAPER_SOURCE + ".")
    page.table(success_table(plan, cells))
    page.heading("Paired differences against IL")
    page.note("Δ = method − IL on the same training seeds and test episodes (matched by task "
              "and evaluation seed), in percentage points, 95% stratified-bootstrap interval. "
              "* no pair disagrees: the bootstrap cannot bound Δ, so the interval is ± "
              "Wilson's upper bound on the rate of disagreeing pairs (|Δ| is at most that rate).")
    diffs, counts = differences_table(plan, cells)
    page.table(diffs)
    page.heading("Families where each method beats IL", 3)
    page.table(counts)
    page.heading("World-model accuracy on held-out test transitions")
    page.note("Teacher-forced next-observation prediction on branched test-split transitions "
              "collected as the training data was; lower NLL and higher accuracy = a better "
              "world model. Does IWM keep it after imitation and after RL? Each next "
              "observation is scored as the IWM data holds it, cut to the context left after "
              "the prompt: 'tokens / transition' says how much of it that is.")
    page.table(world_model_table(plan, cells))
    page.heading("Ablations")
    page.note("Success before RL with the intervals of the success table. " + WILSON_NOTE)
    for axis in ("expert_fraction", "k"):
        curves = ablation_points(cells, axis)
        if not curves:
            page.note(f"{axis}: no ablation results (compare.ablations.{axis} is empty or its "
                      "cells have not finished).")
            continue
        page.figures([(f"ablation_{axis}", lambda _runs, c=curves, a=axis: ablation_figure(c, a))],
                     [])
        page.table(ablation_table(curves, axis))
    page.heading("Configuration")
    page.code("compare.json: overrides and the composed config",
              json.dumps({"overrides": plan["overrides"], "config": plan["config"]}, indent=1,
                         default=str, sort_keys=True))
    return page.write()
