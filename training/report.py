"""The run report: Markdown and a self-contained HTML page from one or more run directories.

Run directory, format 1 (the pipeline writes it; `write_run_record` writes run.json):

    run_dir/run.json
        {"format": 1, "env": str, "seed": int, "config": {...}, "data_sizes": {name: int},
         "results": [{"warmstart": "il" | "iwm" | "sr" | ..., "phase": "before_rl" | "after_rl",
                      "split": "test" | "ood" | ..., "success": float in [0, 1],
                      "success_ci": [lo, hi] (95% Wilson; computed when absent),
                      "episodes": int, "seeds": int, "score": float, "mean_length": float}]}
        required: format, env, seed, results; in each result warmstart, phase, split,
        success, episodes.
    run_dir/metrics.jsonl   the Tracker's log (optional). RL iterations are the records
        with stage f"rl/{warmstart}" and step = iteration; the report reads their keys
        "success", "entropy", "vendi" and "unique_trajectory_ratio" (and tabulates
        every key of `diversity.METRICS` and `pass@k` at the last iteration).

Figures (matplotlib `Figure` objects rendered to PNG by the Agg canvas; pyplot's
global state is never touched): success before/after RL per warm-start with 95% Wilson
intervals, success / entropy / Vendi / unique-trajectory ratio vs iteration, and the
collapse fit R = -a·exp(H) + b with its ceiling. Several run directories give one
comparison table and one set of figures, runs labelled `env/seed/dirname`. A figure
whose metrics are missing is left out with a note.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from earlyexp.errors import StoreFormatError
from earlyexp.experience.diversity import METRICS, fit_collapse, wilson_interval
from earlyexp.training.tracking import METRICS_FILE, read_metrics

FORMAT, RUN_FILE = 1, "run.json"
PHASES = ("before_rl", "after_rl")
_REQUIRED_RUN = {"format": int, "env": str, "seed": int, "results": list}
_REQUIRED_RESULT = {"warmstart": str, "phase": str, "split": str, "success": (int, float),
                    "episodes": int}
_COLOURS = {"il": "tab:blue", "iwm": "tab:orange", "sr": "tab:green"}
_SPARE = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
_STYLES = ("-", "--", ":", "-.")


def write_run_record(run_dir: str | os.PathLike, env: str, seed: int, config: dict,
                     data_sizes: dict[str, int], results: list[dict[str, Any]]) -> Path:
    """Write `run_dir/run.json` (format 1) atomically, after checking it as `load_run` will."""
    doc = {"format": FORMAT, "env": env, "seed": seed, "config": config,
           "data_sizes": data_sizes, "results": results}
    path = Path(run_dir) / RUN_FILE
    _validate(doc, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass
class Run:
    """One loaded run directory: run.json plus the RL curves `series[warmstart][key]`."""

    path: Path
    label: str
    env: str
    seed: int
    config: dict
    data_sizes: dict
    results: list[dict]
    series: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)


def _validate(doc: Any, path: Path) -> None:
    def bad(rule: str) -> StoreFormatError:
        return StoreFormatError(f"{path}: {rule}. The report reads run.json format {FORMAT} "
                                "(documented at the top of earlyexp/training/report.py); "
                                "re-run the pipeline with this version to rewrite it.")
    if not isinstance(doc, dict):
        raise bad(f"expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise bad(f"format is {doc.get('format')!r}, not {FORMAT} (an older or unknown format)")
    for key, kind in _REQUIRED_RUN.items():
        if not isinstance(doc.get(key), kind):
            raise bad(f"field {key!r} must be {kind.__name__}, got {doc.get(key)!r:.80}")
    for i, result in enumerate(doc["results"]):
        for key, kind in _REQUIRED_RESULT.items():
            if not isinstance(result, dict) or not isinstance(result.get(key), kind):
                raise bad(f"results[{i}] needs {key!r} of type {kind}, got {result!r:.120}")
        if result["phase"] not in PHASES:
            raise bad(f"results[{i}] phase {result['phase']!r} is not one of {PHASES}")


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read and check a run directory (StoreFormatError when it is not format 1)."""
    path = Path(run_dir)
    if not (path / RUN_FILE).is_file():
        raise StoreFormatError(f"{path} is not a run directory: it has no {RUN_FILE} (the "
                               "pipeline writes it when a run finishes; see "
                               "earlyexp/training/report.py for the format)")
    try:
        doc = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise StoreFormatError(f"{path / RUN_FILE} is not valid JSON ({e})") from e
    _validate(doc, path / RUN_FILE)
    results = []
    for r in doc["results"]:
        if not r.get("success_ci"):
            r = {**r, "success_ci": list(wilson_interval(r["success"] * r["episodes"],
                                                         r["episodes"]))}
        results.append(r)
    run = Run(path, f"{doc['env']}/{doc['seed']}/{path.resolve().name}", doc["env"], doc["seed"],
              dict(doc.get("config") or {}), dict(doc.get("data_sizes") or {}), results)
    if (path / METRICS_FILE).is_file():
        try:
            records = read_metrics(path / METRICS_FILE)
        except ValueError as e:
            raise StoreFormatError(str(e)) from e
        curves: dict[str, dict[str, dict[int, float]]] = {}
        for rec in records:
            if rec["stage"].startswith("rl/"):
                ws = curves.setdefault(rec["stage"][3:], {})
                for key, value in rec["metrics"].items():
                    if value is not None:  # a resumed run re-logs a step: the last one wins
                        ws.setdefault(key, {})[int(rec["step"])] = float(value)
        run.series = {ws: {k: sorted(v.items()) for k, v in keys.items()}
                      for ws, keys in curves.items()}
    return run


# --- figures ----------------------------------------------------------------------
def _colour(warmstart: str, order: list[str]) -> str:
    return _COLOURS.get(warmstart) or _SPARE[order.index(warmstart) % len(_SPARE)]


def _warmstarts(runs: Sequence[Run]) -> list[str]:
    names = {r["warmstart"] for run in runs for r in run.results}
    names |= {ws for run in runs for ws in run.series}
    return sorted(names, key=lambda w: (w not in _COLOURS, list(_COLOURS).index(w)
                                        if w in _COLOURS else 0, w))


def _line_label(run: Run, ws: str, runs: Sequence[Run]) -> str:
    return ws if len(runs) == 1 else f"{ws} · {run.label}"


def _figure(title: str, xlabel: str, ylabel: str, width: float = 6.4) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, 3.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def success_bars(runs: Sequence[Run]) -> Figure | str:
    """Success before and after RL per warm-start (and split), 95% Wilson error bars."""
    cells: dict[tuple[str, str, str], dict[str, dict]] = {}
    for i, run in enumerate(runs):
        for r in run.results:
            cells.setdefault((str(i), r["warmstart"], r["split"]), {})[r["phase"]] = r
    if not cells:
        return "no results in run.json"
    keys = sorted(cells, key=lambda k: (k[2] != "test", k[2], int(k[0]), k[1]))
    fig, ax = _figure("Success before and after RL (95% Wilson interval)", "warm-start / split",
                      "success rate (%)", width=max(6.4, 0.9 * len(keys) + 2))
    order, handles = _warmstarts(runs), []
    for j, (phase, hatch) in enumerate(zip(PHASES, ("", "//"))):
        xs, ys, err, colours = [], [], [[], []], []
        for x, key in enumerate(keys):
            r = cells[key].get(phase)
            if r is not None:
                lo, hi = r["success_ci"]
                xs.append(x + (j - 0.5) * 0.4)
                ys.append(100 * r["success"])
                err[0].append(100 * max(0.0, r["success"] - lo))
                err[1].append(100 * max(0.0, hi - r["success"]))
                colours.append(_colour(key[1], order))
        alpha = 0.45 if phase == "before_rl" else 0.95
        ax.bar(xs, ys, 0.4, yerr=err, capsize=3, color=colours, hatch=hatch, edgecolor="black",
               alpha=alpha)
        handles.append(Patch(facecolor="lightgrey", edgecolor="black", hatch=hatch, alpha=alpha,
                             label="before RL" if phase == "before_rl" else "after RL"))
    names = [f"{ws}\n{split}" + (f"\n{runs[int(i)].label}" if len(runs) > 1 else "")
             for i, ws, split in keys]
    ax.set_xticks(range(len(keys)), names, fontsize=8)
    ax.set_ylim(0, 105)
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    return fig


def curve_figure(key: str, title: str, ylabel: str, scale: float = 1.0) -> Callable:
    """A figure function plotting metric `key` against the RL iteration, one line per
    (run, warm-start)."""
    def draw(runs: Sequence[Run]) -> Figure | str:
        lines = [(i, run, ws, pts) for i, run in enumerate(runs)
                 for ws, keys in run.series.items() if (pts := keys.get(key))]
        if not lines:
            return f"no RL iteration logged {key!r} (stage rl/<warmstart> in metrics.jsonl)"
        fig, ax = _figure(title, "RL iteration", ylabel)
        order = _warmstarts(runs)
        for i, run, ws, pts in lines:
            ax.plot([s for s, _ in pts], [scale * v for _, v in pts], marker="." if len(pts) < 40
                    else None, color=_colour(ws, order), linestyle=_STYLES[i % len(_STYLES)],
                    label=_line_label(run, ws, runs))
        ax.legend(fontsize=8)
        return fig
    draw.__doc__ = title
    return draw


def _collapse_points(run: Run, ws: str) -> tuple[list[float], list[float]]:
    keys = run.series.get(ws, {})
    success = dict(keys.get("success", []))
    pairs = [(h, success[s]) for s, h in keys.get("entropy", []) if s in success]
    return [h for h, _ in pairs], [r for _, r in pairs]


def collapse_figure(runs: Sequence[Run]) -> Figure | str:
    """(entropy, success) per RL iteration with the fit R = -a·exp(H) + b and its ceiling."""
    series = [(i, run, ws, *_collapse_points(run, ws))
              for i, run in enumerate(runs) for ws in run.series]
    series = [s for s in series if s[3]]
    if not series:
        return "no RL iteration logged both 'entropy' and 'success'"
    fig, ax = _figure("Collapse fit R = -a·exp(H) + b (dashed: ceiling b - a)",
                      "token entropy H (nats/token)", "success rate (%)")
    order = _warmstarts(runs)
    for i, run, ws, hs, rs in series:
        colour, label = _colour(ws, order), _line_label(run, ws, runs)
        fit = fit_collapse(hs, rs)
        ax.scatter(hs, [100 * r for r in rs], color=colour, s=14,
                   label=label if not fit.ok else None)
        if fit.ok:
            grid = np.linspace(0.0, max(hs) * 1.05, 100)
            plausible = 0.0 <= fit.ceiling <= 1.0
            ceiling = (f"ceiling={100 * fit.ceiling:.1f}%" if plausible else
                       "ceiling outside 0-100%: extrapolation not credible")
            ax.plot(grid, 100 * fit.predict(grid), color=colour,
                    linestyle=_STYLES[i % len(_STYLES)],
                    label=f"{label}: a={fit.a:.3g}, b={fit.b:.3g}, {ceiling}")
            if plausible:
                ax.axhline(100 * fit.ceiling, color=colour, linestyle="--", linewidth=0.8)
    ax.set_ylim(-2, 105)  # success is a rate; a fit that leaves [0, 100] is labelled, not drawn
    ax.legend(fontsize=7)
    return fig


FIGURES: list[tuple[str, Callable[[Sequence[Run]], Figure | str]]] = [
    ("success_before_after", success_bars),
    ("success_vs_iteration", curve_figure("success", "Training success vs RL iteration",
                                          "success rate (%)", 100.0)),
    ("entropy_vs_iteration", curve_figure("entropy", "Token entropy vs RL iteration",
                                          "mean token entropy (nats/token)")),
    ("collapse_fit", collapse_figure),
    ("vendi_vs_iteration", curve_figure("vendi", "Vendi score of trajectories vs RL iteration",
                                        "Vendi score (effective # trajectories)")),
    ("unique_trajectories_vs_iteration", curve_figure(
        "unique_trajectory_ratio", "Unique-trajectory ratio vs RL iteration",
        "unique / total trajectories per group")),
]


# --- tables -------------------------------------------------------------------------
Table = tuple[list[str], list[list[str]]]


def _pct(r: dict | None) -> str:
    if r is None:
        return "—"
    lo, hi = r["success_ci"]
    return f"{100 * r['success']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def comparison_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        cells: dict[tuple[str, str], dict[str, dict]] = {}
        for r in run.results:
            cells.setdefault((r["warmstart"], r["split"]), {})[r["phase"]] = r
        for (ws, split), by_phase in sorted(cells.items(), key=lambda c: (c[0][1] != "test", c[0])):
            before, after = by_phase.get("before_rl"), by_phase.get("after_rl")
            delta = (f"{100 * (after['success'] - before['success']):+.1f}"
                     if before and after else "—")
            last = after or before
            rows.append([run.label, ws, split, _pct(before), _pct(after), delta,
                         str(last["episodes"]), str(last.get("seeds", "—"))])
    return (["run", "warm-start", "split", "before RL", "after RL", "Δ (pp)", "episodes",
             "seeds"], rows)


def collapse_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        for ws in run.series:
            hs, rs = _collapse_points(run, ws)
            fit = fit_collapse(hs, rs)
            note = "" if not fit.ok or 0 <= fit.ceiling <= 1 else \
                "ceiling outside 0-100%: too few or too flat points to extrapolate"
            nums = ([f"{fit.a:.4g}", f"{fit.b:.4g}", f"{100 * fit.ceiling:.1f}%",
                     f"{fit.rmse:.3g}", f"{fit.r2:.3f}", note] if fit.ok
                    else ["—"] * 5 + [fit.reason or ""])
            rows.append([run.label, ws, str(fit.n), *nums])
    return ["run", "warm-start", "points", "a", "b", "ceiling b - a", "RMSE", "R²", "note"], rows


def last_iteration_table(runs: Sequence[Run]) -> Table:
    keys = [k for k in (*METRICS, *sorted({k for run in runs for ws in run.series.values()
                                           for k in ws if k.startswith("pass@")}))
            if any(k in ws for run in runs for ws in run.series.values())]
    rows = [[run.label, ws, str(max(s for pts in series.values() for s, _ in pts)),
             *[f"{series[k][-1][1]:.4g}" if k in series else "—" for k in keys]]
            for run in runs for ws, series in run.series.items() if series]
    return ["run", "warm-start", "last iteration", *keys], rows


def data_sizes_table(runs: Sequence[Run]) -> Table:
    names = sorted({k for run in runs for k in run.data_sizes})
    return ["data", *[run.label for run in runs]], [
        [name, *[str(run.data_sizes.get(name, "—")) for run in runs]] for name in names]


def _md_table(table: Table) -> str:
    head, rows = table
    def cell(s) -> str:
        return html.escape(str(s), quote=False).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(map(cell, r)) + " |" for r in rows])


def _html_table(table: Table) -> str:
    head, rows = table
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


# --- the report -----------------------------------------------------------------------
_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:90%}th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;"
        "padding:8px;overflow:auto}.note{color:#a55}")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def build_report(run_dirs: list[str], out_dir: str | None = None) -> Path:
    """Write `report.md` (figures under `figures/`) and a self-contained `report.html`.

    `out_dir` defaults to the run directory for one run, and to `report/` in the runs'
    common parent directory for several. Returns the path of report.html.
    """
    if not run_dirs:
        raise ValueError("build_report needs at least one run directory")
    runs = [load_run(d) for d in run_dirs]
    labels = [run.label for run in runs]
    for i, run in enumerate(runs):
        if labels.count(run.label) > 1:
            run.label = f"{run.label}#{i + 1}"
    labels = [run.label for run in runs]
    if out_dir is None:
        out = runs[0].path if len(runs) == 1 else \
            Path(os.path.commonpath([str(r.path.resolve()) for r in runs])) / "report"
    else:
        out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    title = "Early-experience report: " + ", ".join(labels)
    md = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
          + ", ".join(f"`{r.path}`" for r in runs), "", "## Success rates", "",
          _md_table(comparison_table(runs)), "", "## Figures", ""]
    h = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
          f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"),
         f"<p>Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
         + ", ".join(f"<code>{html.escape(str(r.path))}</code>" for r in runs) + "</p>",
         "<h2>Success rates</h2>", _html_table(comparison_table(runs)), "<h2>Figures</h2>"]
    for name, draw in FIGURES:
        fig = draw(runs)
        caption = (draw.__doc__ or name).strip().splitlines()[0]
        if isinstance(fig, str):
            md += [f"*{name}: omitted, {fig}.*", ""]
            h.append(f"<p class='note'>{html.escape(name)}: omitted, {html.escape(fig)}.</p>")
            continue
        png = _png(fig)
        (out / "figures" / f"{name}.png").write_bytes(png)
        md += [f"![{name}](figures/{name}.png)", ""]
        h.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
                 f"{base64.b64encode(png).decode()}'><figcaption>{html.escape(caption)}"
                 "</figcaption></figure>")
    sections = [("Collapse fit R = -a·exp(H) + b", collapse_table(runs)),
                ("Diversity at the last RL iteration", last_iteration_table(runs)),
                ("Data sizes", data_sizes_table(runs))]
    for heading, table in sections:
        md += [f"## {heading}", "", _md_table(table) if table[1] else "*none recorded*", ""]
        h += [f"<h2>{html.escape(heading)}</h2>",
              _html_table(table) if table[1] else "<p class='note'>none recorded</p>"]
    md += ["## Configuration", ""]
    h.append("<h2>Configuration</h2>")
    for run in runs:
        text = json.dumps(run.config, indent=1, default=str, sort_keys=True)
        md += [f"### {run.label}", "", "```json", text, "```", ""]
        h.append(f"<details><summary>{html.escape(run.label)}</summary>"
                 f"<pre>{html.escape(text)}</pre></details>")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    (out / "report.html").write_text("\n".join(h) + "</body></html>", encoding="utf-8")
    return out / "report.html"


def report_main(console, args: list[str]) -> int:
    """`earlyexp report RUN_DIR [RUN_DIR ...] [out_dir=DIR]`: write and print the report path."""
    out_dir = next((a.split("=", 1)[1] for a in args if a.startswith("out_dir=")), None)
    run_dirs = [a for a in args if not a.startswith("out_dir=")]
    if not run_dirs:
        console.print("usage: earlyexp report RUN_DIR [RUN_DIR ...] [out_dir=DIR]")
        return 2
    path = build_report(run_dirs, out_dir)
    console.print(f"report written to {path} and {path.with_suffix('.md')}")
    return 0
