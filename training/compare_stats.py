"""Statistics of a comparison across seeds: means with bootstrap intervals, paired
differences between methods.

A comparison has strata, one per training seed (one pipeline cell each), and in each
stratum the evaluation episodes, each a (task, evaluation seed) with a 0/1 success.

    mean over seeds     the mean of the per-seed success rates; its 95% interval is the
                        stratified percentile bootstrap: each seed's episodes resampled
                        with replacement within the seed, the per-seed means averaged
                        (episode noise; the spread between seeds is reported next to it)
    paired difference   method − IL on the same episodes: in each seed, the episodes of
                        both matched by (task, evaluation seed), d = y_method − y_IL; the
                        mean over seeds of the mean d, with the same stratified bootstrap
                        over the pairs. Matching removes the task-difficulty variance that
                        two independent intervals would carry. Where a run stored no
                        episodes, the difference is unpaired: each side resampled on its own

`stratified_bootstrap` is the one resampling routine (numpy, seeded).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 4000
LEVEL = 0.95
Z = 1.959963984540054           # the two-sided 95% normal quantile, for Wilson's interval


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    n: int                      # episodes (or pairs) behind it
    strata: int                 # seeds behind it
    paired: bool = True
    wilson: bool = False        # no variation in the outcomes: Wilson's interval, not bootstrap

    def pp(self, signed: bool = False) -> str:
        """'41.2 [35.0, 47.5]' in percentage points; '0.0 [0.0, 8.8]*' for Wilson's."""
        sign = "+" if signed else ""
        mark = "*" if self.wilson else ""
        return (f"{100 * self.mean:{sign}.1f} [{100 * self.lo:{sign}.1f}, "
                f"{100 * self.hi:{sign}.1f}]{mark}")

    @property
    def resolved(self) -> bool:
        """The interval excludes zero."""
        return self.lo > 0 or self.hi < 0


def stratified_bootstrap(strata: Sequence[np.ndarray], samples: int = BOOTSTRAP_SAMPLES,
                         seed: int = 0, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean over strata of each stratum's mean, and the percentile
    interval of that statistic when each stratum is resampled with replacement."""
    strata = [np.asarray(s, dtype=float) for s in strata if len(s)]
    if not strata:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    point = float(np.mean([s.mean() for s in strata]))
    boot = np.zeros(samples)
    for s in strata:
        boot += s[rng.integers(0, len(s), size=(samples, len(s)))].mean(axis=1)  # [samples]
    boot /= len(strata)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return point, float(lo), float(hi)


def wilson_interval(wins: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion of `wins` in `n`."""
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def _constant(strata: Sequence[np.ndarray]) -> float | None:
    """The one value every outcome takes, or None if they vary."""
    values = np.concatenate([np.asarray(s, dtype=float) for s in strata]) if strata else []
    return float(values[0]) if len(values) and np.all(values == values[0]) else None


def mean_over_seeds(outcomes: Sequence[np.ndarray], seed: int = 0) -> Estimate:
    """Success over seeds: `outcomes[i]` holds seed i's 0/1 episode successes."""
    n = sum(len(o) for o in outcomes)
    value = _constant(outcomes)
    if value in (0.0, 1.0):                 # all failures or all successes
        lo, hi = wilson_interval(value * n, n)
        return Estimate(value, lo, hi, n, len(outcomes), wilson=True)
    mean, lo, hi = stratified_bootstrap(outcomes, seed=seed)
    return Estimate(mean, lo, hi, n, len(outcomes))


def paired_difference(pairs: Sequence[tuple[dict, dict]], seed: int = 0) -> Estimate:
    """Method − baseline over seeds. `pairs[i]` = (method's, baseline's) episodes of seed
    i as {(task, eval seed): success}; the keys both have are paired. Where either side
    has no keys (no stored episodes), pass arrays in `unpaired_difference` instead."""
    diffs = []
    for method, base in pairs:
        common = sorted(set(method) & set(base))
        diffs.append(np.array([float(method[k]) - float(base[k]) for k in common]))
    n, strata = sum(len(d) for d in diffs), sum(len(d) > 0 for d in diffs)
    if n and _constant(diffs) == 0.0:       # no discordant pair
        bound = wilson_interval(0, n)[1]
        return Estimate(0.0, -bound, bound, n, strata, wilson=True)
    mean, lo, hi = stratified_bootstrap(diffs, seed=seed)
    return Estimate(mean, lo, hi, n, strata)


def unpaired_difference(method: Sequence[np.ndarray], base: Sequence[np.ndarray],
                        seed: int = 0) -> Estimate:
    """Method − baseline when episodes cannot be matched: both bootstrapped on their own
    (the same generator, one after the other) and subtracted sample by sample."""
    rng = np.random.default_rng(seed)
    a = _boot_means(method, rng)
    b = _boot_means(base, rng)
    point = float(np.mean([m.mean() for m in method]) - np.mean([x.mean() for x in base]))
    tail = 100 * (1 - LEVEL) / 2
    lo, hi = np.percentile(a - b, [tail, 100 - tail])
    return Estimate(point, float(lo), float(hi), sum(len(m) for m in method), len(method),
                    paired=False)


def _boot_means(strata: Sequence[np.ndarray], rng) -> np.ndarray:
    out = np.zeros(BOOTSTRAP_SAMPLES)
    for s in strata:
        s = np.asarray(s, dtype=float)
        out += s[rng.integers(0, len(s), size=(BOOTSTRAP_SAMPLES, len(s)))].mean(axis=1)
    return out / len(strata)


def outcomes_from_summary(success: float, episodes: int) -> np.ndarray:
    """The 0/1 outcomes a summary stands for (success = wins / episodes, exactly)."""
    wins = int(round(success * episodes))
    return np.array([1.0] * wins + [0.0] * (episodes - wins))
