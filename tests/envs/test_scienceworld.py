"""ScienceWorld family: expert, determinism, snapshots, reward, splits, crashes and bad input.

One env (two JVMs) is shared by the module: the machine has two cores.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest

import earlyexp.envs as envs
from earlyexp.envs.scienceworld import catalog, verified, verify
from earlyexp.envs.scienceworld.engine import JavaNotFoundError, Simulator, find_java
from earlyexp.envs.scienceworld.verified import GoldVerification, Verdict, local_folder
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.errors import UnknownSplitError, UnknownTaskError

TASKS = ["find-living-thing", "power-component", "lifespan-longest-lived", "chemistry-mix"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A private cache, and no shipped verdicts: the tests write the verdicts they need."""
    folder = tmp_path_factory.mktemp("earlyexp-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EARLYEXP_CACHE", str(folder))
        patch.setattr(verified, "PACKAGE_FILE", folder / "no-shipped-verdicts.json")
        yield folder


@pytest.fixture(scope="module")
def env(cache_dir):
    environment = envs.make("scienceworld", task_names=TASKS, variations_per_task=2,
                            admissible="on_path", snapshot_replicas=1, max_steps=60)
    yield environment
    environment.close()


def follow_expert(env, task_id, detours=()):
    """Play the expert from reset; `detours` maps step index -> an action taken first."""
    obs, info = env.reset(seed=0, options={"task_id": task_id})
    trace, rewards, step = [obs], [], 0
    while info["expert_action"] is not None:
        if step in detours:
            obs, _, _, _, _ = env.step(detours[step])
            trace.append(obs)
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        trace.append(obs)
        rewards.append(reward)
        step += 1
        if terminated or truncated:
            break
    return trace, rewards, info


# ------------------------------------------------------------------ splits
def test_splits_are_fixed_documented_and_disjoint(env, cache_dir):
    splits = {split: env.tasks(split) for split in env.splits}
    assert env.splits == ("train", "dev", "test", "ood")
    assert {len(ids) for split, ids in splits.items() if split != "ood"} == {6}  # 3 tasks x 2
    assert splits["ood"] == ["chemistry-mix-var25", "chemistry-mix-var29"]
    for split in ("train", "dev", "test"):
        assert all(catalog.TOPIC_OF_TASK[catalog.parse_task_id(t)[0]] not in catalog.DEFAULT_OOD_TOPICS
                   for t in splits[split])
    assert not set(splits["train"]) & set(splits["test"])
    # the package's own variation ranges: find-living-thing train 0..149, test 225..299
    variations = [catalog.parse_task_id(t)[1] for t in splits["test"] if t.startswith("find-")]
    assert all(225 <= v < 300 for v in variations)
    cached = list(cache_dir.glob("scienceworld/*/splits.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["splits"] == splits
    assert not list(cache_dir.glob("scienceworld/**/*.tmp"))
    assert env.tasks("train") == splits["train"]  # stable order


def test_unknown_split_and_task_are_clear_errors(env):
    with pytest.raises(UnknownSplitError):
        env.tasks("validation")
    with pytest.raises(UnknownTaskError, match="find-living-thing"):
        env.reset(options={"task_id": "find-living-thing-var9999"})


def test_missing_java_names_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(JavaNotFoundError, match="openjdk"):
        find_java()


# ------------------------------------------------------------------ expert
@pytest.mark.parametrize("split", ["train", "test"])
def test_expert_solves_a_sample_of_tasks(env, split):
    for task_name in ("find-living-thing", "power-component", "lifespan-longest-lived"):
        task_id = next(t for t in env.tasks(split) if t.startswith(task_name))
        _, rewards, info = follow_expert(env, task_id)
        assert info["success"] and info["score"] == 1.0, task_id
        assert sum(rewards) == pytest.approx(1.0)
        assert info["expert_action"] is None


def test_expert_action_is_none_once_off_the_gold_path(env):
    obs, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    first = info["expert_action"]
    _, _, _, _, info = env.step("this is not an action")
    assert not info["valid_action"] and info["expert_action"] == first  # rejected: still on path
    _, _, _, _, info = env.step("look around")
    assert info["valid_action"] and info["expert_action"] is None
    assert info["admissible_actions"] is None  # on_path mode: none off the path


# ------------------------------------------------------------------ determinism
def test_deterministic_given_task_and_seed(env):
    task_id = env.tasks("test")[0]
    detours = {1: "look around", 3: "inventory"}
    first = follow_expert(env, task_id, detours)
    second = follow_expert(env, task_id, detours)
    assert first[0] == second[0] and first[1] == second[1]
    env.reset(seed=123)
    sampled = env.task_id
    env.reset(seed=123)
    assert env.task_id == sampled


# ------------------------------------------------------------------ reward
def test_reward_is_the_change_of_the_clamped_score(env):
    """Hand-checked: a failing focus gives raw score -1 -> score 0, reward -previous score."""
    obs, info = env.reset(seed=0, options={"task_id": "find-living-thing-var89"})
    scores = [info["score"]]
    for _ in range(2):
        obs, reward, terminated, _, info = env.step(info["expert_action"])
        assert reward == pytest.approx(info["score"] - scores[-1])
        scores.append(info["score"])
    assert scores[-1] > 0
    obs, reward, terminated, _, info = env.step("focus on air")  # air is not alive: task failed
    assert info["raw_score"] == -1.0 and info["score"] == 0.0
    assert reward == pytest.approx(-scores[-1])
    assert terminated and not info["success"] and info["expert_action"] is None


# ------------------------------------------------------------------ snapshots
def test_native_snapshot_restores_exactly_and_repeatedly(env):
    obs, info = env.reset(seed=0, options={"task_id": "power-component-var4"})
    for _ in range(4):
        obs, _, _, _, info = env.step(info["expert_action"])
    snap = env.snapshot()
    assert snap.native is not None
    before = (obs, info["score"], info["expert_action"], info["admissible_actions"])
    for branch in ("look around", "pour the moon into the fridge", "focus on agent"):
        env.step(branch)
        obs2, info2 = env.restore(snap)
        assert (obs2, info2["score"], info2["expert_action"], info2["admissible_actions"]) == before
    # the restored episode goes on to success along the expert path
    while info2["expert_action"] is not None:
        _, _, terminated, _, info2 = env.step(info2["expert_action"])
    assert info2["success"]


def test_native_restore_swaps_in_a_replica_instead_of_replaying(env):
    """Why the native restore is fast, checked without a clock (the timings are in
    benchmarks/bench_env_scienceworld.py): once the episode moved on, a spare JVM already
    standing at the snapshot is swapped in, while the replay fallback reloads the task on
    the env's own JVM and replays the prefix."""
    obs, info = env.reset(seed=0, options={"task_id": "find-living-thing-var137"})
    for _ in range(6):
        obs, _, _, _, info = env.step(info["expert_action"])
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    for _ in range(3):
        env.step("look around")
        own = env._sim
        assert env.restore(native)[0] == obs
        assert env._sim is not own, "native restore replayed on its own JVM"
        env.step("look around")
        own, loads = env._sim, env._sim.load_count
        assert env.restore(replay)[0] == obs
        assert env._sim is own and own.load_count > loads


# ------------------------------------------------------------------ admissible
def test_admissible_modes(cache_dir):
    lazy = envs.make("scienceworld", task_names=TASKS, variations_per_task=2, admissible="lazy",
                     snapshot_replicas=0)
    try:
        _, info = lazy.reset(seed=0, options={"task_id": "lifespan-longest-lived-var21"})
        assert info["admissible_actions"] is None
        actions = lazy.admissible_actions()
        assert info["expert_action"] in actions and len(actions) <= lazy.max_admissible
        assert lazy.snapshot().native is None  # no spare JVMs: the replay fallback
    finally:
        lazy.close()
    with pytest.raises(ValueError, match="admissible"):
        envs.make("scienceworld", admissible="sometimes")


# ------------------------------------------------------------------ bad input and crashes
def test_bad_actions_are_observations(env):
    env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    for action in ["x" * 600, "(((", "\x00", "🙂", 17, None, "open", "focus on"]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(obs, str) and obs and reward == 0.0
    _, _, _, _, info = env.step("x" * 600)
    assert not info["valid_action"]
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    assert info["expert_action"] is not None


def test_dead_jvm_fails_the_episode_and_is_replaced(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    env.step(info["expert_action"])
    dead = env.simulator_pid
    os.kill(dead, signal.SIGKILL)
    time.sleep(0.2)
    obs, reward, terminated, _, info = env.step("look around")
    assert terminated and not info["success"] and info["score"] == 0.0
    assert "JVM" in obs and info["error"]
    assert env.simulator_pid != dead
    _, rewards, info = follow_expert(env, env.tasks("train")[0])
    assert info["success"] and info["error"] is None


@pytest.mark.slow
def test_expert_solves_every_task_topic(cache_dir):
    """One test variation of each of the 30 tasks (24 in `test`, 6 in `ood`) is solved."""
    wide = envs.make("scienceworld", variations_per_task=1, admissible="lazy",
                     snapshot_replicas=0, max_steps=400)
    try:
        for task_id in wide.tasks("test") + wide.tasks("ood"):
            _, _, info = follow_expert(wide, task_id)
            assert info["success"], task_id
    finally:
        wide.close()


# ------------------------------------------------------------------ bad input (issue 14)
def test_unsendable_actions_are_invalid_and_keep_the_jvm(env, capfd, caplog):
    """A lone surrogate cannot be UTF-8 encoded onto py4j's socket: it used to break the
    bridge mid-command (py4j ERROR traceback), restart the JVM and fail the episode."""
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    pid, expert = env.simulator_pid, info["expert_action"]
    cases = {"\ud800": "U+D800", "look \udfff around": "U+DFFF", "look\x00around": "U+0000",
             "go to\x1bkitchen": "U+001B", "x" * 513: "longer than 512"}
    for action, reason in cases.items():
        obs, reward, terminated, truncated, info = env.step(action)
        assert not info["valid_action"] and reason in obs and obs.startswith("Invalid action")
        assert (reward, terminated, info["error"], info["expert_action"]) == (0.0, False, None, expert)
    assert env.simulator_pid == pid
    _, _, _, _, info = env.step(expert)
    assert info["valid_action"] and info["score"] >= 0
    _, err = capfd.readouterr()
    assert "Traceback" not in err and "ERROR" not in err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with pytest.raises(ValueError, match="U\\+D800"):
        env._sim.step("\ud800")  # the engine wrapper refuses it too, before py4j sees it


# ------------------------------------------------------------------ gold-path verification
@pytest.fixture
def local_verdicts(cache_dir):
    """Write verdicts as this machine's verification pass would; removed afterwards."""
    summary = local_folder() / "summary.json"

    def write(verdicts: list[Verdict]) -> None:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(GoldVerification.from_verdicts(verdicts).payload()))

    yield write
    summary.unlink(missing_ok=True)


def test_conductivity_840_gold_path_is_repaired_with_the_engines_name(cache_dir, local_verdicts,
                                                                      monkeypatch):
    """Issue 15: step 20 of the gold path, `connect block terminal 1 to blue wire terminal 2`,
    is rejected: a wood block has no terminal names. The engine's own valid actions have
    `connect block to blue wire terminal 2` (it connects terminal 1, then 2); with both
    connections renamed the path solves the task, and the env's expert follows it."""
    sim = Simulator()
    try:
        gold = catalog.GoldPathStore().get("test-conductivity-var840",
                                           lambda: sim.load("test-conductivity", 840, True))
        assert gold[20:22] == ["connect block terminal 1 to blue wire terminal 2",
                               "connect block terminal 2 to green wire terminal 1"]
        verdict = verify.replay_gold(sim, "test-conductivity", 840, gold)
        with monkeypatch.context() as patch:
            patch.setattr(verify, "REWRITES", {})
            unrepaired = verify.replay_gold(sim, "test-conductivity", 840, gold)
    finally:
        sim.close()
    assert (unrepaired.solved, unrepaired.rejected_step) == (False, 20)
    assert unrepaired.reply == "No known action matches that input."
    assert verdict.solved and verdict.raw_score == 1.0 and verdict.rejected_step is None
    assert verdict.repairs == {20: ["connect block to blue wire terminal 2"],
                               21: ["connect block to green wire terminal 1"]}
    local_verdicts([verdict])
    single = envs.make("scienceworld", task_names=["test-conductivity"], admissible="lazy",
                       snapshot_replicas=0)
    try:
        assert "test-conductivity-var840" in single.tasks("test")
        assert "(1 repaired, 0 longer than max_steps=100)" in single.split_note()
        trace, rewards, info = follow_expert(single, "test-conductivity-var840")
        assert info["success"] and sum(rewards) == pytest.approx(1.0)
        assert "terminal 1 on wood block is now connected to terminal 2 on blue wire" in trace[21]
    finally:
        single.close()


def _verdict_of(task_name, variation):
    sim = Simulator()
    try:
        gold = catalog.GoldPathStore().get(catalog.task_id_of(task_name, variation),
                                           lambda: sim.load(task_name, variation, True))
        return gold, verify.replay_gold(sim, task_name, variation, gold)
    finally:
        sim.close()


@pytest.mark.slow
def test_unanswered_ambiguous_request_is_answered_with_the_first_reading(cache_dir):
    """mendelian-genetics-known-plant-var0: at gold step 77 the engine finds two pea seeds
    where the gold path expected one and asks which; the gold path goes on with the next
    command (engine: "Unknown action."), then answers `0` to nothing (rejected). Answering
    the engine's question with `0` where it is asked makes the path solve the task."""
    gold, verdict = _verdict_of("mendelian-genetics-known-plant", 0)
    assert verdict.solved and verdict.raw_score == 1.0
    assert min(verdict.repairs) == 78 and verdict.repairs[78] == ["0", gold[78]]  # asked at 77
    assert all(actions[0] == "0" and actions[1:] == [gold[i]] for i, actions in verdict.repairs.items())
    assert verdict.steps <= verdict.gold_length + len(verdict.repairs)


@pytest.mark.slow
def test_answer_to_a_question_never_asked_is_skipped(cache_dir):
    """mendelian-genetics-unknown-plant-var2: gold step 82 moves the last seed of a plant
    (one seed left, so no question), and gold step 83 answers `0` to a question the engine
    did not ask."""
    gold, verdict = _verdict_of("mendelian-genetics-unknown-plant", 2)
    assert gold[83] == "0" and verdict.repairs[83] == []
    assert verdict.solved and verdict.raw_score == 1.0


def test_verification_pass_is_cached_resumed_and_read_by_the_env(env, cache_dir):
    """The pass runs in a worker process with its own JVM, stores one verdict per variation,
    skips stored ones when run again, and the env counts them in its split note."""
    ids = env.tasks("train")[:2]
    messages: list[str] = []
    try:
        result = verify.run(1, [], ids=ids, log=messages.append)
        assert result.verified == set(ids) and not result.unsolved
        assert sorted(p.stem for p in (local_folder() / "verdicts").glob("*.json")) == sorted(ids)
        again = verify.run(1, [], ids=ids, log=messages.append)
        assert again.verified == set(ids) and "verifying 0 more" in messages[-2]
        fresh = envs.make("scienceworld", task_names=TASKS, variations_per_task=2,
                          snapshot_replicas=0)
        try:
            assert fresh.split_note().startswith("gold paths verified 2/")
        finally:
            fresh.close()
    finally:
        for path in (local_folder() / "verdicts").glob("*.json"):
            path.unlink()
        (local_folder() / "summary.json").unlink(missing_ok=True)


def test_unsolved_variations_are_left_out_of_the_splits(env, local_verdicts):
    dropped = env.tasks("train")[0]
    local_verdicts([Verdict(dropped, False, 30, 12, 0.5, 12, "focus on nothing", "No known action")])
    fresh = envs.make("scienceworld", task_names=TASKS, variations_per_task=2, snapshot_replicas=0)
    try:
        train = fresh.tasks("train")
        assert dropped not in train and len(train) == len(env.tasks("train"))  # resampled
        assert fresh.split_note().endswith("1 unsolved left out")
        with pytest.raises(UnknownTaskError):
            fresh.reset(options={"task_id": dropped})
    finally:
        fresh.close()


def test_expert_gives_up_instead_of_repeating_a_rejected_action(env, local_verdicts, tmp_path):
    """A gold action the engine rejects (here a verdict whose `repair` names an object that
    does not exist) is offered once: then the expert is None in that state, after a restore
    and in later episodes, and the collector stores the task as an expert failure."""
    task_id = env.tasks("train")[0]
    _, info = env.reset(seed=0, options={"task_id": task_id})
    bad = "connect unicorn to rainbow"
    local_verdicts([Verdict(task_id, True, 10, 10, 1.0, repairs={2: [bad]})])
    broken = envs.make("scienceworld", task_names=TASKS, variations_per_task=2, snapshot_replicas=0)
    try:
        _, info = broken.reset(seed=0, options={"task_id": task_id})
        for _ in range(2):
            _, _, _, _, info = broken.step(info["expert_action"])
        snap = broken.snapshot()
        assert info["expert_action"] == bad
        _, _, terminated, _, info = broken.step(bad)
        assert not info["valid_action"] and not terminated and info["expert_action"] is None
        assert broken.restore(snap)[1]["expert_action"] is None
        _, info = broken.reset(seed=0, options={"task_id": task_id})
        assert info["expert_action"] is not None  # the path is fine up to the rejected action
    finally:
        broken.close()
    summary = collect(CollectConfig(
        env=EnvConfig("scienceworld", {"task_names": TASKS, "variations_per_task": 2,
                                       "snapshot_replicas": 0}),
        num_tasks=1, k=0, num_workers=0, out_dir=str(tmp_path / "exp")))
    assert summary.transitions == 0 and summary.expert_success == 0
    assert [f["task"].split("@")[0] for f in summary.failures] == [task_id]
    assert "expert failure" in summary.failures[0]["error"]


def test_shipped_verdicts_are_well_formed():
    """The package's gold_verified.json (what a fresh clone uses) parses, round-trips, and
    holds in full every verdict that changes the expert or the splits."""
    # the real file, not the module fixture's stand-in
    payload = json.loads(Path(verified.__file__).with_name("gold_verified.json").read_text())
    shipped = GoldVerification.from_payload(payload)
    assert shipped.payload() == payload
    assert shipped.verified and set(shipped.notable) <= shipped.verified
    for verdict in shipped.notable.values():
        assert catalog.parse_task_id(verdict.task_id) is not None
        stopped = (verdict.rejected_action is not None or verdict.error or verdict.raw_score < 0
                   or verdict.steps >= verdict.gold_length)  # rejected, threw, failed, ran out
        assert verdict.solved or stopped, verdict
    conductivity = shipped.notable.get("test-conductivity-var840")
    if conductivity is not None:  # shipped only if the pass reached it
        assert conductivity.solved and conductivity.repairs[20] == [
            "connect block to blue wire terminal 2"]
