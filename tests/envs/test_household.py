"""The household family: expert, determinism, snapshots, ALFWorld's rules, splits, bad input."""
from __future__ import annotations

import copy
import json
import random
import string
import time

from pathlib import Path

import gymnasium
import pytest
import yaml

import earlyexp.envs as envs
from earlyexp.envs.household import catalog, data
from earlyexp.envs.household.catalog import CLEAN, COOL, HEAT, LOOK, PICK, PICK_TWO
from earlyexp.envs.household.expert import expert_action
from earlyexp.envs.household.generator import generate_task
from earlyexp.envs.household.grammar import Command, parse
from earlyexp.envs.household.world import Goal, TaskSpec, World, type_of
from earlyexp.errors import ConfigError, UnknownSplitError, UnknownTaskError

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"num_train": 600, "num_test": 140, "num_ood": 134}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One scratch cache for the module, so tests never touch the user's cache."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EARLYEXP_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def env(cache_dir):
    environment = envs.make("household", **SIZES)
    yield environment
    environment.close()


def run_expert(env, task_id, seed=0):
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    trace = [obs]
    while not (info["success"]) and len(trace) <= env.max_steps:
        action = info["expert_action"]
        assert action in info["admissible_actions"], (task_id, action)
        obs, _, _, truncated, info = env.step(action)
        assert info["valid_action"], (task_id, action, obs)
        trace.append(obs)
        if truncated:
            break
    return info, trace


def kitchen(goal: Goal, placement, receptacles=None) -> World:
    """A hand-made kitchen for rule tests."""
    receptacles = receptacles or ("countertop 1", "cabinet 1", "fridge 1", "microwave 1",
                                  "sinkbasin 1", "diningtable 1", "desk 1")
    return World(TaskSpec("hand-0", "kitchen-a", goal, tuple(receptacles), tuple(placement)))


def play(world: World, *commands: str) -> list[str]:
    observations = []
    for command in commands:
        observation, valid = world.execute(command)
        assert valid, (command, observation)
        observations.append(observation)
    return observations


# ---------------------------------------------------------------- expert
@pytest.mark.parametrize("split,sample", [("train", 90), ("test", 60), ("ood", 40)])
def test_expert_solves_a_sample(env, split, sample):
    tasks = random.Random(split).sample(env.tasks(split), sample)
    for task_id in tasks:
        info, trace = run_expert(env, task_id)
        assert info["success"] and info["score"] == 1.0, (task_id, trace)
        assert info["expert_action"] is None


def test_expert_recovers_from_random_detours(env):
    rng = random.Random(7)
    for task_id in rng.sample(env.tasks("train"), 60):
        _, info = env.reset(seed=0, options={"task_id": task_id})
        for _ in range(rng.randint(3, 20)):
            *_, terminated, _, info = env.step(rng.choice(info["admissible_actions"]))
            if terminated:
                break
        for _ in range(20):
            if info["success"]:
                break
            *_, info = env.step(info["expert_action"])
        assert info["success"], task_id


def test_every_admissible_command_is_carried_out(env):
    rng = random.Random(3)
    for task_id in env.tasks("test")[:30]:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        for _ in range(12):
            snap = env.snapshot()
            for action in info["admissible_actions"]:
                env.restore(snap)
                assert env.step(action)[4]["valid_action"], (task_id, action)
            env.restore(snap)
            *_, terminated, _, info = env.step(rng.choice(info["admissible_actions"]))
            if terminated:
                break


# ---------------------------------------------------------------- determinism
def test_same_task_and_seed_same_episode(env, cache_dir):
    other = envs.make("household", **SIZES)
    for task_id in ("train-0005", "test-0003", "ood-0010"):
        traces = []
        for environment in (env, other):
            rng = random.Random(11)
            obs, info = environment.reset(seed=4, options={"task_id": task_id})
            trace = [(obs, info["expert_action"])]
            for _ in range(25):
                obs, reward, *_, info = environment.step(rng.choice(info["admissible_actions"]))
                trace.append((obs, reward, info["score"], info["expert_action"]))
                if info["success"]:
                    break
            traces.append(trace)
        assert traces[0] == traces[1]


def test_generation_is_deterministic_and_cached(cache_dir):
    assert generate_task(0, "train", 17) == generate_task(0, "train", 17)
    assert generate_task(0, "train", 17) != generate_task(1, "train", 17)
    specs = data.load_split(0, "test", 140)
    path = data.split_path(0, "test", 140)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert specs == tuple(generate_task(0, "test", i) for i in range(140))
    assert json.loads(path.read_text())["key"] == data.params_key(0)


def test_a_corrupt_cache_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("EARLYEXP_CACHE", str(tmp_path))
    path = data.split_path(0, "ood", 7)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "tasks": [')  # what a killed non-atomic write would leave
    specs = data.load_split(0, "ood", 7)
    assert specs == tuple(generate_task(0, "ood", i) for i in range(7))
    assert json.loads(path.read_text())["size"] == 7


def test_small_variant_is_a_prefix_of_the_full_split(env, cache_dir):
    small = envs.make("household", **envs.spec("household").smoke_kwargs)
    for task_id in small.tasks("train"):
        assert small.reset(seed=0, options={"task_id": task_id})[0] == \
            env.reset(seed=0, options={"task_id": task_id})[0]


# ---------------------------------------------------------------- snapshots
def test_native_restore_matches_replay_and_is_reusable(env):
    for task_id in ("train-0002", "train-0004", "test-0005"):
        obs, info = env.reset(seed=0, options={"task_id": task_id})
        for _ in range(3):
            obs, *_, info = env.step(info["expert_action"])
        native, replay = env.snapshot(), env.snapshot(mode="replay")
        assert native.native is not None and replay.native is None
        expected = (obs, info)
        for snap in (native, native, replay):
            env.step("go to " + env._world.spec.receptacles[0])
            env.step("inventory")
            assert env.restore(snap) == expected
            assert env.step(info["expert_action"])[4]["score"] >= info["score"]


def test_native_snapshot_is_faster_than_replay(env):
    _, info = env.reset(seed=0, options={"task_id": "train-0003"})
    for _ in range(6):
        *_, info = env.step(info["expert_action"])

    def best_of(mode: str) -> float:
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(200):
                env.restore(env.snapshot(mode=mode))
            runs.append(time.perf_counter() - start)
        return min(runs)

    assert best_of("auto") < best_of("replay")


# ---------------------------------------------------------------- rules
def test_heat_task_conditions_reward_and_observations():
    goal = Goal(HEAT, "apple", "countertop", None, "put a hot apple on countertop.")
    world = kitchen(goal, [("apple 1", "fridge 1"), ("mug 1", "countertop 1")])
    assert world.goal_conditions() == (0, 2)
    assert play(world, "go to fridge 1") == ["You arrive at fridge 1. The fridge 1 is closed."]
    assert play(world, "open fridge 1") == [
        "You open the fridge 1. The fridge 1 is open. In it, you see a apple 1."]
    play(world, "take apple 1 from fridge 1", "go to countertop 1", "put apple 1 on countertop 1")
    assert world.goal_conditions() == (0, 2)  # a cold apple on the counter is no hot apple
    play(world, "take apple 1 from countertop 1", "go to microwave 1")
    assert play(world, "heat apple 1 with microwave 1") == [
        "You heat the apple 1 using the microwave 1."]
    assert world.goal_conditions() == (1, 2) and not world.success()
    play(world, "go to countertop 1")
    assert play(world, "put apple 1 in/on countertop 1") == [
        "You put the apple 1 on the countertop 1."]
    assert world.goal_conditions() == (2, 2) and world.success()


def test_heating_undoes_cooling():
    goal = Goal(COOL, "apple", "diningtable", None, "put a cool apple on diningtable.")
    world = kitchen(goal, [("apple 1", "countertop 1")])
    play(world, "go to countertop 1", "take apple 1 from countertop 1", "go to fridge 1",
         "cool apple 1 with fridge 1")
    assert world.goal_conditions() == (1, 2)
    play(world, "go to microwave 1", "heat apple 1 with microwave 1")
    assert world.goal_conditions() == (0, 2)
    assert play(world, "examine apple 1") == ["This is a hot apple 1."]
    assert expert_action(world) == "go to fridge 1"


def test_pick_two_counts_objects_in_one_receptacle():
    goal = Goal(PICK_TWO, "cup", "cabinet", None, "put two cup in cabinet.")
    receptacles = ("countertop 1", "cabinet 1", "cabinet 2", "sinkbasin 1")
    world = kitchen(goal, [("cup 1", "countertop 1"), ("cup 2", "sinkbasin 1")], receptacles)
    play(world, "go to countertop 1", "take cup 1 from countertop 1", "go to cabinet 2",
         "open cabinet 2", "put cup 1 in cabinet 2")
    assert world.goal_conditions() == (1, 2)
    assert expert_action(world) == "go to sinkbasin 1"
    play(world, "go to sinkbasin 1", "take cup 2 from sinkbasin 1", "go to cabinet 1",
         "open cabinet 1", "put cup 2 in cabinet 1")
    assert world.goal_conditions() == (1, 2)  # one cup in each cabinet is not two in one
    play(world, "take cup 2 from cabinet 1", "go to cabinet 2", "put cup 2 in cabinet 2")
    assert world.success()


def test_look_task_needs_the_object_in_hand_under_a_lit_lamp():
    goal = Goal(LOOK, "book", None, "desklamp", "look at book under the desklamp.")
    world = kitchen(goal, [("book 1", "countertop 1"), ("desklamp 1", "desk 1")])
    play(world, "go to desk 1", "use desklamp 1")
    assert world.goal_conditions() == (1, 2)
    play(world, "go to countertop 1", "take book 1 from countertop 1")
    assert world.goal_conditions() == (1, 2)  # the lamp is on, but not here
    assert play(world, "go to desk 1")[0] == "You arrive at desk 1. On the desk 1, you see a desklamp 1."
    assert world.success()
    assert play(world, "use desklamp 1") == ["You turn off the desklamp 1."]
    assert world.goal_conditions() == (1, 2)


def test_env_reward_and_score_on_a_generated_clean_task(env):
    task_id = next(t for t in env.tasks("train")
                   if env.task_spec(t).goal.task_type == CLEAN)
    _, info = env.reset(seed=0, options={"task_id": task_id})
    rewards, scores = [], []
    while not info["success"]:
        action = info["expert_action"]
        _, reward, terminated, _, info = env.step(action)
        rewards.append(reward)
        scores.append(info["score"])
    assert action.startswith("put ") and terminated
    assert rewards == [0.0] * (len(rewards) - 1) + [1.0]
    assert scores[-1] == 1.0 and 0.5 in scores and set(scores) <= {0.0, 0.5, 1.0}


def test_refusals_say_nothing_happens_and_change_nothing():
    goal = Goal(PICK, "mug", "cabinet", None, "put a mug in cabinet.")
    world = kitchen(goal, [("mug 1", "cabinet 1"), ("apple 1", "countertop 1")])
    cases = {
        "take mug 1 from cabinet 1": "You are not at the cabinet 1; go to it first.",
        "go to mug 1": "You cannot go to the mug 1.",
        "open cabinet 9": "There is no cabinet 9 in this room.",
        "put mug 1 in cabinet 1": "You are not carrying the mug 1.",
        "heat apple 1 with fridge 1": "You are not carrying the apple 1.",
        "dance": "'dance' is not a command.",
    }
    for command, reason in cases.items():
        before = copy.deepcopy(world.state)
        observation, valid = world.execute(command)
        assert not valid and observation.startswith("Nothing happens. " + reason), observation
        assert world.state == before
    play(world, "go to cabinet 1")
    assert world.execute("take mug 1 from cabinet 1") == (
        "Nothing happens. The cabinet 1 is closed.", False)
    play(world, "open cabinet 1", "take mug 1 from cabinet 1", "go to countertop 1")
    assert world.execute("take apple 1 from countertop 1")[0].endswith(
        "You are already carrying the mug 1; put it somewhere first.")
    assert world.execute("open countertop 1", explain=False) == ("Nothing happens.", False)
    assert world.execute("clean mug 1 with microwave 1")[0].endswith(
        "You can only clean things with a sinkbasin.")


def test_grammar_variants_and_canonical_form():
    assert parse("  Put  Apple 1  ON countertop 2. ") == Command("put", ("apple 1", "countertop 2"))
    assert parse("put apple 1 in/on fridge 1") == parse("put apple 1 in fridge 1")
    assert str(parse("take mug 3 from shelf 12")) == "take mug 3 from shelf 12"
    assert str(Command("put", ("mug 1", "desk 1"))) == "put mug 1 in/on desk 1"
    for bad in ("go to", "take apple from desk 1", "put apple 1 desk 1", "go to apple", "eval(1)"):
        assert parse(bad) is None, bad


# ---------------------------------------------------------------- splits
def test_splits_are_fixed_sized_and_checked(env):
    assert [len(env.tasks(s)) for s in env.splits] == [600, 140, 134]
    assert env.tasks("train")[:3] == ["train-0000", "train-0001", "train-0002"]
    types = [env.task_spec(t).goal.task_type for t in env.tasks("test")[:12]]
    assert types == list(catalog.TASK_TYPES) * 2
    with pytest.raises(UnknownSplitError):
        env.tasks("valid")
    for bad in ("train-0600", "train-12", "dev-0001", "nonsense"):
        with pytest.raises(UnknownTaskError):
            env.reset(seed=0, options={"task_id": bad})
    with pytest.raises(ConfigError):
        envs.make("household", num_test=0)


def test_ood_objects_and_layouts_never_appear_in_train_or_test(env):
    seen_rtypes = {r for layout in catalog.LAYOUTS["seen"].values() for r, *_ in layout}
    for split in ("train", "test"):
        for task_id in env.tasks(split):
            spec = env.task_spec(task_id)
            assert spec.layout in catalog.LAYOUTS["seen"]
            assert not {type_of(o) for o, _ in spec.placement} & catalog.OOD_OBJECT_TYPES
    for task_id in env.tasks("ood"):
        spec = env.task_spec(task_id)
        assert spec.goal.object_type in catalog.OOD_OBJECT_TYPES
        assert {type_of(r) for r in spec.receptacles} - seen_rtypes, spec.layout
    train_rooms = {env.task_spec(t).placement for t in env.tasks("train")}
    assert not {env.task_spec(t).placement for t in env.tasks("test")} & train_rooms


# ---------------------------------------------------------------- bad input and contract
def test_fuzzed_and_malformed_actions_are_invalid_observations(env):
    rng = random.Random(5)
    _, info = env.reset(seed=0, options={"task_id": "train-0000"})
    admissible = info["admissible_actions"]
    actions = [None, 42, b"look", "", "\t", "take", "put  in/on", "go to cabinet 999",
               "heat heat 1 with with 1", "__import__('os')", "x" * 10000, "\x00go to"]
    actions += ["".join(rng.choice(string.printable) for _ in range(rng.randint(1, 50)))
                for _ in range(1000)]
    for action in actions:
        obs, reward, terminated, truncated, step_info = env.step(action)
        assert not step_info["valid_action"] and reward == 0.0 and not terminated
        assert obs.startswith(("Nothing happens.", "Invalid action")) and len(obs) < 1000
        if truncated:
            env.reset(seed=0, options={"task_id": "train-0000"})
    _, info = env.reset(seed=0, options={"task_id": "train-0000"})
    assert info["admissible_actions"] == admissible
    assert run_expert(env, "train-0000")[0]["success"]


def test_config_builds_the_registered_env():
    config = yaml.safe_load((ROOT / "configs" / "env" / "household.yaml").read_text())
    env = envs.make(config["name"], **config["kwargs"])
    assert env.sizes == {"train": 3553, "test": 140, "ood": 134} and env.max_steps == 50
    assert config["kwargs"].items() >= envs.spec("household").kwargs.items()


def test_documented_info_keys_and_gymnasium_entry_point(cache_dir):
    env = gymnasium.make("earlyexp/Household-v0", **SIZES).unwrapped
    _, info = env.reset(seed=0, options={"task_id": "test-0001"})
    doc = type(env).__doc__
    for key in info:
        assert f"`{key}`" in doc, key
    assert info["task_type"] == LOOK and info["layout"] in catalog.LAYOUTS["seen"]
    assert "Your task is to: " + info["goal"] in env.reset(seed=1,
                                                          options={"task_id": "test-0001"})[0]
