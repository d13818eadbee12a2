"""Comparison statistics against a numpy bootstrap written here, and by hand."""
from __future__ import annotations

import numpy as np
import pytest

from earlyexp.training.compare_stats import (
    mean_over_seeds, outcomes_from_summary, paired_difference, stratified_bootstrap,
    unpaired_difference,
)


def reference_bootstrap(strata, samples, seed):
    """A per-sample loop: draw each stratum with replacement, average the stratum means."""
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(samples):
        stats.append(np.mean([rng.choice(s, size=len(s), replace=True).mean() for s in strata]))
    return np.percentile(stats, [2.5, 97.5])


def test_stratified_bootstrap_matches_a_reference_and_the_normal_approximation():
    rng = np.random.default_rng(7)
    strata = [rng.binomial(1, 0.3, size=60).astype(float),
              rng.binomial(1, 0.5, size=40).astype(float)]
    mean, lo, hi = stratified_bootstrap(strata, samples=20000, seed=1)
    assert mean == pytest.approx((strata[0].mean() + strata[1].mean()) / 2)
    ref_lo, ref_hi = reference_bootstrap(strata, 20000, seed=2)
    assert lo == pytest.approx(ref_lo, abs=0.01) and hi == pytest.approx(ref_hi, abs=0.01)
    # the variance of a mean of two stratum means: (v0/n0 + v1/n1) / 4
    se = np.sqrt(sum(s.var() / len(s) for s in strata)) / 2
    assert lo == pytest.approx(mean - 1.96 * se, abs=0.012)
    assert hi == pytest.approx(mean + 1.96 * se, abs=0.012)


def test_paired_difference_pairs_by_task_and_seed_and_removes_task_variance():
    rng = np.random.default_rng(3)
    seeds = []
    for _ in range(2):
        easy = {(f"t{i}", 1000): bool(rng.random() < (0.9 if i % 2 else 0.1)) for i in range(80)}
        better = dict(easy)
        for key in list(better)[:8]:  # the method wins 8 episodes IL lost, loses none
            better[key] = True
        extra = {("only-method", 1000): True}  # unmatched episodes are left out
        seeds.append(({**better, **extra}, easy))
    e = paired_difference(seeds)
    by_hand = np.mean([np.mean([float(m[k]) - float(b[k]) for k in b]) for m, b in seeds])
    assert e.mean == pytest.approx(by_hand) and e.n == 160 and e.strata == 2 and e.paired
    assert e.lo >= 0  # every pair's difference is >= 0: no resample goes below zero
    ref_lo, ref_hi = reference_bootstrap(
        [np.array([float(m[k]) - float(b[k]) for k in b]) for m, b in seeds], 8000, seed=5)
    assert (e.lo, e.hi) == pytest.approx((ref_lo, ref_hi), abs=0.012)
    unpaired = unpaired_difference([np.array([float(v) for v in m.values()]) for m, _ in seeds],
                                   [np.array([float(v) for v in b.values()]) for _, b in seeds])
    assert not unpaired.paired and (unpaired.hi - unpaired.lo) > 2 * (e.hi - e.lo)


def test_summary_outcomes_and_mean_over_seeds():
    out = outcomes_from_summary(0.375, 8)
    assert out.sum() == 3 and len(out) == 8
    e = mean_over_seeds([out, outcomes_from_summary(0.5, 4)])
    assert e.mean == pytest.approx((0.375 + 0.5) / 2) and e.n == 12 and e.strata == 2
    assert e.lo <= e.mean <= e.hi
    assert e.pp() == f"{100 * e.mean:.1f} [{100 * e.lo:.1f}, {100 * e.hi:.1f}]"
