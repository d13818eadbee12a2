"""Benchmark the Vendi score of trajectories against a naive implementation, same process.

`vendi_score` folds duplicate trajectories into weights and solves a u x u eigenproblem
(u = distinct trajectories) on sparse n-gram features; the naive baseline builds the
n x n cosine matrix pair by pair from Counter bags and takes all n eigenvalues. Two
workloads of n trajectories (20 actions each, over 30 distinct actions): `diverse`
(every trajectory random) and `collapsed` (90% copies of 4 strategies, as after RL
entropy collapse). The two results must agree; prints one JSON line with both timings.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import time
from collections import Counter

import numpy as np

from earlyexp.experience.diversity import canonical_episode, vendi_score

SIZES, REPEATS = (64, 512), 3


def naive_vendi(episodes) -> float:
    bags = []
    for e in episodes:
        units = canonical_episode(e)
        bags.append(Counter([(u,) for u in units] + list(itertools.pairwise(units))) or
                    Counter({("<empty>",): 1}))
    n = len(bags)
    k = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            dot = sum(c * bags[j].get(g, 0) for g, c in bags[i].items())
            k[i, j] = dot / math.sqrt(sum(c * c for c in bags[i].values()) *
                                      sum(c * c for c in bags[j].values()))
    lam = np.clip(np.linalg.eigvalsh(k / n), 0, None)
    lam = lam[lam > 1e-12] / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def workload(n: int, collapsed: bool, rng: random.Random) -> list[list[str]]:
    actions = [f"go to room {i}" for i in range(30)]
    strategies = [[rng.choice(actions) for _ in range(20)] for _ in range(4)]
    return [list(rng.choice(strategies)) if collapsed and rng.random() < 0.9
            else [rng.choice(actions) for _ in range(20)] for _ in range(n)]


def best_time(fn, *args) -> tuple[float, float]:
    times, value = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        value = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), value


def main() -> None:
    rng, out = random.Random(0), {"benchmark": "vendi_score", "repeats": REPEATS, "cases": []}
    for n in SIZES:
        for collapsed in (False, True):
            episodes = workload(n, collapsed, rng)
            fast_s, fast = best_time(vendi_score, episodes)
            naive_s, naive = best_time(naive_vendi, episodes)
            if not math.isclose(fast, naive, rel_tol=1e-6):
                raise SystemExit(f"vendi mismatch n={n}: {fast} vs naive {naive}")
            out["cases"].append({"n": n, "workload": "collapsed" if collapsed else "diverse",
                                 "vendi": round(fast, 4), "ms": round(1e3 * fast_s, 2),
                                 "naive_ms": round(1e3 * naive_s, 2),
                                 "speedup": round(naive_s / fast_s, 1)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
