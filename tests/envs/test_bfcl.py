"""The bfcl family: splits, expert, BFCL checker semantics, snapshots and bad input."""
from __future__ import annotations

import json
import random
import time

import pytest
from earlyexp.envs.bfcl import data
from earlyexp.envs.bfcl.calls import parse_action
from earlyexp.envs.bfcl.checker import (
    TurnReference,
    check_turn,
    missing_results,
    reference,
    state_differences,
)
from earlyexp.envs.core import MAX_OBSERVATION_CHARS
from earlyexp.envs.toolcalls import ToolCallError

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


@pytest.mark.parametrize("strict", [False, True])
def test_calls_in_a_turn_with_empty_ground_truth(strict):
    """Official scoring lets them pass (the turn is not checked); strict_irrelevance fails them."""
    env = envs.make("bfcl", strict_irrelevance=strict)
    task = data.load_task("multi_turn_base_167")  # its last turn cannot be served
    assert task.ground_truth[-1] == ()
    # ls() is no TravelAPI function: refused, but a call all the same, as BFCL decodes it.
    for extra_call, passes in [(None, True), ("get_all_credit_cards()", not strict),
                               ("ls()", not strict)]:
        _, info = start(env, task.task_id)
        while info["turn"] < task.num_turns - 1 or info["expert_action"] != "end_turn":
            *_, info = env.step(info["expert_action"])
        if extra_call:
            env.step(extra_call)
        _obs, reward, term, _trunc, info = env.step("end_turn")
        assert term and info["success"] is passes and reward == float(passes)
        assert info["failed_check"] == ("" if passes else "irrelevance")


def test_strict_irrelevance_is_a_boolean_config_key():
    from earlyexp.errors import ConfigError

    with pytest.raises(ConfigError, match="strict_irrelevance"):
        envs.make("bfcl", strict_irrelevance="yes")


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
    assert check_turn(empty, {"Backend": Backend([9], 0)}, True, []).passed  # not checked
    strict = check_turn(empty, {"Backend": Backend([1, 2], 0)}, True, [], strict_irrelevance=True)
    assert strict.check == "irrelevance"


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
    with pytest.raises(ToolCallError, match=message.replace("*", r"\*").replace("[", r"\[")):
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


# ------------------------------------------------------------------ bfcl-eval's own checker as the oracle
# The official multi-turn scoring, imported from the installed bfcl-eval and called as its
# eval_runner calls it (`_evaluate_single_multi_turn_entry`): decoded steps per turn, the
# ground truth, the raw test entry, the category and a model name. It executes calls with
# `eval` on fixed strings written here, never on model output.
from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils as bfcl_utils  # noqa: E402
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import (  # noqa: E402
    multi_turn_checker,
    multi_turn_irrelevance_checker,
)

from earlyexp.envs.toolcalls import parse_call  # noqa: E402

Trajectory = list[list[list[str]]]  # turns -> steps (one env action each) -> call strings
#: A call per backend that changes its public state, and one that only reads it.
STATE_CHANGING = {
    "GorillaFileSystem": "mkdir(dir_name='oracle_extra')",
    "MessageAPI": "add_contact(user_name='Oracle Extra')",
    "TwitterAPI": "post_tweet(content='oracle extra')",
    "TicketAPI": "ticket_login(username='oracle', password='oracle')",
    "TradingBot": "fund_account(amount=1.0)",
    "TravelAPI": ("authenticate_travel(client_id='oracle', client_secret='oracle', "
                  "refresh_token='oracle', grant_type='read_write', user_first_name='Ora', "
                  "user_last_name='Cle')"),
    "VehicleControlAPI": "fillFuelTank(fuelAmount=1.0)",
}
READ_ONLY = {
    "GorillaFileSystem": "pwd()",
    "MathAPI": "add(a=1.0, b=2.0)",
    "MessageAPI": "list_users()",
    "TwitterAPI": "posting_get_login_status()",
    "TicketAPI": "ticket_get_login_status()",
    "TradingBot": "get_current_time()",
    "TravelAPI": "list_all_airports()",
    "VehicleControlAPI": "get_current_speed()",
}
_oracle_runs = iter(range(10**9))


def _raw_jsonl(*parts: str) -> dict[str, dict]:
    path = data.data_dir().joinpath(*parts)
    with path.open(encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle) if row}


_RAW: dict[str, tuple[dict, dict]] = {}


def raw_task(task_id: str) -> tuple[dict, list[list[str]]]:
    """The test entry and ground truth exactly as bfcl-eval's files hold them."""
    category = data.category_of(task_id)
    if category not in _RAW:
        name = f"BFCL_v4_multi_turn_{category}.json"
        _RAW[category] = (_raw_jsonl(name), _raw_jsonl("possible_answer", name))
    entries, answers = _RAW[category]
    return json.loads(json.dumps(entries[task_id])), answers[task_id]["ground_truth"]


def bfcl_verdicts(task_id: str, trajectory: Trajectory) -> tuple[bool, bool]:
    """(multi_turn_checker valid, multi_turn_irrelevance_checker valid) for the trajectory."""
    entry, truth = raw_task(task_id)
    model_name = f"earlyexp_oracle_{next(_oracle_runs)}"  # bfcl-eval keys live instances by it
    try:
        official = multi_turn_checker(trajectory, truth, entry, task_id.rsplit("_", 1)[0],
                                      model_name)
    finally:
        for key in [k for k in vars(bfcl_utils) if k.startswith(model_name)]:
            delattr(bfcl_utils, key)
    return official["valid"], multi_turn_irrelevance_checker(trajectory, truth)["valid"]


def env_verdict(env, task_id: str, trajectory: Trajectory) -> bool:
    """Play the trajectory in the env: each step one action, `end_turn` after each turn."""
    _, info = start(env, task_id)
    for turn in trajectory:
        for step in turn:
            *_, info = env.step(step[0] if len(step) == 1 else f"[{', '.join(step)}]")
        _, _, terminated, truncated, info = env.step("end_turn")
        if terminated or truncated:
            break
    return info["success"]


def _with_argument_changed(call: str, rng: random.Random) -> str | None:
    parsed = parse_call(call)
    slots = [(i, v) for i, v in enumerate(parsed.args) if _changeable(v)]
    slots += [(k, v) for k, v in parsed.kwargs.items() if _changeable(v)]
    if not slots:
        return None
    key, value = rng.choice(slots)
    changed = value + "_x" if isinstance(value, str) else value + 1
    args = [changed if i == key else v for i, v in enumerate(parsed.args)]
    kwargs = {k: changed if k == key else v for k, v in parsed.kwargs.items()}
    text = [repr(v) for v in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{parsed.name}({', '.join(text)})"


def _changeable(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def perturbed_trajectories(task_id: str, rng: random.Random) -> dict[str, Trajectory]:
    """The expert trajectory and its perturbations that apply to this task."""
    entry, truth = raw_task(task_id)
    classes = entry["involved_classes"]
    expert = [[[call] for call in turn] for turn in truth]
    full = [t for t, turn in enumerate(truth) if turn]
    empty = [t for t, turn in enumerate(truth) if not turn]

    def variant(edit) -> Trajectory:
        copy = [[list(step) for step in turn] for turn in expert]
        edit(copy)
        return copy

    out = {"expert": expert, "batched": [[list(turn)] if turn else [] for turn in truth]}
    t = rng.choice(full)
    i = rng.randrange(len(truth[t]))
    out["dropped_call"] = variant(lambda tr: tr[t].pop(i))
    changed = _with_argument_changed(truth[t][i], rng)
    if changed:
        out["changed_argument"] = variant(lambda tr: tr[t].__setitem__(i, [changed]))
    writer = rng.choice([c for c in classes if c in STATE_CHANGING] or [None])
    if writer:
        out["extra_state_change"] = variant(lambda tr: tr[t].append([STATE_CHANGING[writer]]))
    reader = READ_ONLY[rng.choice(classes)]
    out["extra_read_only"] = variant(lambda tr: tr[t].insert(rng.randrange(len(tr[t]) + 1),
                                                             [reader]))
    out["unknown_function"] = variant(lambda tr: tr[t].insert(0, ["no_such_function(x=1)"]))
    pairs = [u for u in full if u + 1 in full and truth[u] != truth[u + 1]]
    if pairs:
        u = rng.choice(pairs)
        out["swapped_turns"] = variant(lambda tr: tr.__setitem__(slice(u, u + 2),
                                                                 [tr[u + 1], tr[u]]))
    if empty:
        e = rng.choice(empty)
        later = [u for u in full if u > e]
        out["empty_turn_read_only"] = variant(lambda tr: tr[e].append([reader]))
        if later:
            out["empty_turn_next_call"] = variant(lambda tr: tr[e].append([truth[later[0]][0]]))
        if writer:
            out["empty_turn_state_change"] = variant(
                lambda tr: tr[e].append([STATE_CHANGING[writer]]))
    return out


def oracle_sample(per_category: int | None, seed: int) -> list[str]:
    """Tasks of every category drawn with a fixed seed (None: all 800); base 167 and 180,
    the base tasks with an empty-ground-truth turn, are always in."""
    rng = random.Random(seed)
    ids = ["multi_turn_base_167", "multi_turn_base_180"]
    for category in data.CATEGORIES:
        pool = sorted(set(data.load_category(category)) - set(ids))
        ids += pool if per_category is None else rng.sample(pool, per_category)
    return ids


def compare_with_bfcl_eval(task_ids: list[str], seed: int) -> dict[str, int]:
    default = envs.make("bfcl", max_steps=500)
    strict = envs.make("bfcl", max_steps=500, strict_irrelevance=True)
    rng = random.Random(seed)
    disagreements, counts = [], {"trajectories": 0, "pass": 0, "fail": 0}
    for task_id in task_ids:
        for kind, trajectory in perturbed_trajectories(task_id, rng).items():
            official, irrelevance_ok = bfcl_verdicts(task_id, trajectory)
            ours = env_verdict(default, task_id, trajectory)
            ours_strict = env_verdict(strict, task_id, trajectory)
            if ours != official or ours_strict != (official and irrelevance_ok):
                disagreements.append((task_id, kind, official, ours, irrelevance_ok, ours_strict))
            counts["trajectories"] += 1
            counts["pass" if official else "fail"] += 1
            if kind == "expert":
                assert official, f"bfcl-eval fails the ground truth of {task_id}"
    assert not disagreements, disagreements
    return counts


def test_scoring_equals_bfcl_evals_official_checker_on_a_sample():
    """Identical verdicts with `multi_turn_checker` (default) and with it plus
    `multi_turn_irrelevance_checker` (strict_irrelevance), on expert and perturbed trajectories
    of every category."""
    counts = compare_with_bfcl_eval(oracle_sample(per_category=2, seed=15), seed=15)
    assert counts["pass"] >= 10 and counts["fail"] >= 10, counts  # both verdicts exercised


@pytest.mark.slow
def test_scoring_equals_bfcl_evals_official_checker_on_every_task():
    """The same comparison on all 800 tasks (7,439 trajectories; ~1 min on 2 cores)."""
    counts = compare_with_bfcl_eval(oracle_sample(per_category=None, seed=7), seed=7)
    assert counts["trajectories"] > 7000, counts
