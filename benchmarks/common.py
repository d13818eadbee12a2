"""Shared helpers for the benchmarks: each benchmark prints exactly one JSON line."""
from __future__ import annotations

import json
import resource
import sys


def emit(**fields) -> None:
    """Print one JSON line with the benchmark's measurements."""
    print(json.dumps(fields), flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corridor_text() -> list[str]:
    """Text to train a tokenizer on, from the corridor test environment."""
    import earlyexp.envs as envs
    from earlyexp.agents.prompts import State, render

    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    env = envs.make("corridor")
    texts = []
    for task in env.tasks("train"):
        obs, info = env.reset(seed=0, options={"task_id": task})
        state = State(info["goal"], obs, [], info["admissible_actions"])
        while info["expert_action"] and len(texts) < 2000:
            texts.append(render(state) + " " + info["expert_action"])
            obs, _, term, trunc, info = env.step(info["expert_action"])
            state = state.advance(texts[-1].rsplit(" ", 1)[-1], obs, info["admissible_actions"])
            if term or trunc:
                break
    return texts


if __name__ == "__main__":
    sys.exit("benchmarks/common.py is a helper module; run the bench_*.py files")
