"""Replay every variation's gold path through the real engine, once, and record which solve.

    python -m earlyexp.envs.scienceworld.verify                 # every variation, 2 JVMs
    python -m earlyexp.envs.scienceworld.verify --workers 1 --tasks test-conductivity
    python -m earlyexp.envs.scienceworld.verify --ids test-conductivity-var840
    python -m earlyexp.envs.scienceworld.verify --ship          # also rewrite the package file

Each worker process owns one JVM, started with one-core GC/JIT settings; the replay
is the env's: load the variation (RNG seeded from the task id), step each gold action.
It stops at completion, at a failure (score below 0), at the end of the path, or at
the first gold action the engine rejects. Two repairs, both names the engine resolves:

* a rejected action is retried through the `REWRITES` registry (another name for the
  same object), the first rewrite the engine accepts taken;
* an "Ambiguous request" the gold path does not answer (it expected one reading, the
  engine found two, e.g. two identical seeds) is answered ``0``, the engine's first reading;
  and a gold answer (a bare number) to a question the engine did not ask is skipped.

A repaired variation is kept only if the repaired path solves the task. Every verdict is written to
`verified.local_folder()` as soon as it exists, so a killed pass resumes where it
stopped; `summary.json` there (what the env reads) is rewritten every `--flush` verdicts
and at the end. `--ship` copies the summary to the package's `gold_verified.json`.
Run time: about one variation per second per worker (gold-path generation dominates).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable

from py4j.protocol import Py4JJavaError

from earlyexp.envs.cache import write_text_atomic
from earlyexp.envs.scienceworld.catalog import TASK_NAMES, GoldPathStore, parse_task_id, task_id_of
from earlyexp.envs.scienceworld.engine import ONE_CORE_JAVA_OPTS, Simulator, SimulatorDiedError
from earlyexp.envs.scienceworld.verified import (
    PACKAGE_FILE, GoldVerification, Verdict, local_folder, read_verdicts,
)

TERMINAL = re.compile(r" terminal [12]\b")
AMBIGUOUS_PROMPT = "Ambiguous request"
FIRST_READING = "0"  # the answer that picks the first of the engine's listed readings


def drop_terminal(action: str) -> list[str]:
    """``connect block terminal 1 to X`` -> ``connect block to X``: objects that are not
    electrical parts have no terminal names; the engine connects their free terminal."""
    return [action[:m.start()] + action[m.end():] for m in TERMINAL.finditer(action)]


#: Rewrites tried, in order, for a gold action the engine rejects.
REWRITES: dict[str, Callable[[str], list[str]]] = {"drop_terminal": drop_terminal}


def rewrites_of(action: str) -> Iterable[str]:
    for rewrite in REWRITES.values():
        yield from rewrite(action)


def replay_gold(sim: Simulator, task_name: str, variation: int, gold: list[str]) -> Verdict:
    """Replay `gold` on `sim` from a fresh load, as the env's expert would, repairing what
    the engine resolves another way (see the module docstring); `Verdict.repairs` maps a
    gold index to the actions executed in its place."""
    task_id = task_id_of(task_name, variation)
    sim.load(task_name, variation)
    repairs: dict[int, list[str]] = {}
    reply, raw_score, completed, steps = "", 0.0, False, 0
    for index, action in enumerate(gold):
        executed: list[str] = []
        if reply.startswith(AMBIGUOUS_PROMPT) and not action.isdigit():
            # The engine asks which of several readings was meant where the gold path
            # expected one (two identical seeds, say): take the engine's first reading.
            executed.append(FIRST_READING)
            result = sim.step(FIRST_READING)
            if not result.valid:
                return Verdict(task_id, False, len(gold), steps, raw_score, index, FIRST_READING,
                               result.observation.strip(), repairs)
        result = sim.step(action.strip())
        if not result.valid and action.isdigit() and not executed:
            repairs[index] = []  # it answers a question the engine did not ask: skip it
            continue
        if not result.valid:
            rewrite = _rewrite(sim, action)
            if rewrite is None:
                return Verdict(task_id, False, len(gold), steps + len(executed), raw_score, index,
                               action, result.observation.strip(), repairs)
            action, result = rewrite
        executed.append(action)
        if executed != [gold[index]]:
            repairs[index] = executed
        steps += len(executed)
        reply, raw_score, completed = result.observation, result.raw_score, result.completed
        if completed or raw_score < 0:
            break
    return Verdict(task_id, completed and raw_score >= 0, len(gold), steps, raw_score,
                   repairs=repairs)


def _rewrite(sim: Simulator, action: str):
    """The first rewrite of `action` the engine accepts, and its step; or None. Trying is
    free: a rejected action changes nothing. (The engine's valid-action list is no test:
    it names `terminal 2 in yellow wire` where the parser also takes `yellow wire terminal 2`.)"""
    for candidate in rewrites_of(action):
        result = sim.step(candidate)
        if result.valid:
            return candidate, result
    return None


# --------------------------------------------------------------- worker processes
_WORKER: dict = {}


def _start_worker() -> None:
    _WORKER["sim"] = Simulator(extra_java_opts=ONE_CORE_JAVA_OPTS)
    _WORKER["gold"] = GoldPathStore()


def _verify(task_id: str) -> dict:
    task_name, variation = parse_task_id(task_id)
    for _attempt in range(2):  # one retry on a fresh JVM
        try:
            verdict = _replay(_WORKER["sim"], task_name, variation)
            break
        except Py4JJavaError as error:
            verdict = Verdict(task_id, False, 0, 0, 0.0, error=str(error.java_exception)[:300])
            break
        except SimulatorDiedError as died:
            _WORKER["sim"].close()
            _start_worker()
            verdict = Verdict(task_id, False, 0, 0, 0.0, error=f"JVM died twice: {died.reason}")
    write_text_atomic(local_folder() / "verdicts" / f"{task_id}.json", json.dumps(verdict.to_json()))
    return verdict.to_json()


def _replay(sim: Simulator, task_name: str, variation: int) -> Verdict:
    task_id = task_id_of(task_name, variation)
    gold = _WORKER["gold"].get(task_id, lambda: sim.load(task_name, variation, True))
    return replay_gold(sim, task_name, variation, gold)


# --------------------------------------------------------------- orchestration
def all_task_ids(task_names: Iterable[str]) -> list[str]:
    """Every variation of `task_names`: train and test first (alternating), then dev, each
    round-robin over tasks, so a pass cut short has covered every task and split evenly."""
    cached = local_folder() / "variations.json"
    try:
        variations = json.loads(cached.read_text())
    except (OSError, ValueError):
        sim = Simulator(extra_java_opts=ONE_CORE_JAVA_OPTS)
        try:
            variations = {name: sim.variations(name) for name in TASK_NAMES}
        finally:
            sim.close()
        write_text_atomic(cached, json.dumps(variations))
    ordered: list[str] = []
    for splits in (("train", "test"), ("dev",)):
        queues = [_alternate([[task_id_of(name, v) for v in variations[name][split]]
                              for split in splits]) for name in task_names]
        ordered += _alternate(queues)
    return ordered


def _alternate(queues: list[list[str]]) -> list[str]:
    """One from each queue in turn: ``[[a, b, c], [x]]`` -> ``[a, x, b, c]``."""
    return [queue[turn] for turn in range(max(map(len, queues), default=0))
            for queue in queues if turn < len(queue)]


def write_summary(ship: bool = False) -> GoldVerification:
    verification = GoldVerification.from_verdicts(read_verdicts(local_folder() / "verdicts"))
    text = json.dumps(verification.payload(), indent=1)
    write_text_atomic(local_folder() / "summary.json", text)
    if ship:
        write_text_atomic(PACKAGE_FILE, text + "\n")
    return verification


def run(workers: int, task_names: Iterable[str], limit: int | None = None, flush: int = 50,
        ship: bool = False, ids: list[str] | None = None, log=print) -> GoldVerification:
    done = {v.task_id for v in read_verdicts(local_folder() / "verdicts")}
    todo = [t for t in ids or all_task_ids(task_names) if t not in done][:limit]
    log(f"{len(done)} verdicts stored in {local_folder()}; verifying {len(todo)} more "
        f"with {workers} JVM(s)")
    context = multiprocessing.get_context("spawn")  # no JVM gateway inherited by a fork
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker) as pool:
        for count, verdict in enumerate(pool.map(_verify, todo, chunksize=1), start=1):
            if not verdict["solved"]:
                log(f"unsolved {verdict['task_id']}: {_why(verdict)}")
            if count % flush == 0:
                log(f"{count}/{len(todo)}: {write_summary().summary(list(done) + todo)}")
    verification = write_summary(ship)
    log(verification.summary(list(done) + todo))
    return verification


def _why(verdict: dict) -> str:
    if verdict["error"]:
        return f"the simulator threw: {verdict['error']}"
    if verdict["rejected_action"] is not None:
        return (f"step {verdict['rejected_step']} {verdict['rejected_action']!r} -> "
                f"{verdict['reply']!r}")
    ending = "failed" if verdict["raw_score"] < 0 else "ended uncompleted"
    return f"the path {ending} after {verdict['steps']} steps (score {verdict['raw_score']:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m earlyexp.envs.scienceworld.verify",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes, one JVM each (default: 2)")
    parser.add_argument("--tasks", default=",".join(TASK_NAMES),
                        help="comma-separated task names (default: all 30)")
    parser.add_argument("--ids", default="",
                        help="comma-separated task ids (e.g. test-conductivity-var840) instead")
    parser.add_argument("--limit", type=int, default=None, help="verify at most N more variations")
    parser.add_argument("--flush", type=int, default=50, help="rewrite summary.json every N verdicts")
    parser.add_argument("--ship", action="store_true",
                        help=f"also write the summary to the package file {PACKAGE_FILE.name}")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    unknown = [n for n in names if n not in TASK_NAMES] + [i for i in ids if not parse_task_id(i)]
    if unknown or args.workers < 1:
        parser.error(f"unknown task(s) or id(s) {unknown}; tasks: {', '.join(TASK_NAMES)}"
                     if unknown else f"--workers must be at least 1, got {args.workers}")
    run(args.workers, names, args.limit, args.flush, args.ship, ids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
