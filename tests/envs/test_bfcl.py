"""The bfcl family: splits, expert, BFCL checker semantics, snapshots and bad input."""
from __future__ import annotations

import json
import random
import time

import pytest
from earlyexp.envs.bfcl import data
from earlyexp.envs.bfcl.calls import ActionSyntaxError, parse_action
from earlyexp.envs.bfcl.checker import (
    TurnReference,
    check_turn,
    missing_results,
    reference,
    state_differences,
)
from earlyexp.envs.core import MAX_OBSERVATION_CHARS

from earlyexp import envs
from earlyexp.errors import UnknownSplitError, UnknownTaskError


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("EARLYEXP_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture()
def env():
    env = envs.make("bfcl")
    yield env
    env.close()


def start(env, task_id):
    return env.reset(seed=0, options={"task_id": task_id})


def run_expert(env, task_id, max_actions=200):
    obs, info = start(env, task_id)
    observations, rewards = [obs], []
    for _ in range(max_actions):
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        assert info["valid_action"], (task_id, obs)
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return observations, rewards, info


# ------------------------------------------------------------------ splits
def test_splits_are_fixed_disjoint_and_documented_sizes(env):
    train, test, ood = env.tasks("train"), env.tasks("test"), env.tasks("ood")
    assert (len(train), len(test), len(ood)) == (152, 48, 600)
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(data.load_category("base"))
    assert {data.category_of(t) for t in ood} == {"long_context", "miss_func", "miss_param"}
    assert envs.make("bfcl").tasks("train") == train  # same order every time
    with pytest.raises(UnknownSplitError):
        env.tasks("dev")


def test_split_is_cached_atomically_and_a_corrupt_file_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    data.base_splits.cache_clear()
    try:
        path = tmp_path / "bfcl" / data.split_key(7, 0.25) / "splits.json"
        path.parent.mkdir(parents=True)
        path.write_text('{"train": ["multi_turn_base_0"]')  # a half-written file
        splits = data.base_splits(7, 0.25)
        assert json.loads(path.read_text()) == {k: list(v) for k, v in splits.items()}
        assert not list(path.parent.glob("*.tmp"))
        assert splits["train"] != data.base_splits(0, 0.25)["train"]  # the seed matters
    finally:
        data.base_splits.cache_clear()


def test_limit_keeps_an_even_sample_and_unknown_task_is_clear():
    small = envs.make("bfcl", limit=3)
    ood = small.tasks("ood")
    assert len(ood) == 3 and len({data.category_of(t) for t in ood}) == 3
    with pytest.raises(UnknownTaskError, match="multi_turn_base_1"):
        small.reset(options={"task_id": "multi_turn_base_1000"})


# ------------------------------------------------------------------ expert
@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_expert_solves_every_task_of_each_split(env, split):
    rng = random.Random(split)
    ids = env.tasks(split)
    sample = ids if split != "ood" else rng.sample(ids, 150)
    for task_id in sample:
        observations, rewards, info = run_expert(env, task_id)
        assert info["success"] and info["score"] == 1.0, (task_id, observations[-1])
        assert rewards[-1] == 1.0 and sum(rewards) == 1.0
        assert info["expert_action"] is None
        assert max(map(len, observations)) < MAX_OBSERVATION_CHARS


def test_episode_is_deterministic_given_task_and_seed(env):
    task_id = "multi_turn_base_0"
    detour = ["ls(a=True)", "pwd()", "cd(folder='nowhere')", "bad((("]
    runs = []
    for _ in range(2):
        obs, info = start(env, task_id)
        trace = [obs, info["goal"]]
        for action in detour:
            trace.append(env.step(action)[0])
        trace += run_expert(env, task_id)[0]
        runs.append(trace)
    assert runs[0] == runs[1]


def test_expert_matches_positional_and_keyword_forms_and_survives_a_detour(env):
    _, info = start(env, "multi_turn_base_0")  # turn 3's ground truth is sort('final_report.pdf')
    for action in ["cd(folder='document')", "mkdir(dir_name='temp')",
                   "[ls(), mv(source='final_report.pdf', destination='temp')]", "end_turn",
                   "cd(folder='temp')", "grep(file_name='final_report.pdf',pattern='budget analysis')",
                   "end_turn"]:
        *_, info = env.step(action)
    assert info["expert_action"] == "sort('final_report.pdf')"
    *_, info = env.step("sort(file_name='final_report.pdf')")
    assert info["expert_action"] == "end_turn"
    while info["expert_action"] is not None:
        _obs, reward, _term, _trunc, info = env.step(info["expert_action"])
    assert info["success"] and reward == 1.0


# ------------------------------------------------------------------ checker
def test_skipping_a_state_changing_call_fails_the_state_check(env):
    start(env, "multi_turn_base_1")
    env.step("ls(a=True)")
    env.step("end_turn")
    env.step("cd(folder='workspace')")  # the move into archive/ never happens
    obs, reward, term, _trunc, info = env.step("end_turn")
    assert term and not info["success"] and reward == 0.0
    assert info["failed_check"] == "state" and "GorillaFileSystem.root" in obs
    assert info["score"] == pytest.approx(1 / 4) and info["expert_action"] is None


def test_a_turn_without_calls_fails_and_a_missing_result_fails_the_response_check(env):
    start(env, "multi_turn_base_1")
    _, _, term, _, info = env.step("end_turn")
    assert term and info["failed_check"] == "empty_turn" and info["score"] == 0.0
    # Turn 1 asks for a listing: the state matches without it, the result does not.
    start(env, "multi_turn_base_1")
    env.step("pwd()")
    _obs, _reward, term, _, info = env.step("end_turn")
    assert term and info["failed_check"] == "response"


def test_a_turn_with_empty_ground_truth_must_make_no_call(env):
    task = data.load_task("multi_turn_base_167")  # its last turn cannot be served
    assert task.ground_truth[-1] == ()
    # ls() is no TravelAPI function: refused, but a call all the same, as BFCL decodes it.
    for extra_call, expect_success in [(None, True), ("get_all_credit_cards()", False),
                                       ("ls()", False)]:
        _, info = start(env, task.task_id)
        while info["turn"] < task.num_turns - 1 or info["expert_action"] != "end_turn":
            *_, info = env.step(info["expert_action"])
        if extra_call:
            env.step(extra_call)
        _obs, reward, term, _trunc, info = env.step("end_turn")
        assert term and info["success"] is expect_success and reward == float(expect_success)
        assert info["failed_check"] == ("" if expect_success else "irrelevance")


def test_reference_replays_ground_truth_from_the_initial_configuration():
    turns = reference("multi_turn_base_1")
    assert [t.calls for t in turns] == [list_ for list_ in data.load_task("multi_turn_base_1").ground_truth]
    assert turns[0].results == ('{"current_directory_content": ["workspace"]}',)
    archive = turns[1].states["GorillaFileSystem"]["root"].contents["workspace"].contents["archive"]
    assert "log.txt" in archive.contents


def test_response_check_is_an_unordered_multiset_and_state_check_ignores_private():
    assert missing_results(("a", "b"), ["b", "x", "a"]) == []
    assert missing_results(("a", "a"), ["a"]) == ["a"]
    assert missing_results((), []) == []

    class Backend:
        def __init__(self, value, private):
            self.value, self._private = value, private

    expected = {"Backend": {"value": [1, 2]}}
    assert state_differences(expected, {"Backend": Backend([1, 2], "x")}) == []
    assert state_differences(expected, {"Backend": Backend([2, 1], "x")}) == ["Backend.value"]
    ref = TurnReference(("f()",), expected, ("r1",))
    assert check_turn(ref, {"Backend": Backend([1, 2], 0)}, True, ["r0", "r1"]).passed
    assert check_turn(ref, {"Backend": Backend([1, 2], 0)}, True, ["r0"]).check == "response"
    assert check_turn(ref, {"Backend": Backend([1, 2], 0)}, False, ["r1"]).check == "empty_turn"
    empty = TurnReference((), expected, ())
    assert check_turn(empty, {"Backend": Backend([9], 0)}, False, []).passed
    assert check_turn(empty, {"Backend": Backend([1, 2], 0)}, True, []).check == "irrelevance"


# ------------------------------------------------------------------ snapshots
def test_native_restore_matches_replay_and_is_faster(env):
    task_id = "multi_turn_base_0"
    obs, info = start(env, task_id)
    for _ in range(8):
        obs, _, _, _, info = env.step(info["expert_action"])
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    assert native.native is not None and replay.native is None
    expected = (obs, info)
    for action in ["rm(file_name='final_report.pdf')", "end_turn"]:
        env.step(action)
    assert env.restore(native) == expected
    env.step("cd(folder='..')")
    assert env.restore(replay) == expected
    start(env, "multi_turn_base_5")  # restoring across a reset to another task
    assert env.restore(native) == expected
    assert run_expert_from_here(env)["success"]

    def best_of(snap, repeats=30):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            env.restore(snap)
            times.append(time.perf_counter() - t0)
        return min(times)

    assert best_of(native) < best_of(replay)


def run_expert_from_here(env):
    info = env._info(valid_action=True)
    while info["expert_action"] is not None:
        *_, info = env.step(info["expert_action"])
    return info


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("action, message", [
    ("__import__('os').system('ls')", "bare name"),
    ("print(open('/etc/passwd').read())", "literal value"),
    ("os.system('ls')", "bare name"),
    ("ls(a=x)", "literal value"),
    ("ls(**{'a': 1})", "**arguments"),
    ("ls(*[1])", "*arguments"),
    ("x = ls()", "statement of type Assign"),
    ("[ls(), end_turn]", "end_turn must be the whole action"),
    ("[]", "no function call"),
    ("ls(", "not Python call syntax"),
    ("(" * 400, "not Python call syntax"),
    ("ls(a=1, a=2)", "given twice"),
])
def test_parse_action_rejects(action, message):
    with pytest.raises(ActionSyntaxError, match=message.replace("*", r"\*").replace("[", r"\[")):
        parse_action(action)


def test_parse_action_accepts_lists_sequences_and_end_turn():
    calls = parse_action("[cd(folder='a'), sort('x.txt')]; pwd()")
    assert [c.name for c in calls] == ["cd", "sort", "pwd"]
    assert calls[1].args == ("x.txt",) and calls[0].kwargs == {"folder": "a"}
    assert parse_action("end_turn") is None and parse_action("end_turn()") is None


def test_rejected_calls_change_nothing_and_backend_errors_are_reported(env):
    obs, info = start(env, "multi_turn_base_1")
    for action, fragment in [("frobnicate()", "no function named 'frobnicate'"),
                             ("lss()", "Did you mean 'ls'"),
                             ("[pwd(), ls(1, 2, 3)]", "too many positional arguments")]:
        obs, _reward, _term, _trunc, info = env.step(action)
        assert not info["valid_action"] and fragment in obs and "nothing was run" in obs
    obs, *_, info = env.step("cd(folder=5)")  # raises inside the backend, as BFCL shows it
    assert not info["valid_action"] and "Error during execution" in obs
    obs, *_, info = env.step("cd(folder='nope')")  # the backend's own error reply is a result
    assert info["valid_action"] and "No such file or directory" in obs
    assert run_expert_from_here(env)["success"]


def test_an_action_of_many_calls_gives_one_bounded_observation(env, monkeypatch):
    from earlyexp.envs.bfcl import env as bfcl_env

    monkeypatch.setattr(bfcl_env, "MAX_OBSERVATION_CHARS", 1000)
    start(env, "multi_turn_base_1")
    obs, *_, info = env.step("[" + "ls(a=True), " * 600 + "]")
    assert info["valid_action"] and obs.count("current_directory_content") == 17
    assert len(obs) < 1100 and obs.endswith("more characters]")


def test_fuzzed_call_like_actions_never_raise_and_leave_the_env_usable(env):
    rng = random.Random(0)
    names = ["ls", "cd", "mv", "grep", "sort", "tail", "mean", "end_turn", "rm", "zz"]
    values = ["1", "-2.5", "'a'", "None", "True", "[1, 'x']", "{'k': 1}", "x", "'..'", "(", "1e999"]
    obs, info = start(env, "multi_turn_base_0")
    invalid = 0
    for _ in range(1000):
        args = ", ".join(rng.choice([f"{rng.choice('abfs')}={rng.choice(values)}", rng.choice(values)])
                         for _ in range(rng.randint(0, 3)))
        action = f"{rng.choice(names)}({args})" + rng.choice(["", "", ")", "]", "; pwd()"])
        obs, _reward, term, trunc, info = env.step(action)
        assert isinstance(obs, str) and obs
        invalid += not info["valid_action"]
        if term or trunc:
            start(env, "multi_turn_base_0")
    assert invalid > 300
    start(env, "multi_turn_base_0")
    assert run_expert_from_here(env)["success"]
