"""Does a warm-start search? The first action of each checkpoint on test questions.

    python benchmarks/search_first_actions.py RUN_DIR [METHOD ...] [--tasks N]

For every warm-start of a pipeline run directory (`RUN_DIR/warmstart/<method>`, all of
them by default) the checkpoint acts once on the first state of `--tasks` questions of
the evaluation split, as the pipeline evaluates it (`eval.mode`, `eval.temperature`,
the run's prompt format, from RUN_DIR/run.json). Prints one JSON line per method: the
share of first actions the environment accepts (for searchqa: one well-formed
`<search>` or `<answer>` block), of searches and of answers, an example, and the
before-RL success the pipeline recorded. A collapse study needs a warm-start whose
first actions are mostly valid searches. Not part of `make bench` (no bench_ prefix).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import emit


def first_actions(run_dir: Path, method: str, tasks: int) -> dict:
    from earlyexp.agents.actors import LMAgent
    from earlyexp.agents.hf_policy import load_policy
    from earlyexp.agents.prompts import State
    from earlyexp.experience.collect import EnvConfig

    record = json.loads((run_dir / "run.json").read_text())
    config = record["config"]
    ev = {**config["eval"], "split": (config.get("eval_splits") or [config["eval"]["split"]])[0]}
    env_cfg = EnvConfig(**config["env"])
    policy = load_policy(run_dir / "warmstart" / method, "cpu")
    agent = LMAgent(policy, ev["mode"], env_cfg.prompt_format(), ev["temperature"],
                    ev["max_new_tokens"], seed=ev["seed"])
    env = env_cfg.make()
    try:
        states, infos, task_ids = [], [], env.tasks(ev["split"])[:tasks]
        for i, task in enumerate(task_ids):
            obs, info = env.reset(seed=ev["seed"] + i, options={"task_id": task})
            states.append(State(info["goal"], obs, [], info["admissible_actions"]))
            infos.append(info)
        actions = [d.action or "" for d in agent.act(states, infos)]
        valid = searches = answers = 0
        for i, (task, action) in enumerate(zip(task_ids, actions)):
            env.reset(seed=ev["seed"] + i, options={"task_id": task})
            _, _, terminated, _, info = env.step(action)
            valid += bool(info["valid_action"])
            searches += env.search_query(action) is not None and bool(info["valid_action"])
            answers += bool(info["valid_action"]) and terminated
    finally:
        env.close()
    before = [r["success"] for r in record["results"]
              if r["warmstart"] == method and r["phase"] == "before_rl"
              and r["split"] == ev["split"]]
    n = len(actions)
    return {"method": method, "split": ev["split"], "questions": n, "mode": ev["mode"],
            "temperature": ev["temperature"], "first_action_valid": valid / n,
            "first_action_search": searches / n, "first_action_answer": answers / n,
            "example": actions[0], "success_before_rl": before[0] if before else None}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("methods", nargs="*")
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args(argv)
    methods = args.methods or sorted(p.name for p in (args.run_dir / "warmstart").iterdir()
                                     if (p / "warmstart.json").is_file())
    for method in methods:
        emit(**first_actions(args.run_dir, method, args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
