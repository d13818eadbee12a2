"""`earlyexp compare`: cells planned and checked before work, run in a process pool (or
Ray), a failed cell recorded while the others finish, finished cells skipped on re-run,
world-model accuracy scored as written out by hand."""
from __future__ import annotations

import json
import os

import pytest
import torch

import earlyexp.envs as envs
from earlyexp.errors import ConfigError
from earlyexp.training.compare import CompareConfig, compare, missing, plan
from earlyexp.training.config import load_config

from ..conftest import as_from_a_terminal

TINY = ["model.tiny.vocab_size=400", "model.tiny.hidden_size=64", "model.tiny.num_layers=2",
        "model.tiny.num_heads=2", "model.tiny.intermediate_size=128",
        "model.tiny.max_positions=512"]


@pytest.fixture
def families():
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    envs.register("broken", "earlyexp.envs.testing:CorridorEnv", override=True)
    yield
    envs.unregister("broken")


def overrides(out, *extra) -> list[str]:
    return [f"compare.out_dir={out}", "methods=[il,iwm]", "run_rl=false",
            "+compare.family_overrides.corridor.env.kwargs.num_tasks=8", "collect.num_tasks=4",
            "collect.k=2", "collect.num_workers=0", "train.steps=3", "train.batch_size=4",
            "eval.num_tasks=3", "compare.world_model_tasks=2", *TINY, *extra]


def configured(args):
    return load_config("compare", args, CompareConfig), args


def test_cells_are_composed_per_family_and_checked_before_any_work(families, tmp_path):
    cfg, args = configured(overrides(tmp_path, "compare.families=[corridor]",
                                     "compare.seeds=[0,3]", "train.learning_rate=0.01",
                                     "+compare.family_overrides.corridor.train.steps=7"))
    cells = plan(cfg, args)
    assert [c.key for c in cells] == ["corridor/seed0", "corridor/seed3"]
    p = cells[1].pipelines[0]
    assert (p.seed, p.env.name, p.env.kwargs, p.train.steps, p.train.learning_rate) == \
        (3, "corridor", {"num_tasks": 8}, 7, 0.01)
    assert p.run_dir == str(tmp_path.resolve() / "corridor" / "seed3")
    assert missing(cells[0]) and not list(tmp_path.iterdir())  # nothing written yet
    for bad, key in (("env=household", "env"), ("seed=1", "seed"), ("run_dir=x", "run_dir")):
        with pytest.raises(ConfigError, match=f"{key}.*compare"):
            plan(cfg, [*args, bad])
    with pytest.raises(ConfigError, match="family_overrides.textwrold.*textworld"):
        configured(overrides(tmp_path, "compare.families=[corridor]",
                             "+compare.family_overrides.textwrold.seed=1"))
    cfg, args = configured(overrides(tmp_path, "compare.families=[corridor]",
                                     "+compare.family_overrides.corridor.eval_splits=[nope]"))
    with pytest.raises(ConfigError, match="eval_splits.*nope"):
        plan(cfg, args)


def test_ablation_cells_share_one_collection_per_axis(families, tmp_path):
    cfg, args = configured(overrides(tmp_path, "compare.families=[corridor]",
                                     "compare.seeds=[0,1]", "compare.ablations.k=[1,2,4]",
                                     "compare.ablations.expert_fraction=[0.5,1.0]",
                                     "compare.ablations.methods=[iwm]"))
    cells = [c for c in plan(cfg, args) if c.ablation]
    assert [c.key for c in cells] == ["ablations/expert_fraction/corridor/seed0",
                                      "ablations/k/corridor/seed0"]
    fraction, k = cells
    assert [p.data.expert_fraction for p in fraction.pipelines] == [1.0, 0.5]
    assert [(p.collect.k, p.data.k) for p in k.pipelines] == [(4, 4), (4, 2), (4, 1)]
    assert all(p.methods == ["iwm"] and not p.run_rl for p in k.pipelines)


def test_world_model_scores_match_a_per_example_computation(il_checkpoint):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from earlyexp.training.compare_worldmodel import completion_ids, score_completions

    tokenizer = AutoTokenizer.from_pretrained(il_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(il_checkpoint)
    prompts = ["Goal: reach the end\nObservation: a corridor\nAction: go east\nNext observation:",
               "Goal: x\nObservation: y\nAction: wait\nNext observation:"]
    completions = [" You are at position 2.", " Nothing happens here at all."]
    got = score_completions(model, tokenizer, prompts, completions, batch_size=2)
    nll, hits, tokens, exact = 0.0, 0, 0, 0
    for p, c in zip(prompts, completions):
        ids, start = completion_ids(tokenizer, p, c)
        with torch.no_grad():  # one example at a time, no padding
            logits = model(torch.tensor([ids])).logits[0]
        row_hits = 0
        for t in range(start, len(ids)):
            logp = torch.log_softmax(logits[t - 1].double(), -1)
            nll -= float(logp[ids[t]])
            row_hits += int(logits[t - 1].argmax()) == ids[t]
        hits += row_hits
        tokens += len(ids) - start
        exact += row_hits == len(ids) - start
        # exact match means greedy decoding reproduces the completion
        generated = model.generate(torch.tensor([ids[:start]]), max_new_tokens=len(ids) - start,
                                   do_sample=False)[0, start:].tolist()
        assert (generated == ids[start:]) == (row_hits == len(ids) - start)
    assert got["nll"] == pytest.approx(nll / tokens, rel=1e-4)
    assert got["token_accuracy"] == pytest.approx(hits / tokens)
    assert got["exact_match"] == exact / 2 and got["tokens"] == tokens


@pytest.mark.slow
def test_compare_runs_cells_records_a_failure_and_skips_finished_cells(families, tmp_path):
    args = overrides(tmp_path, "compare.families=[corridor,broken]", "compare.seeds=[0,1]",
                     "+compare.family_overrides.broken.env.kwargs.bogus=1")
    cfg, _ = configured(args)
    first = compare(cfg, args)
    assert sorted(first["done"]) == ["corridor/seed0", "corridor/seed1"]
    assert sorted(o["key"] for o in first["failed"]) == ["broken/seed0", "broken/seed1"]
    status = json.loads((tmp_path / "broken" / "seed0" / "cell.json").read_text())
    assert status["status"] == "failed" and "bogus" in status["error"]
    assert "Traceback" in status["traceback"]
    cell = json.loads((tmp_path / "corridor" / "seed0" / "cell.json").read_text())
    assert cell["pid"] != os.getpid() and cell["threads"] >= 1
    world = json.loads((tmp_path / "corridor" / "seed0" / "world_model.json").read_text())
    assert {(r["warmstart"], r["phase"]) for r in world["rows"]} == {("il", "before_rl"),
                                                                      ("iwm", "before_rl")}
    page = (tmp_path / "comparison.md").read_text()
    assert "| broken/seed0 | failed | TypeError" in page and "| corridor/seed1 | done |" in page
    assert "| iwm − il | corridor | before RL | test |" in page
    assert (tmp_path / "comparison.html").read_text().count("<table>") >= 5

    again = compare(cfg, args)  # finished cells are skipped, not redone
    assert sorted(again["skipped"]) == ["corridor/seed0", "corridor/seed1"]
    assert json.loads((tmp_path / "corridor" / "seed0" / "cell.json").read_text()) == cell


@pytest.mark.slow
def test_two_cells_on_a_local_ray_runtime(families, tmp_path):
    ray = pytest.importorskip("ray")
    args = overrides(tmp_path, "compare.families=[corridor]", "compare.seeds=[0,1]",
                     "compare.executor=ray", "compare.world_model=false")
    cfg, _ = configured(args)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        outcome = compare(cfg, args)
    finally:
        ray.shutdown()
    assert sorted(outcome["done"]) == ["corridor/seed0", "corridor/seed1"], outcome["failed"]
    pids = {json.loads((tmp_path / "corridor" / f"seed{s}" / "cell.json").read_text())["pid"]
            for s in (0, 1)}
    assert os.getpid() not in pids
    assert "| corridor/seed1 | done |" in (tmp_path / "comparison.md").read_text()


STOPPABLE_COMPARE = """
import sys
import earlyexp.envs as envs
from earlyexp.training.cli import main
envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
sys.exit(main(["compare", *sys.argv[1:]]))
"""


@pytest.mark.slow
def test_sigterm_stops_the_running_cells_and_starts_no_more(tmp_path):
    """SIGTERM to the driver (a scheduler's stop, `kill`) stops the cells running in its
    pool — it used to wait for them and then run every queued cell — and each cell
    records that it was interrupted; no process of the comparison is left."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    args = overrides(tmp_path, "compare.families=[corridor]", "compare.seeds=[0,1,2]",
                     "compare.workers=2", "compare.threads_per_cell=1",
                     "compare.world_model=false", "train.steps=100000")  # IL never ends
    proc = subprocess.Popen([sys.executable, "-c", STOPPABLE_COMPARE, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=as_from_a_terminal)
    logs = [tmp_path / "corridor" / f"seed{s}" / "cell.log" for s in (0, 1)]
    deadline = time.time() + 240
    while not all(p.exists() and "warm-start" in p.read_text() for p in logs):
        assert proc.poll() is None and time.time() < deadline, "the cells never trained"
        time.sleep(0.5)
    tree = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 130
    cells = {s: json.loads((tmp_path / "corridor" / f"seed{s}" / "cell.json").read_text())
             for s in (0, 1)}
    assert {c["status"] for c in cells.values()} == {"interrupted"}
    assert not (tmp_path / "corridor" / "seed2" / "cell.json").exists()  # never started
    time.sleep(1)
    assert not [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.slow
def test_a_cell_whose_process_dies_is_retried_and_the_queue_goes_on(families, tmp_path):
    """A cell's process exits mid-collection (the corridor's test-double crash, once): the
    pool breaks, the cell is retried in a fresh pool, and the cell queued behind it still
    runs — one worker, so the queue waits on the broken pool."""
    marker = tmp_path / "crashed"
    args = overrides(tmp_path / "out", "compare.families=[corridor,broken]",
                     "compare.seeds=[0]", "compare.workers=1", "compare.world_model=false",
                     f"+compare.family_overrides.corridor.env.kwargs.crash_marker={marker}")
    cfg, _ = configured(args)
    outcome = compare(cfg, args)
    assert marker.exists()  # the first attempt did die
    assert sorted(outcome["done"]) == ["broken/seed0", "corridor/seed0"], outcome["failed"]
