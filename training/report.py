"""The run report: Markdown and a self-contained HTML page from one or more run directories.

Run directory, format 1 (the pipeline writes it; `write_run_record` writes run.json):

    run_dir/run.json
        {"format": 1, "env": str, "seed": int, "config": {...}, "data_sizes": {name: int},
         "results": [{"warmstart": "il" | "iwm" | "sr" | ..., "phase": "before_rl" | "after_rl",
                      "split": "test" | "ood" | ..., "success": float in [0, 1],
                      "success_ci": [lo, hi] (95% Wilson; computed when absent),
                      "episodes": int, "seeds": int, "score": float, "mean_length": float}],
         "stage_seconds": [{"stage": str, "seconds": float, "note": str}] (optional; the
             pipeline's wall time per stage, in the order they ran)}
        required: format, env, seed, results; in each result warmstart, phase, split,
        success, episodes.
    run_dir/metrics.jsonl   the Tracker's log (optional). RL iterations are the records
        with stage f"rl/{warmstart}" and step = iteration; evaluations the records with
        stage f"eval/{warmstart}/{split}" and step 0 (before RL) or 1 (after). The report
        reads the keys of `diversity.METRICS`, `pass@k`, `collapse/*` and `params/*`.
    run_dir/rl/{warmstart}/final/rl.json   the RL config each warm-start ran with (optional;
        shown in the configuration section instead of the pipeline's `rl` block).

A standalone `earlyexp rl` directory (config.json + metrics.jsonl, no run.json) is read
as a run without before/after results: its RL stage "rl" is labelled by the name of its
`init` directory (e.g. "il"), its config.json is the config that ran.

Figures (matplotlib `Figure` objects rendered to PNG by the Agg canvas; pyplot's
global state is never touched): success before/after RL per warm-start with 95% Wilson
intervals and the unique-trajectory ratio vs iteration; then the "Entropy collapse"
section (`report_collapse.py`): per warm-start and mitigation, with a band over seeds,
the acting policy's entropy, success, query and template diversity vs iteration, the
fit R = -a·exp(H) + b with its ceiling or the reason it is refused, pass@k before and
after RL, Cov(log π, A) and update sparsity. Several run directories give one
comparison table and one set of figures, runs labelled `env/seedN` (and
the directory's name where two runs share that). A figure
whose metrics are missing is left out with a note. Iteration axes are integers;
axes of non-negative quantities start at zero.
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

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from earlyexp.errors import StoreFormatError
from earlyexp.experience.diversity import METRICS, wilson_interval
from earlyexp.training.tracking import CONFIG_FILE, METRICS_FILE, read_metrics

FORMAT, RUN_FILE = 1, "run.json"
PHASES = ("before_rl", "after_rl")
_REQUIRED_RUN = {"format": int, "env": str, "seed": int, "results": list}
_REQUIRED_RESULT = {"warmstart": str, "phase": str, "split": str, "success": (int, float),
                    "episodes": int}
_COLOURS = {"il": "tab:blue", "iwm": "tab:orange", "sr": "tab:green"}
_SPARE = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
_STYLES = ("-", "--", ":", "-.")


def write_run_record(run_dir: str | os.PathLike, env: str, seed: int, config: dict,
                     data_sizes: dict[str, int], results: list[dict[str, Any]],
                     stage_seconds: list[dict[str, Any]] | None = None) -> Path:
    """Write `run_dir/run.json` (format 1) atomically, after checking it as `load_run` will."""
    doc = {"format": FORMAT, "env": env, "seed": seed, "config": config,
           "data_sizes": data_sizes, "results": results}
    if stage_seconds is not None:
        doc["stage_seconds"] = stage_seconds
    path = Path(run_dir) / RUN_FILE
    _validate(doc, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclass
class Run:
    """One loaded run directory: run.json (or a standalone RL run's config.json), the RL
    curves `series[warmstart][key]`, the evaluation records `evals[(warmstart, split,
    step)]` and the RL config each warm-start ran with, `rl_configs[warmstart]`."""

    path: Path
    label: str
    env: str
    seed: int
    config: dict
    data_sizes: dict
    results: list[dict]
    series: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    evals: dict[tuple[str, str, int], dict[str, float]] = field(default_factory=dict)
    rl_configs: dict[str, dict] = field(default_factory=dict)

    def rl_config(self, warmstart: str) -> dict:
        """The RL config `warmstart` ran with: its own record, else the pipeline's block."""
        return self.rl_configs.get(warmstart) or dict(self.config.get("rl") or {})


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
    """Read and check a run directory (StoreFormatError when it is not format 1): a
    pipeline run (run.json) or a standalone `earlyexp rl` directory (config.json)."""
    path = Path(run_dir)
    if not (path / RUN_FILE).is_file():
        if (path / CONFIG_FILE).is_file() and (path / METRICS_FILE).is_file():
            return _load_rl_dir(path)
        raise StoreFormatError(f"{path} is not a run directory: it has no {RUN_FILE} (the "
                               "pipeline writes it when a run finishes) and is not an "
                               f"`earlyexp rl` directory ({CONFIG_FILE} + {METRICS_FILE}); see "
                               "earlyexp/training/report.py for the formats")
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
    run = Run(path, f"{doc['env']}/seed{doc['seed']}", doc["env"], doc["seed"],
              dict(doc.get("config") or {}), dict(doc.get("data_sizes") or {}), results)
    _read_metrics(run, rl_label=None)
    for ws in {*run.series, *(r["warmstart"] for r in results)}:
        record = path / "rl" / ws / "final" / "rl.json"
        if record.is_file():
            try:
                run.rl_configs[ws] = dict(json.loads(record.read_text(encoding="utf-8"))["config"])
            except (ValueError, KeyError, TypeError) as e:
                raise StoreFormatError(f"{record} is not an RL summary ({e})") from e
    return run


def _load_rl_dir(path: Path) -> Run:
    """A standalone `earlyexp rl` output directory as a run without before/after results."""
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        env, seed = str(config["env"]["name"]), int(config["seed"])
    except (ValueError, KeyError, TypeError) as e:
        raise StoreFormatError(f"{path / CONFIG_FILE} is not an RL config with env.name and seed "
                               f"({type(e).__name__}: {e}); is {path} an `earlyexp rl` "
                               "directory?") from e
    label = Path(str(config.get("init") or "rl")).name or "rl"
    run = Run(path, f"{env}/seed{seed}", env, seed, config, {}, [])
    _read_metrics(run, rl_label=label)
    run.rl_configs = {ws: config for ws in run.series}
    return run


def _read_metrics(run: Run, rl_label: str | None) -> None:
    """Fill `run.series` (stages rl/<ws>, or "rl" as `rl_label`) and `run.evals`."""
    if not (run.path / METRICS_FILE).is_file():
        return
    try:
        records = read_metrics(run.path / METRICS_FILE)
    except ValueError as e:
        raise StoreFormatError(str(e)) from e
    curves: dict[str, dict[str, dict[int, float]]] = {}
    for rec in records:
        stage, values = rec["stage"], rec["metrics"]
        if stage.startswith("rl/") or (stage == "rl" and rl_label):
            ws = curves.setdefault(stage[3:] if stage != "rl" else rl_label, {})
            for key, value in values.items():
                if value is not None:  # a resumed run re-logs a step: the last one wins
                    ws.setdefault(key, {})[int(rec["step"])] = float(value)
        elif stage.startswith("eval/") and stage.count("/") == 2:
            _, ws, split = stage.split("/")
            cell = run.evals.setdefault((ws, split, int(rec["step"])), {})
            cell.update({k: float(v) for k, v in values.items() if v is not None})
    run.series = {ws: {k: sorted(v.items()) for k, v in keys.items()}
                  for ws, keys in curves.items()}


# --- figures ----------------------------------------------------------------------
def _colour(warmstart: str, order: list[str]) -> str:
    return _COLOURS.get(warmstart) or _SPARE[order.index(warmstart) % len(_SPARE)]


def _warmstarts(runs: Sequence[Run]) -> list[str]:
    names = {r["warmstart"] for run in runs for r in run.results}
    names |= {ws for run in runs for ws in run.series}
    return sorted(names, key=lambda w: (w not in _COLOURS, list(_COLOURS).index(w)
                                        if w in _COLOURS else 0, w))


def _distinct_labels(runs: Sequence[Run]) -> list[str]:
    """Label runs `env/seedN`; runs that share that also get their directory's name, and
    `#i` (their position) when even that is shared."""
    for extend in (lambda i, run: f"{run.label}/{run.path.resolve().name}",
                   lambda i, run: f"{run.label}#{i + 1}"):
        labels = [run.label for run in runs]
        for i, run in enumerate(runs):
            if labels.count(run.label) > 1:
                run.label = extend(i, run)
    return [run.label for run in runs]


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


def iteration_axis(ax, floor: float | None = 0.0) -> None:
    """Integer iteration ticks; the y axis starts at `floor` (None: where the data says)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if floor is not None:
        ax.set_ylim(bottom=floor)


def first_key(series: dict[str, list], keys: Sequence[str]) -> str | None:
    """The first of `keys` a warm-start's series logged (a metric and its fallbacks)."""
    return next((k for k in keys if series.get(k)), None)


#: The acting policy's entropy, in order of preference: what the tracker logs for it,
#: the RL loop's rank-mode choice entropy, and the token entropy (generate mode).
ACTING_ENTROPY = ("policy_entropy", "rl/choice_entropy", "entropy")


def curve_figure(keys: str | Sequence[str], title: str, ylabel: str, scale: float = 1.0
                 ) -> Callable:
    """A figure function plotting the first of `keys` each (run, warm-start) logged against
    the RL iteration, one line each."""
    keys = (keys,) if isinstance(keys, str) else tuple(keys)

    def draw(runs: Sequence[Run]) -> Figure | str:
        lines = [(i, run, ws, key) for i, run in enumerate(runs)
                 for ws, series in run.series.items() if (key := first_key(series, keys))]
        if not lines:
            return f"no RL iteration logged {' or '.join(map(repr, keys))} (stage rl/<warmstart> in metrics.jsonl)"
        fig, ax = _figure(title, "RL iteration", ylabel)
        order = _warmstarts(runs)
        for i, run, ws, key in lines:
            pts = run.series[ws][key]
            suffix = f" ({key})" if len(keys) > 1 else ""
            ax.plot([s for s, _ in pts], [scale * v for _, v in pts], marker="." if len(pts) < 40
                    else None, color=_colour(ws, order), linestyle=_STYLES[i % len(_STYLES)],
                    label=_line_label(run, ws, runs) + suffix)
        iteration_axis(ax)
        ax.legend(fontsize=8)
        return fig
    draw.__doc__ = title
    return draw


FIGURES: list[tuple[str, Callable[[Sequence[Run]], Figure | str]]] = [
    ("success_before_after", success_bars),
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


class _Page:
    """The report as Markdown and self-contained HTML, written side by side."""

    def __init__(self, title: str, out: Path):
        self.out, self.md = out, [f"# {title}", ""]
        self.h = [f"<!doctype html><html><head><meta charset='utf-8'><title>"
                  f"{html.escape(title)}</title><style>{_CSS}</style></head><body>"
                  f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str, level: int = 2) -> None:
        self.md += [f"{'#' * level} {text}", ""]
        self.h.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def note(self, text: str) -> None:
        self.md += [f"*{text}*", ""]
        self.h.append(f"<p class='note'>{html.escape(text)}</p>")

    def text(self, markdown: str, plain: str) -> None:
        self.md += [markdown, ""]
        self.h.append(f"<p>{plain}</p>")

    def table(self, table: Table) -> None:
        if not table[1]:
            return self.note("none recorded")
        self.md += [_md_table(table), ""]
        self.h.append(_html_table(table))

    def figures(self, figures, runs: Sequence[Run]) -> None:
        for name, draw in figures:
            fig = draw(runs)
            if isinstance(fig, str):
                self.note(f"{name}: omitted, {fig}.")
                continue
            caption = (draw.__doc__ or name).strip().splitlines()[0]
            png = _png(fig)
            (self.out / "figures" / f"{name}.png").write_bytes(png)
            self.md += [f"![{name}](figures/{name}.png)", ""]
            self.h.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
                          f"{base64.b64encode(png).decode()}'><figcaption>"
                          f"{html.escape(caption)}</figcaption></figure>")

    def code(self, summary: str, text: str) -> None:
        self.md += [f"### {summary}", "", "```json", text, "```", ""]
        self.h.append(f"<details><summary>{html.escape(summary)}</summary>"
                      f"<pre>{html.escape(text)}</pre></details>")

    def write(self) -> Path:
        (self.out / "report.md").write_text("\n".join(self.md), encoding="utf-8")
        (self.out / "report.html").write_text("\n".join(self.h) + "</body></html>",
                                              encoding="utf-8")
        return self.out / "report.html"


def _configs(run: Run) -> list[tuple[str, dict]]:
    """What each part of a run ran with: the run's config, with the `rl` block replaced by
    each warm-start's own RL config where it was recorded (the pipeline's block leaves
    env, init and seed to be filled in per warm-start)."""
    if not run.results and run.rl_configs:  # a standalone RL run: its config is the RL config
        return [(f"{run.label} (earlyexp rl)", run.config)]
    main = dict(run.config)
    if run.rl_configs:
        main["rl"] = "(per warm-start, as run: below)"
    parts = [(run.label, main)]
    parts += [(f"{run.label}: RL from {ws} (rl/{ws}/final/rl.json)", cfg)
              for ws, cfg in sorted(run.rl_configs.items())]
    return parts


def _load_runs(run_dirs: list[str]) -> tuple[list[Run], list[tuple[str, str]]]:
    """The readable runs, and (dir, reason) for each that is not (yet) one. With a single
    directory an unreadable one is an error; among several it is left out with a note."""
    runs, skipped = [], []
    for d in run_dirs:
        try:
            runs.append(load_run(d))
        except StoreFormatError as e:
            if len(run_dirs) == 1:
                raise
            skipped.append((str(d), str(e)))
    if not runs:
        raise StoreFormatError("none of the run directories can be read: " + "; ".join(
            f"{d}: {reason}" for d, reason in skipped))
    return runs, skipped


def build_report(run_dirs: list[str], out_dir: str | None = None) -> Path:
    """Write `report.md` (figures under `figures/`) and a self-contained `report.html`.

    `out_dir` defaults to the run directory for one run, and to `report/` in the runs'
    common parent directory for several. Returns the path of report.html.
    """
    from earlyexp.training import report_collapse as collapse

    if not run_dirs:
        raise ValueError("build_report needs at least one run directory")
    runs, skipped = _load_runs(run_dirs)
    labels = _distinct_labels(runs)
    if out_dir is None:
        out = runs[0].path if len(runs) == 1 else \
            Path(os.path.commonpath([str(r.path.resolve()) for r in runs])) / "report"
    else:
        out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    page = _Page("Early-experience report: " + ", ".join(labels), out)
    sources = ", ".join(str(r.path) for r in runs)
    page.text(f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from `{sources}`",
              f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} from "
              f"<code>{html.escape(sources)}</code>")
    for path, reason in skipped:  # a partial or failed run: shown, the rest still reported
        page.note(f"Left out {path}: {reason}")
    page.heading("Success rates")
    page.table(comparison_table(runs))
    page.heading("Figures")
    page.figures(FIGURES, runs)
    page.heading("Entropy collapse")
    missing = collapse.missing_keys(runs)
    if missing:
        page.note("Not logged by any RL iteration: " + ", ".join(missing))
    page.figures(collapse.COLLAPSE_FIGURES, runs)
    page.heading("Collapse fit R = -a·exp(H) + b", 3)
    page.table(collapse.collapse_table(runs))
    page.heading("Update sparsity (fraction of parameters changed since the warm-start)", 3)
    page.table(collapse.sparsity_table(runs))
    page.heading("Diversity at the last RL iteration")
    page.table(last_iteration_table(runs))
    page.heading("Data sizes")
    page.table(data_sizes_table(runs))
    page.heading("Configuration")
    for run in runs:
        for summary, config in _configs(run):
            page.code(summary, json.dumps(config, indent=1, default=str, sort_keys=True))
    return page.write()


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
