"""The report's "Entropy collapse" section: does RL collapse the policy, and what helps?

Lines are grouped by (environment, warm-start, mitigation) — the mitigation read from
the RL config that ran (`policy_loss` clip_cov / kl_cov, `entropy_coef`, `kl_coef`) — and
runs that differ only in their seed are drawn as one line (the mean) with a band (their
range). Each figure renders whatever of its keys the runs' metrics.jsonl holds; the
section lists the keys no run logged.

    policy entropy (ACTING_ENTROPY), success, unique_query_ratio, search_calls_per_episode,
    template_entropy, vendi           vs RL iteration
    R vs H                            with the fit R = -a·exp(H) + b and its ceiling b - a,
                                      or the reason the fit is refused
    pass@k                            before vs after RL (evaluations; else the first and
                                      last RL iteration)
    logp_adv_cov, logp_adv_cov/top    vs RL iteration
    params/changed[/<layer type>]     vs RL iteration, and per layer type at the end
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from earlyexp.experience.collapse import fit_collapse
from earlyexp.training.report import (
    _STYLES, ACTING_ENTROPY, Run, Table, _colour, _figure, _warmstarts, first_key, iteration_axis,
)

Series = dict[str, list[tuple[int, float]]]
GroupKey = tuple[str, str, str]   # (env, warm-start, mitigation)


def mitigation(rl: Mapping) -> str:
    """The collapse mitigation an RL config ran with: "none", or its parts joined by "+"
    (`clip_cov`, `kl_cov`, `entropy 0.01`, `KL 0.05`)."""
    parts = [str(rl["policy_loss"])] if rl.get("policy_loss") not in (None, "clip") else []
    if float(rl.get("entropy_coef") or 0) > 0:
        parts.append(f"entropy {float(rl['entropy_coef']):g}")
    if float(rl.get("kl_coef") or 0) > 0:
        parts.append(f"KL {float(rl['kl_coef']):g}")
    return "+".join(parts) or "none"


def grouped(runs: Sequence[Run]) -> dict[GroupKey, list[tuple[Run, Series]]]:
    """RL series grouped by (env, warm-start, mitigation): the seeds of one setting."""
    out: dict[GroupKey, list[tuple[Run, Series]]] = {}
    for run in runs:
        for ws, series in run.series.items():
            out.setdefault((run.env, ws, mitigation(run.rl_config(ws))), []).append((run, series))
    return out


def _group_label(key: GroupKey, n_seeds: int, envs: set[str]) -> str:
    env, ws, mit = key
    label = f"{ws} · {mit}" if mit != "none" else ws
    label = f"{env}/{label}" if len(envs) > 1 else label
    return f"{label} ({n_seeds} seeds)" if n_seeds > 1 else label


def band_figure(keys: str | Sequence[str], title: str, ylabel: str, scale: float = 1.0,
                floor: float | None = 0.0) -> Callable[[Sequence[Run]], Figure | str]:
    """Metric (the first of `keys` each series logged) vs RL iteration: one line per
    setting, the mean over its seeds, with the seeds' range as a band."""
    keys = (keys,) if isinstance(keys, str) else tuple(keys)

    def draw(runs: Sequence[Run]) -> Figure | str:
        lines = []
        for key, members in grouped(runs).items():
            points: dict[int, list[float]] = {}
            used = set()
            for _, series in members:
                if (name := first_key(series, keys)) is not None:
                    used.add(name)
                    for step, value in series[name]:
                        points.setdefault(step, []).append(scale * value)
            if points:
                lines.append((key, len(members), sorted(used), sorted(points.items())))
        if not lines:
            return f"no RL iteration logged {' or '.join(map(repr, keys))}"
        fig, ax = _figure(title, "RL iteration", ylabel)
        order, mits = _warmstarts(runs), sorted({k[2] for k, *_ in lines})
        envs = {k[0] for k, *_ in lines}
        for key, n_seeds, used, pts in lines:
            steps = [s for s, _ in pts]
            colour, style = _colour(key[1], order), _STYLES[mits.index(key[2]) % len(_STYLES)]
            label = _group_label(key, n_seeds, envs)
            label += f" [{', '.join(used)}]" if len(keys) > 1 else ""
            ax.plot(steps, [np.mean(v) for _, v in pts], color=colour, linestyle=style,
                    marker="." if len(pts) < 40 else None, label=label)
            if n_seeds > 1:
                ax.fill_between(steps, [min(v) for _, v in pts], [max(v) for _, v in pts],
                                color=colour, alpha=0.15, linewidth=0)
        iteration_axis(ax, floor)
        if floor is None:
            ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.legend(fontsize=7)
        return fig
    draw.__doc__ = title
    return draw


# --- R vs H -----------------------------------------------------------------------------
def fit_inputs(series: Series) -> tuple[str | None, list[float], list[float], list[float] | None]:
    """(entropy key, H per iteration, R per iteration, episodes per iteration or None)."""
    key = first_key(series, ACTING_ENTROPY)
    if key is None:
        return None, [], [], None
    success, episodes = dict(series.get("success", [])), dict(series.get("rl/episodes", []))
    steps = [s for s, _ in series[key] if s in success]
    entropy = dict(series[key])
    counts = [episodes[s] for s in steps] if all(s in episodes for s in steps) else None
    return key, [entropy[s] for s in steps], [success[s] for s in steps], counts


def collapse_figure(runs: Sequence[Run]) -> Figure | str:
    """Success vs the acting policy's entropy per RL iteration, with R = -a·exp(H) + b."""
    rows = [(i, run, ws, *fit_inputs(series)) for i, run in enumerate(runs)
            for ws, series in run.series.items()]
    rows = [r for r in rows if r[4]]
    if not rows:
        return "no RL iteration logged both an entropy and 'success'"
    keys = sorted({r[3] for r in rows})
    fig, ax = _figure("Collapse fit R = -a·exp(H) + b (dashed: ceiling b - a)",
                      f"policy entropy H (nats; {', '.join(keys)})", "success rate (%)",
                      width=7.2)
    order = _warmstarts(runs)
    for i, run, ws, _, hs, rs, episodes in rows:
        colour = _colour(ws, order)
        label = f"{ws} · {run.label}" if len(runs) > 1 else ws
        fit = fit_collapse(hs, rs, episodes=episodes)
        ax.scatter(hs, [100 * r for r in rs], color=colour, s=14)
        if not fit.ok:
            ax.plot([], [], color=colour, label=f"{label}: no fit ({fit.reason[:70]})")
            continue
        grid = np.linspace(0.0, max(hs) * 1.05, 100)
        no_ceiling = _ceiling_note(fit)  # '' when b - a is a ceiling within 0-100%
        ceiling = no_ceiling or f"ceiling {100 * fit.ceiling:.1f}%"
        ax.plot(grid, 100 * fit.predict(grid), color=colour, linestyle=_STYLES[i % len(_STYLES)],
                label=f"{label}: R²={fit.r2:.2f}, {ceiling}")
        if not no_ceiling:
            ax.axhline(100 * fit.ceiling, color=colour, linestyle="--", linewidth=0.8)
    ax.set_xlim(left=0.0)
    ax.set_ylim(-2, 105)  # success is a rate; a fit that leaves [0, 100] is labelled, not drawn
    ax.legend(fontsize=6)
    return fig


def _ceiling_note(fit) -> str:
    """Why b - a is not a ceiling, or '' when it is one."""
    if fit.a <= 0:
        # R = -a·exp(H) + b then rises with H: lowering entropy lowers success, the
        # opposite of the trade-off the model describes, and b - a is its lowest value.
        return "a <= 0: success rises with entropy here; b - a is no ceiling"
    if not 0 <= fit.ceiling <= 1:
        return "ceiling outside 0-100%: not credible"
    return ""


def collapse_table(runs: Sequence[Run]) -> Table:
    """One row per (run, warm-start): the fit on every iteration, or why there is none."""
    rows = []
    for run in runs:
        for ws, series in run.series.items():
            key, hs, rs, episodes = fit_inputs(series)
            fit = fit_collapse(hs, rs, episodes=episodes)
            mit = mitigation(run.rl_config(ws))
            if fit.ok:
                note = _ceiling_note(fit)
                holdout = (f"{fit.holdout_rmse:.3g} ({fit.holdout_n} pts)"
                           if fit.holdout_rmse is not None else fit.holdout_reason or "—")
                nums = [f"{fit.a:.4g}", f"{fit.b:.4g}", f"{100 * fit.ceiling:.1f}%",
                        f"{fit.rmse:.3g}", f"{fit.r2:.3f}", holdout, note]
            else:
                nums = ["—"] * 6 + [fit.reason or ""]
            rows.append([run.label, ws, mit, key or "—", str(fit.n), *nums])
    return (["run", "warm-start", "mitigation", "entropy", "points", "a", "b", "ceiling b - a",
             "RMSE", "R²", "2nd-half RMSE (fit on 1st half)", "note"], rows)


# --- pass@k before / after ---------------------------------------------------------------
def _pass_curves(run: Run, ws: str) -> tuple[str, dict[int, float], dict[int, float]] | None:
    """("test" / "RL iterations a→b", pass@k before, pass@k after) or None."""
    def ks(values: Mapping[str, float]) -> dict[int, float]:
        return {int(k[5:]): v for k, v in values.items() if k.startswith("pass@")}

    for split in sorted({s for w, s, _ in run.evals if w == ws}, key=lambda s: s != "test"):
        before, after = ks(run.evals.get((ws, split, 0), {})), ks(run.evals.get((ws, split, 1), {}))
        if before and after:
            return f"eval {split}", before, after
    series = run.series.get(ws, {})
    names = [k for k in series if k.startswith("pass@")]
    if not names:
        return None
    first, last = min(s for k in names for s, _ in series[k]), max(s for k in names for s, _ in series[k])
    pick = {step: {int(k[5:]): dict(series[k])[step] for k in names if step in dict(series[k])}
            for step in (first, last)}
    return f"RL iteration {first}→{last}", pick[first], pick[last]


def pass_k_figure(runs: Sequence[Run]) -> Figure | str:
    """pass@k against k before (dashed) and after (solid) RL, per warm-start."""
    curves = [(run, ws, c) for run in runs for ws in sorted({*run.series, *(w for w, _, _ in
                                                                           run.evals)})
              if (c := _pass_curves(run, ws))]
    if not curves:
        return "no evaluation or RL iteration logged pass@k"
    fig, ax = _figure("pass@k before (dashed) and after (solid) RL", "k", "pass@k (%)")
    order = _warmstarts(runs)
    for run, ws, (source, before, after) in curves:
        colour = _colour(ws, order)
        label = f"{ws} · {run.label}" if len(runs) > 1 else ws
        for values, style, when in ((before, "--", "before"), (after, "-", "after")):
            k = sorted(values)
            ax.plot(k, [100 * values[i] for i in k], color=colour, linestyle=style, marker="o",
                    markersize=3, label=f"{label} {when} ({source})")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 105)
    ax.legend(fontsize=6)
    return fig


# --- update sparsity ---------------------------------------------------------------------
def sparsity_table(runs: Sequence[Run]) -> Table:
    """Fraction of parameters changed since the warm-start, overall and per layer type,
    at the last iteration that logged it."""
    names = sorted({k for run in runs for s in run.series.values() for k in s
                    if k.startswith("params/changed")}, key=lambda k: (k != "params/changed", k))
    rows = []
    for run in runs:
        for ws, series in run.series.items():
            if any(series.get(k) for k in names):
                last = max(series[k][-1][0] for k in names if series.get(k))
                rows.append([run.label, ws, str(last), *[
                    f"{dict(series[k]).get(last, float('nan')):.4f}" if series.get(k) else "—"
                    for k in names]])
    return ["run", "warm-start", "iteration", *[k.replace("params/changed", "changed") or k
                                                  for k in names]], rows


# --- the section -------------------------------------------------------------------------
COLLAPSE_FIGURES: list[tuple[str, Callable[[Sequence[Run]], Figure | str]]] = [
    ("policy_entropy_vs_iteration", band_figure(
        ACTING_ENTROPY, "Acting policy entropy vs RL iteration", "entropy (nats)")),
    ("success_vs_iteration", band_figure("success", "Training success vs RL iteration",
                                         "success rate (%)", 100.0)),
    ("unique_query_ratio_vs_iteration", band_figure(
        "unique_query_ratio", "Unique-query ratio vs RL iteration", "unique / total queries")),
    ("searches_per_episode_vs_iteration", band_figure(
        "search_calls_per_episode", "Searches per episode vs RL iteration", "calls / episode")),
    ("template_entropy_vs_iteration", band_figure(
        "template_entropy", "Action-template entropy vs RL iteration", "entropy (nats)")),
    ("vendi_vs_iteration", band_figure("vendi", "Vendi score of trajectories vs RL iteration",
                                       "effective # trajectories")),
    ("collapse_fit", collapse_figure),
    ("pass_k_before_after", pass_k_figure),
    ("cov_vs_iteration", band_figure("logp_adv_cov", "Cov(log π, A) vs RL iteration",
                                     "covariance (nats)", floor=None)),
    ("cov_top_vs_iteration", band_figure("logp_adv_cov/top",
                                         "Cov(log π, A) of the top tokens vs RL iteration",
                                         "mean top-token term (nats)", floor=None)),
    ("update_sparsity_vs_iteration", band_figure(
        "params/changed", "Parameters changed since the warm-start vs RL iteration",
        "fraction of parameters")),
]
#: The keys the section reads (the entropy: any of ACTING_ENTROPY).
COLLAPSE_KEYS = ("success", "unique_query_ratio", "search_calls_per_episode",
                 "template_entropy", "vendi", "logp_adv_cov", "logp_adv_cov/top",
                 "params/changed")


def missing_keys(runs: Sequence[Run]) -> list[str]:
    """The section's keys that no RL iteration of `runs` logged."""
    logged = {k for run in runs for series in run.series.values() for k, v in series.items() if v}
    missing = [k for k in COLLAPSE_KEYS if k not in logged]
    if not logged & set(ACTING_ENTROPY):
        missing.insert(0, " / ".join(ACTING_ENTROPY))
    if not any(k.startswith("pass@") for k in logged) and not any(
            k.startswith("pass@") for run in runs for v in run.evals.values() for k in v):
        missing.append("pass@k")
    return missing
