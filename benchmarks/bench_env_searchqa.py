"""Benchmark of the searchqa family on its default configuration (20,000 passages).

Prints one JSON line: expert-episode steps per second; snapshot+restore time
of the native snapshot and of the base class's replay fallback, measured in
this process at the same state (three searches into a 3-hop task); and the
family's own figures: corpus generation plus index build time in a fresh
cache, load time from the cache, mean search latency, and the share of the
expert's searches that bring back the passage they are meant to (recall@k).
"""
from __future__ import annotations

import json
import os
import tempfile
import time


def timed(fn, repeat: int) -> float:
    """Mean seconds per call of `fn` over `repeat` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def expert_steps_per_second(env, task_ids: list[str]) -> tuple[float, float]:
    steps, solved, start = 0, 0, time.perf_counter()
    for task_id in task_ids:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(info["expert_action"])
            steps, done = steps + 1, terminated or truncated
        solved += info["success"]
    return steps / (time.perf_counter() - start), solved / len(task_ids)


def snapshot_restore_ms(env, task_id: str) -> tuple[float, float]:
    _, info = env.reset(seed=0, options={"task_id": task_id})
    for _ in range(3):
        _, _, _, _, info = env.step(info["expert_action"])
    native = timed(lambda: env.restore(env.snapshot()), 300)
    replay = timed(lambda: env.restore(env.snapshot(mode="replay")), 100)
    return native * 1e3, replay * 1e3


def search_figures(env) -> tuple[float, float]:
    bundle = env.bundle
    hops = [h for questions in bundle.questions.values() for q in questions for h in q.hops]
    start, found = time.perf_counter(), 0
    for hop in hops:
        ids = {bundle.passages[i].id for i in bundle.index.search(hop.query, env.top_k)}
        found += hop.passage_id in ids
    return (time.perf_counter() - start) / len(hops) * 1e3, found / len(hops)


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EARLYEXP_CACHE"] = cache  # a fresh cache: the build is really measured
        from earlyexp.envs.searchqa import data

        from earlyexp import envs

        start = time.perf_counter()
        envs.make("searchqa")
        build_s = time.perf_counter() - start
        data.forget_loaded()
        start = time.perf_counter()
        env = envs.make("searchqa")
        load_s = time.perf_counter() - start

        tasks = env.tasks("train")[:200] + env.tasks("test")[:100] + env.tasks("ood")[:100]
        steps_per_s, expert_success = expert_steps_per_second(env, tasks)
        native_ms, replay_ms = snapshot_restore_ms(env, env.tasks("ood")[0])
        search_ms, recall = search_figures(env)
    print(json.dumps({
        "benchmark": "env_searchqa",
        "passages": len(env.bundle.passages),
        "steps_per_s": round(steps_per_s, 1),
        "expert_success": round(expert_success, 4),
        "snapshot_restore_ms": round(native_ms, 4),
        "replay_restore_ms": round(replay_ms, 3),
        "native_vs_replay_ratio": round(replay_ms / native_ms, 1),
        "generate_and_index_s": round(build_s, 2),
        "cached_load_s": round(load_s, 3),
        "search_ms": round(search_ms, 3),
        f"expert_hop_recall_at_{env.top_k}": round(recall, 4),
    }))


if __name__ == "__main__":
    main()
