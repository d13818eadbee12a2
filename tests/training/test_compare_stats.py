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


def test_no_variation_gives_wilsons_interval_not_a_zero_width_bootstrap():
    # 0 of 40 (two seeds of 20): Wilson's upper bound z^2 / (n + z^2), by hand
    z2 = 1.959963984540054 ** 2
    e = mean_over_seeds([np.zeros(20), np.zeros(20)])
    assert e.wilson and (e.mean, e.lo) == (0.0, 0.0)
    assert e.hi == pytest.approx(z2 / (40 + z2))          # 0.0876
    assert e.pp() == "0.0 [0.0, 8.8]*"
    # 30 of 30: the mirror image
    e = mean_over_seeds([np.ones(30)])
    assert e.wilson and e.lo == pytest.approx(30 / (30 + z2)) and e.hi == pytest.approx(1.0)
    # any variation keeps the bootstrap
    assert not mean_over_seeds([np.array([0.0] * 19 + [1.0])]).wilson


def test_a_paired_difference_with_no_disagreeing_pair_is_bounded_by_wilson():
    z2 = 1.959963984540054 ** 2
    both_fail = {(f"t{i}", 0): False for i in range(25)}
    e = paired_difference([(both_fail, dict(both_fail)), (both_fail, dict(both_fail))])
    assert e.wilson and e.mean == 0.0 and not e.resolved
    assert e.hi == pytest.approx(z2 / (50 + z2)) and e.lo == pytest.approx(-e.hi)
    # agreeing successes too: still no disagreeing pair
    mixed = {(f"t{i}", 0): i % 2 == 0 for i in range(25)}
    assert paired_difference([(mixed, dict(mixed))]).wilson
    # one disagreeing pair: the bootstrap again
    other = {**mixed, ("t1", 0): True}
    assert not paired_difference([(other, mixed)]).wilson
