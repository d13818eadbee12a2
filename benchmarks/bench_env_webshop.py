"""WebShop env: steps/s, native vs replay snapshot+restore, BM25 search latency, HTTP pages/s.

Prints one JSON line. Runs on the registered default (5,000 products); the
first run generates and caches the catalog, later runs read the cache.
"""
from __future__ import annotations

import json
import random
import time
import urllib.parse
import urllib.request

from earlyexp import envs
from earlyexp.envs.webshop.server import running_server


def steps_per_second(env, episodes: int = 200) -> float:
    """Expert episodes with a random admissible detour every third step."""
    rng, steps, start = random.Random(0), 0, time.perf_counter()
    for task_id in env.tasks("train")[:episodes]:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        for turn in range(env.max_steps):
            action = info["expert_action"] if turn % 3 else rng.choice(info["admissible_actions"])
            _obs, _, term, trunc, info = env.step(action)
            steps += 1
            if term or trunc:
                break
    return steps / (time.perf_counter() - start)


def snapshot_restore_ms(env, mode: str, repeats: int) -> float:
    """Mean time of one snapshot plus one restore, four steps into an episode."""
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    for _ in range(4):
        *_, info = env.step(info["expert_action"])
    start = time.perf_counter()
    for _ in range(repeats):
        env.restore(env.snapshot(mode=mode))
    return 1000 * (time.perf_counter() - start) / repeats


def search_ms(env, queries: int = 500) -> float:
    tasks = [env.shop.task(t) for t in env.tasks("test")[:queries]]
    start = time.perf_counter()
    for task in tasks:
        env.shop.index.search(task.expert_query)
    return 1000 * (time.perf_counter() - start) / len(tasks)


def http_pages_per_second(pages: int = 200) -> float:
    """Button clicks through the web site (POST, redirect, GET), Next > and < Prev in turn."""
    with running_server() as base:
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            url = response.url
        urllib.request.urlopen(url, data=b"query=shirt", timeout=10).read()
        start = time.perf_counter()
        for i in range(pages):
            button = urllib.parse.urlencode({"button": "Next >" if i % 2 == 0 else "< Prev"})
            urllib.request.urlopen(url, data=button.encode(), timeout=10).read()
        return pages / (time.perf_counter() - start)


def main() -> None:
    env = envs.make("webshop")
    native = snapshot_restore_ms(env, "auto", 2000)
    replay = snapshot_restore_ms(env, "replay", 100)
    print(json.dumps({
        "benchmark": "env_webshop",
        "num_products": len(env.shop.products),
        "steps_per_s": round(steps_per_second(env), 1),
        "snapshot_restore_ms": round(native, 4),
        "replay_restore_ms": round(replay, 4),
        "native_vs_replay_ratio": round(replay / native, 1),
        "search_ms": round(search_ms(env), 3),
        "http_pages_per_s": round(http_pages_per_second(), 1),
    }))


if __name__ == "__main__":
    main()
