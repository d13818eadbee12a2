"""The textworld family: real TextWorld games, expert, reward, snapshots, cache and splits.

Everything runs on the registered smoke variant (3 games per split), generated
once into the shared cache; the cache tests copy it into a scratch directory.
"""
from __future__ import annotations

import json
import random
import shutil
import time

import gymnasium
import pytest
from earlyexp.envs.textworld.generation import (
    GameSetSpec,
    candidate,
    game_fingerprint,
)
from earlyexp.envs.textworld.text import clean_feedback, normalize_command

from earlyexp import envs
from earlyexp.errors import ConfigError, UnknownSplitError, UnknownTaskError

SMOKE = envs.spec("textworld").smoke_kwargs


@pytest.fixture(scope="module")
def env():
    environment = envs.make("textworld", **SMOKE)
    yield environment
    environment.close()


def follow_expert(env, info, limit=40):
    """Step along `info["expert_action"]`; return the rewards and the last info."""
    rewards = []
    while info["expert_action"] is not None and len(rewards) < limit:
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        rewards.append(reward)
        if terminated or truncated:
            break
    return rewards, info


def detour(info) -> str:
    """An admissible action that is not the expert's and cannot end the game."""
    safe = [a for a in info["admissible_actions"]
            if a != info["expert_action"] and not a.startswith(("eat", "drink"))]
    return min(safe, key=lambda a: (not a.startswith("go"), a))


# ---------------------------------------------------------------- expert and reward
@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_expert_solves_every_game_of_the_split(env, split):
    for task_id in env.tasks(split):
        _, info = env.reset(seed=0, options={"task_id": task_id})
        rewards, info = follow_expert(env, info)
        assert info["success"] and info["won"] and not info["lost"], task_id
        assert info["score"] == 1.0 and info["expert_action"] is None
        assert sum(rewards) == pytest.approx(1.0)
        assert 3 <= len(rewards) <= 15, "the default must keep expert paths short"


def test_expert_is_right_after_deviations(env):
    for task_id in env.tasks("train"):
        _, info = env.reset(seed=0, options={"task_id": task_id})
        for _ in range(2):  # a wrong move, one expert move, another wrong move
            _, _, _, _, info = env.step(detour(info))
            _, _, _, _, info = env.step(info["expert_action"])
        _, info = follow_expert(env, info)
        assert info["success"], task_id


def test_reward_is_points_gained_over_max_points(env):
    # tw-cooking gives one point per ingredient taken, one for the meal, one for eating it.
    for task_id, take in [(env.tasks("train")[0], 1), (env.tasks("ood")[0], 2)]:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        assert info["max_points"] == take + 2 and info["points"] == 0 and info["score"] == 0.0
        points = 0
        while info["expert_action"] is not None:
            _, reward, _, _, info = env.step(info["expert_action"])
            assert reward == pytest.approx((info["points"] - points) / (take + 2))
            assert info["score"] == pytest.approx(info["points"] / (take + 2))
            points = info["points"]
        assert points == take + 2


def test_losing_terminates_without_success(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    while not any(a.startswith(("eat", "drink")) and "meal" not in a
                  for a in info["admissible_actions"]):
        _, _, _, _, info = env.step(info["expert_action"])  # until an ingredient is in hand
    points = info["points"]
    ingredient = next(a for a in info["admissible_actions"]
                      if a.startswith(("eat", "drink")) and "meal" not in a)
    obs, reward, terminated, truncated, info = env.step(ingredient)
    assert terminated and not truncated and reward == 0.0
    assert info["lost"] and not info["success"] and info["expert_action"] is None
    assert info["points"] == points and "You lost!" in obs


def test_truncates_at_max_steps():
    small = envs.make("textworld", **{**SMOKE, "max_steps": 2})
    _, info = small.reset(seed=0, options={"task_id": small.tasks("train")[0]})
    assert small.step("look")[3] is False
    _, _, terminated, truncated, info = small.step("look")
    assert truncated and not terminated and not info["success"]


# ---------------------------------------------------------------- observations and input
def test_observations_are_cleaned(env):
    obs, info = env.reset(seed=0, options={"task_id": env.tasks("test")[0]})
    assert obs.startswith(info["goal"]) and "$$" not in obs and "=-0/" not in obs
    obs, *_ = env.step("look")
    assert obs.startswith("-= ") and not obs.rstrip().endswith(">")


def test_clean_feedback_hand_cases():
    banner = "\n\n  ________  __\n |        \\|  \\\n  \\$$$$$$$$| $$\n\n"
    raw = banner + "Welcome! Find the key.\n\n-= Hall =-\nA hall.\n\n\n\n>     -= Hall =-0/1"
    assert clean_feedback(raw) == "Welcome! Find the key.\n\n-= Hall =-\nA hall."
    end = ("You eat it.\n\n        *** The End ***\n\nYou scored 3 out of a possible 3, in 5 "
           "turns.\n\nWould you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command?")
    assert clean_feedback(end) == ("You eat it.\n\n*** The End ***\n\n"
                                   "You scored 3 out of a possible 3, in 5 turns.")
    assert normalize_command("  Go   NORTH ") == "go north"


def test_bad_and_meta_commands_never_reach_the_game(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[1]})
    before = (info["admissible_actions"], info["expert_action"], info["points"])
    for action in ["quit", "restart", "undo", "xyzzy", "open", "go nowhere", "🙂", "a" * 3000,
                   "__import__('os')", 42, None]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert not info["valid_action"] and reward == 0.0 and not (terminated or truncated)
        assert isinstance(obs, str) and len(obs) < 300
        assert (info["admissible_actions"], info["expert_action"], info["points"]) == before
    obs, *_, info = env.step("  " + info["expert_action"].upper() + " ")
    assert info["valid_action"], "case and spacing are normalised"
    assert "Did you mean 'look'?" in env.step("lok")[0]
    _, info = follow_expert(env, info)
    assert info["success"], "the game is intact after rejected commands"


def test_unknown_task_split_and_settings_are_clear_errors(env):
    with pytest.raises(UnknownTaskError, match="Did you mean 'train-000"):
        env.reset(options={"task_id": "train-000"})
    with pytest.raises(UnknownSplitError):
        env.tasks("valid")
    with pytest.raises(ConfigError, match="Did you mean 'recipe'"):
        envs.make("textworld", **{**SMOKE, "settings": {"recipes": 2}})
    with pytest.raises(ConfigError, match="level"):
        envs.make("textworld", challenge="tw-coin_collector", settings={"level": [9, 3]})
    with pytest.raises(ConfigError, match="challenge"):
        envs.make("textworld", challenge="tw-zork")
    with pytest.raises(ConfigError, match="num_ood"):
        envs.make("textworld", **{**SMOKE, "num_ood": 0})


def test_documented_info_keys_appear(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
    doc = type(env).__doc__.split("Information:")[1].split("Arguments:")[0]
    for key in ["points", "max_points", "won", "lost", "level"]:
        assert f"`{key}`" in doc and key in info
    assert info["admissible_actions"] == sorted(info["admissible_actions"])


def test_gymnasium_make_accepts_the_smoke_variant():
    environment = gymnasium.make("earlyexp/TextWorld-v0", **SMOKE)
    obs, info = environment.reset(seed=0)
    assert info["task_id"] in environment.unwrapped.tasks("train") and obs
    environment.close()


# ---------------------------------------------------------------- determinism and snapshots
def rollout(environment, task_id, seed, steps=12):
    rng = random.Random(seed)
    obs, info = environment.reset(seed=seed, options={"task_id": task_id})
    trace = [(obs, info)]
    for _ in range(steps):
        step = environment.step(rng.choice(info["admissible_actions"]))
        info = step[-1]
        trace.append(step)
        if step[2] or step[3]:
            break
    return trace


def test_same_task_and_seed_give_the_same_episode(env):
    other = envs.make("textworld", **SMOKE)
    for task_id in env.tasks("test"):
        assert rollout(env, task_id, 5) == rollout(other, task_id, 5)
    other.close()


def deep_state(env, task_id):
    """Reach a state a few moves deep, off the expert path; return its (obs, info)."""
    obs, info = env.reset(seed=3, options={"task_id": task_id})
    for action in [detour(info), "look", "inventory", None, None]:
        obs, _, _, _, info = env.step(action or info["expert_action"])
    return obs, info


def test_native_restore_matches_replay_and_is_faster(env):
    obs, info = deep_state(env, env.tasks("ood")[0])
    expected = (obs, info["admissible_actions"], info["expert_action"], info["points"])
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    assert native.native is not None and replay.native is None
    timings = {"native": [], "replay": []}
    for _ in range(5):
        for name, snap in [("native", native), ("replay", replay)]:
            env.step(detour(info))  # move away, then come back
            start = time.perf_counter()
            obs, info = env.restore(snap)
            timings[name].append(time.perf_counter() - start)
            assert (obs, info["admissible_actions"], info["expert_action"],
                    info["points"]) == expected
    assert min(timings["native"]) < min(timings["replay"]), timings
    _, info = follow_expert(env, info)
    assert info["success"]


def test_reward_after_restore_does_not_pay_twice(env):
    _, info = env.reset(seed=0, options={"task_id": env.tasks("train")[2]})
    rewards = []
    while info["points"] == 0:
        _, reward, _, _, info = env.step(info["expert_action"])
        rewards.append(reward)
    snap = env.snapshot()
    env.step(detour(info))
    _, info = env.restore(snap)
    later, info = follow_expert(env, info)
    assert sum(rewards) + sum(later) == pytest.approx(1.0)


#: Verbs whose action changes the world (and TextWorld's quest tracker), not just the view.
WORLD_CHANGING = ("take", "drop", "put", "insert", "open", "close", "cook", "eat", "drink",
                  "prepare", "slice", "chop", "dice", "go")


def alternatives(info, rng, k=3):
    """Up to `k` non-expert actions, world-changing ones (losing ones included) first."""
    others = [a for a in info["admissible_actions"] if a != info["expert_action"]]
    changing = [a for a in others if a.split()[0] in WORLD_CHANGING]
    picked = rng.sample(changing, min(k - 1, len(changing)))
    rest = [a for a in others if a not in picked]
    return picked + rng.sample(rest, min(k - len(picked), len(rest)))


def continuation(env, info, seed, steps=4):
    """Play `steps` random admissible actions from the current state; return every step."""
    rng, trace = random.Random(seed), []
    for _ in range(steps):
        if not info["admissible_actions"]:
            break
        step = env.step(rng.choice(info["admissible_actions"]))
        trace.append(step)
        info = step[-1]
        if step[2] or step[3]:
            break
    return trace


def branch_both_ways(env, native, replay, action, seed):
    """Restore each snapshot, take `action` and continue randomly; return both traces."""
    traces = []
    for snap in (native, replay):
        restored = env.restore(snap)
        step = env.step(action)
        traces.append([restored, step] + (continuation(env, step[-1], seed)
                                          if not (step[2] or step[3]) else []))
    return traces


@pytest.mark.parametrize("task", ["train", "ood"])
def test_native_restore_equals_replay_along_the_expert_path(env, task):
    # At every expert state: restoring the native snapshot gives the same observation
    # and info (admissible, expert action, score, points, won/lost) as a replay, and so
    # does everything after it: a world-changing or losing alternative and a random
    # continuation, with the same rewards (the best-points bookkeeping).
    task_id, rng = env.tasks(task)[0], random.Random(task)
    _, info = env.reset(seed=7, options={"task_id": task_id})
    depth = 0
    while info["expert_action"] is not None:
        native, replay = env.snapshot(), env.snapshot(mode="replay")
        for n, action in enumerate(alternatives(info, rng)):
            via_native, via_replay = branch_both_ways(env, native, replay, action, 100 * depth + n)
            assert via_native == via_replay, (task_id, depth, action)
        obs, info = env.restore(native)
        _, reward, terminated, _, info = env.step(info["expert_action"])
        depth += 1
        assert not terminated or info["success"]
    assert info["success"] and depth >= 5


def internals(env):
    """Everything a TextWorld game carries from one step to the next, comparably."""
    tracking = env._game._wrapped_env
    inform7 = tracking._wrapped_env
    ram, stack, *registers = env._game.unwrapped._jericho.get_state()
    progression = tracking._game_progression
    quests = [(q.nb_completions, [(e._triggered, e._untriggerable, e._policy, e._tree.values)
                                  for e in q.win_events + q.fail_events])
              for q in progression.quest_progressions]
    return (ram.tobytes(), stack.tobytes(), registers, dict(tracking.state), dict(inform7.state),
            dict(inform7._prev_state or {}), inform7._tracked_infos, tracking._last_action,
            tracking._current_winning_policy, tracking._previous_winning_policy,
            tracking._moves, set(progression.state.facts), progression.valid_actions, quests)


def test_one_snapshot_restores_many_times_after_diverging_play(env):
    obs, info = deep_state(env, env.tasks("ood")[0])
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    expected = env.restore(replay)
    state = internals(env)
    for seed in range(6):
        restored = env.restore(native)
        assert restored == expected
        assert internals(env) == state, "interpreter and trackers are as a replay leaves them"
        assert env.actions_taken == native.actions
        assert continuation(env, restored[1], seed, steps=6) == continuation(
            env, env.restore(replay)[1], seed, steps=6)
    _, info = env.restore(native)
    rewards, info = follow_expert(env, info)
    assert info["success"] and sum(rewards) == pytest.approx(1.0)


def test_native_restore_reuses_the_open_interpreter(env):
    _, info = deep_state(env, env.tasks("train")[1])
    game, frotz = env._game, env._game.unwrapped._jericho
    snap = env.snapshot()
    env.step(detour(info))
    env.restore(snap)
    assert env._game is game and env._game.unwrapped._jericho is frotz


def test_snapshot_stays_valid_after_other_games(env):
    first, second = env.tasks("train")[0], env.tasks("test")[1]
    obs, info = deep_state(env, first)
    native, replay = env.snapshot(), env.snapshot(mode="replay")
    _, other = env.reset(seed=1, options={"task_id": second})  # another game, then the same
    follow_expert(env, other, limit=3)                         # game from its start
    env.reset(seed=9, options={"task_id": first})
    env.step(detour(info))
    assert env.restore(native) == (obs, info) == env.restore(replay)
    assert continuation(env, env.restore(native)[1], 3) == continuation(
        env, env.restore(replay)[1], 3)
    _, info = env.restore(native)
    _, info = follow_expert(env, info)
    assert info["success"]


def test_snapshot_survives_its_game_being_closed(monkeypatch):
    import earlyexp.envs.textworld.env as module

    monkeypatch.setattr(module, "_OPEN_GAMES", 1)  # opening another game closes this one
    small = envs.make("textworld", **SMOKE)
    obs, info = deep_state(small, small.tasks("ood")[0])
    native, replay = small.snapshot(), small.snapshot(mode="replay")
    closed = small._game
    small.reset(seed=0, options={"task_id": small.tasks("train")[2]})
    assert not closed.unwrapped.game_running
    assert small.restore(native) == (obs, info)
    assert continuation(small, info, 5, steps=6) == continuation(
        small, small.restore(replay)[1], 5, steps=6)
    small.close()  # and after the env itself was closed
    assert small.restore(native) == (obs, info)
    _, info = follow_expert(small, info)
    assert info["success"]
    small.close()


def test_forked_snapshot_fallback_still_works(env, monkeypatch):
    from earlyexp.envs.textworld import snapshot

    monkeypatch.setattr(snapshot, "layers", lambda game: None)  # an unknown wrapper stack
    obs, info = deep_state(env, env.tasks("test")[0])
    snap = env.snapshot()
    assert not isinstance(snap.native[0], snapshot.GameSnapshot)
    for _ in range(2):
        env.step(detour(info))
        assert env.restore(snap) == (obs, info)
    _, info = follow_expert(env, info)
    assert info["success"]


def test_progression_copy_is_independent(env):
    from earlyexp.envs.textworld.snapshot import copy_progression

    _, info = env.reset(seed=0, options={"task_id": env.tasks("ood")[0]})
    tracker = env._game._wrapped_env
    original = tracker._game_progression
    saved = copy_progression(original)
    facts, policy = set(original.state.facts), original.winning_policy
    follow_expert(env, info, limit=4)  # mutates the live progression in place
    assert tracker._game_progression is original and set(original.state.facts) != facts
    assert set(saved.state.facts) == facts and saved.winning_policy == policy
    reference = original.copy()
    mine = copy_progression(original)
    assert set(mine.state.facts) == set(reference.state.facts)
    assert mine.winning_policy == reference.winning_policy
    assert mine.valid_actions == reference.valid_actions and mine.score == reference.score


# ---------------------------------------------------------------- cache and splits
def file_times(directory):
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns
            for p in directory.rglob("*") if p.is_file()}


def test_second_construction_generates_nothing(env):
    before = file_times(env.game_dir)
    start = time.perf_counter()
    again = envs.make("textworld", **SMOKE)
    assert time.perf_counter() - start < 3.0
    assert file_times(again.game_dir) == before and again.manifest == env.manifest


def test_killed_generation_resumes_and_rebuilds_only_what_is_missing(env, tmp_path):
    copy = tmp_path / "textworld" / env.game_set.key
    shutil.copytree(env.game_dir, copy)
    (copy / "manifest.json").unlink()  # killed before the manifest was written ...
    lost = copy / "games" / env.manifest.games["test-0001"]["file"]
    lost.unlink()  # ... and before this game was moved into place
    (copy / "games" / ".tmp-half").mkdir()
    (copy / "games" / ".tmp-half" / "test-00001.z8").write_bytes(b"half a game")
    before = file_times(copy / "games")
    rebuilt = envs.make("textworld", **SMOKE, cache_dir=str(tmp_path), workers=1)
    for split in rebuilt.splits:  # a split is made when first used
        rebuilt.tasks(split)
    after = file_times(copy / "games")
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {lost.name, lost.with_suffix(".json").name}
    assert rebuilt.manifest.games == env.manifest.games
    assert rebuilt.manifest.splits == env.manifest.splits


def test_splits_are_disjoint_by_game_content(env):
    import textworld

    seen = {}
    for split in env.splits:
        for task_id in env.tasks(split):
            json_file = env.game_file(task_id).with_suffix(".json")
            fingerprint = game_fingerprint(textworld.Game.load(str(json_file)))
            assert fingerprint == env.manifest.games[task_id]["fingerprint"]
            assert fingerprint not in seen, f"{task_id} repeats {seen.get(fingerprint)}"
            seen[fingerprint] = task_id
    manifest = json.loads((env.game_dir / "manifest.json").read_text())
    assert sum(map(len, manifest["splits"].values())) == len(seen) == 9


def test_candidates_depend_only_on_seed_split_and_attempt():
    spec = GameSetSpec("tw-treasure_hunter", {"level": [11, 15]}, {"level": 25}, 5, 5, 5, 7)
    assert candidate(spec, "train", 3) == candidate(spec, "train", 3)
    assert candidate(spec, "train", 3).seed != candidate(spec, "test", 3).seed
    levels = {candidate(spec, "train", i).settings["level"] for i in range(60)}
    assert levels == set(range(11, 16))
    assert candidate(spec, "ood", 0).settings["level"] == 25
    other = GameSetSpec("tw-treasure_hunter", {"level": [11, 16]}, {"level": 25}, 5, 5, 5, 7)
    assert spec.key != other.key and spec.key.startswith("tw-treasure_hunter-")


@pytest.mark.slow
def test_other_challenges_generate_and_their_expert_wins(tmp_path):
    for challenge, settings, ood in [("tw-treasure_hunter", {"level": [11, 13]}, {"level": 16}),
                                     ("tw-coin_collector", {"level": 105}, {"level": 110}),
                                     ("tw-simple", {"goal": "brief"}, {"test": True})]:
        other = envs.make("textworld", challenge=challenge, settings=settings, ood_settings=ood,
                          num_train=1, num_test=1, num_ood=1, cache_dir=str(tmp_path),
                          max_steps=40)
        _, info = other.reset(seed=0, options={"task_id": other.tasks("train")[0]})
        _, info = follow_expert(other, info)
        assert info["success"], challenge
        other.close()
