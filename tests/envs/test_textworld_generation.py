"""TextWorld generation: only the splits a run uses, the same games either way, progress.

The reference is the registered smoke game set generated with all splits at once
(the shared cache `test_textworld.py` uses); here the same spec is generated split
by split into a scratch cache, through the env as a run would use it.
"""
from __future__ import annotations

import io
from dataclasses import asdict

import pytest
from earlyexp.envs.textworld import generation
from earlyexp.envs.textworld.env import TextWorldEnv
from earlyexp.envs.textworld.generation import (
    GameSetSpec, ProgressLines, ensure_game_set, splits_through,
)

from earlyexp import envs
from earlyexp.errors import UnknownSplitError

SMOKE = envs.spec("textworld").smoke_kwargs


def smoke_spec() -> GameSetSpec:
    return GameSetSpec(SMOKE["challenge"], SMOKE["settings"], SMOKE["ood_settings"],
                       SMOKE["num_train"], SMOKE["num_test"], SMOKE["num_ood"], SMOKE["seed"])


def game_files(root) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (root / "games").glob("*.z8")}


def test_splits_through_adds_the_earlier_splits_and_refuses_unknown_ones():
    assert splits_through(["train"]) == ["train"]
    assert splits_through(["test"]) == ["train", "test"]
    assert splits_through(["ood", "train"]) == ["train", "test", "ood"]
    with pytest.raises(UnknownSplitError, match="'dev'.*'train', 'test', 'ood'"):
        splits_through(["dev"])


@pytest.mark.slow  # generates 6 games (and the 9 reference games on a cold cache)
def test_a_run_generates_only_its_splits_and_the_same_games(tmp_path):
    _, reference = ensure_game_set(smoke_spec())  # all splits at once (shared cache)
    progress: list[tuple[str, int, int]] = []
    root, manifest = ensure_game_set(smoke_spec(), tmp_path, workers=2, splits=["train"],
                                     on_progress=lambda *call: progress.append(call))
    assert list(manifest.splits) == ["train"]
    assert progress == [("train", i, 3) for i in (1, 2, 3)]
    assert {name.split("-")[0] for name in game_files(root)} == {"train"}
    train_files = game_files(root)

    env = TextWorldEnv(**SMOKE, cache_dir=str(tmp_path))  # a collection run: split=train
    assert list(env.manifest.splits) == ["train"]
    test_tasks = env.tasks("test")  # an evaluation asks for test: made now, train kept
    assert list(env.manifest.splits) == ["train", "test"]
    assert {k: v for k, v in game_files(root).items() if k.startswith("train")} == train_files
    assert not any(name.startswith("ood") for name in game_files(root))
    for split in ("train", "test"):
        assert env.manifest.splits[split] == reference.splits[split]
        for task in env.manifest.splits[split]:
            assert env.manifest.games[task] == reference.games[task]
    _, info = env.reset(seed=0, options={"task_id": test_tasks[0]})
    assert info["expert_action"] is not None
    env.close()

    again = TextWorldEnv(**SMOKE, cache_dir=str(tmp_path), split="test")
    assert asdict(again.manifest)["splits"] == asdict(env.manifest)["splits"]
    again.close()


def test_progress_lines_report_counts_rate_and_time_left(monkeypatch):
    monkeypatch.setattr(generation, "PROGRESS_EVERY_S", 0.0)
    stream = io.StringIO()
    report = ProgressLines(smoke_spec(), {"train": 6, "test": 2}, stream=stream)
    for split, wanted in (("train", 6), ("test", 2)):
        for accepted in range(1, wanted + 1):
            report(split, accepted, wanted)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("TextWorld: generating 8 tw-cooking games (6 train, 2 test)")
    assert len(lines) == 1 + 8
    assert lines[6].startswith("TextWorld: 6/8 games (train 6/6), ")
    assert lines[-1].startswith("TextWorld: 8/8 games (test 2/2), ")
    assert lines[-1].endswith("about 0 min left") and "s/game" in lines[-1]


def test_a_few_games_generate_quietly():
    stream = io.StringIO()
    report = ProgressLines(smoke_spec(), {"train": generation.PROGRESS_MIN_GAMES}, stream=stream)
    report("train", 1, generation.PROGRESS_MIN_GAMES)
    assert stream.getvalue() == ""
