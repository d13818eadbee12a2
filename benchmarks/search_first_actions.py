"""Does a warm-start search? The first action of each checkpoint on test questions.

    python benchmarks/search_first_actions.py RUN_DIR [METHOD ...] [--tasks N] [--split S]

For every warm-start of a pipeline run directory (`RUN_DIR/warmstart/<method>`, all of
them by default) the checkpoint acts once on the first state of `--tasks` questions of
the evaluation split, as the pipeline evaluates it (`eval.mode`, `eval.temperature`,
the run's prompt format, from RUN_DIR/run.json). Prints one JSON line per method: the
share of first actions the environment accepts (for searchqa: one well-formed
`<search>` or `<answer>` block), of searches and of answers, of first searches that
copy a name of the question verbatim, examples; then whole episodes on the same
questions (as many steps as the environment allows): the success and mean score, and the
before-RL success the pipeline recorded. `--split train` asks the same of train
questions (learnt vs memorised). A collapse study needs a warm-start whose first
actions are mostly valid searches and whose success is above 0, so that GRPO groups
have variance. Not part of `make bench` (no bench_ prefix).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import emit


def first_actions(run_dir: Path, method: str, tasks: int, split: str | None = None) -> dict:
    from earlyexp.agents.actors import LMAgent
    from earlyexp.agents.hf_policy import load_policy
    from earlyexp.experience.collect import EnvConfig

    record = json.loads((run_dir / "run.json").read_text())
    config = record["config"]
    ev = {**config["eval"], "split": (config.get("eval_splits") or [config["eval"]["split"]])[0]}
    ev["split"] = split or ev["split"]
    env_cfg = EnvConfig(**config["env"])
    policy = load_policy(run_dir / "warmstart" / method, "cpu")
    agent = LMAgent(policy, ev["mode"], env_cfg.prompt_format(), ev["temperature"],
                    ev["max_new_tokens"], seed=ev["seed"])
    env = env_cfg.make()
    try:
        task_ids = env.tasks(ev["split"])[:tasks]
        episodes = _episodes(env, agent, task_ids, ev["seed"])
    finally:
        env.close()
    n = len(task_ids)
    firsts = [steps[0] for steps in episodes]
    searches = [query for _, query, _ in firsts if query is not None]
    before = [r["success"] for r in record["results"]
              if r["warmstart"] == method and r["phase"] == "before_rl"
              and r["split"] == ev["split"]]
    return {"method": method, "split": ev["split"], "questions": n, "mode": ev["mode"],
            "temperature": ev["temperature"],
            "first_action_valid": sum(info["valid_action"] for _, _, info in firsts) / n,
            "first_action_search": len(searches) / n,
            "first_action_answer": sum(bool(info.get("answered")) for _, _, info in firsts) / n,
            "first_search_copies_a_name": _copy_rate(env, task_ids, firsts),
            "episode_success": sum(steps[-1][2]["success"] for steps in episodes) / n,
            "episode_score": sum(steps[-1][2]["score"] for steps in episodes) / n,
            "examples": [[action for action, _, _ in steps] for steps in episodes[:3]],
            "success_before_rl": before[0] if before else None}


def _episodes(env, agent, task_ids: list[str], seed: int) -> list[list[tuple]]:
    """Each task's steps as (action, query or None, info), all tasks acting in one batch."""
    from earlyexp.agents.prompts import State

    states, infos, steps = [], [], [[] for _ in task_ids]
    # One environment, each episode replayed up to its current step before acting:
    # searchqa episodes are deterministic and a step is one BM25 lookup.
    live = list(range(len(task_ids)))
    for i, task in enumerate(task_ids):
        obs, info = env.reset(seed=seed + i, options={"task_id": task})
        states.append(State(info["goal"], obs, [], info["admissible_actions"]))
        infos.append(info)
    while live:
        decisions = agent.act([states[i] for i in live], [infos[i] for i in live])
        still = []
        for i, decision in zip(live, decisions):
            action = decision.action or ""
            env.reset(seed=seed + i, options={"task_id": task_ids[i]})
            for past, _, _ in steps[i]:
                env.step(past)
            obs, _, terminated, truncated, info = env.step(action)
            info = {**info, "answered": terminated}
            steps[i].append((action, env.search_query(action) if info["valid_action"] else None,
                             info))
            states[i] = states[i].advance(action, obs, info["admissible_actions"])
            infos[i] = info
            if not (terminated or truncated):
                still.append(i)
        live = still
    return steps


def _copy_rate(env, task_ids: list[str], firsts: list[tuple]) -> float | None:
    """Share of first searches holding one of the question's names verbatim."""
    from earlyexp.envs.searchqa.suggest import names_in

    copied = searched = 0
    for task, (_, query, _) in zip(task_ids, firsts):
        if query is None:
            continue
        searched += 1
        question = env.bundle.by_task[task].question
        copied += any(name in query for name in names_in(question.replace('"', " ")))
    return copied / searched if searched else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("methods", nargs="*")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--split", default=None, help="default: the run's evaluation split")
    args = parser.parse_args(argv)
    methods = args.methods or sorted(p.name for p in (args.run_dir / "warmstart").iterdir()
                                     if (p / "warmstart.json").is_file())
    for method in methods:
        emit(**first_actions(args.run_dir, method, args.tasks, args.split))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
