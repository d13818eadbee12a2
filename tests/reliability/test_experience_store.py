"""Fault injection on an experience store: truncated shards, a non-UTF-8 or edited manifest.

Each test damages a real store written by `collect` (corridor env, in-process) the way the
fault-injection campaign of issue 14 did, then checks that collect, the reader and the
warm-start data path notice it by name, and that `repair=true` recollects exactly the
damaged tasks: every (task, seed) stored once, nothing lost.
"""
from __future__ import annotations

import json

import pytest

from earlyexp.errors import CorruptShardError, StoreFormatError
from earlyexp.experience.collect import CollectConfig, collect
from earlyexp.experience.storage import ExperienceStore
from earlyexp.training.cli import main
from earlyexp.training.config import load_config

TASKS = 12


def overrides(out, *extra) -> list[str]:
    return ["env.name=corridor", "~env.kwargs", "+env.kwargs={num_tasks: 12, length: 4}",
            "k=2", "num_workers=0", "shard_size=3", f"out_dir={out}", *extra]


def config(out, *extra) -> CollectConfig:
    return load_config("collect", overrides(out, *extra), CollectConfig)


def cli_collect(out, *extra) -> int:
    return main(["collect", *overrides(out, *extra)])


@pytest.fixture
def store(corridor, tmp_path):
    """A complete store of 12 tasks in 4 shards."""
    collect(config(tmp_path / "exp"))
    return tmp_path / "exp"


def stored_keys(out) -> list[tuple[str, int]]:
    return [(t.task_id, t.seed) for t in ExperienceStore(out).trajectories()]


def expected_keys() -> set[tuple[str, int]]:
    return {(f"train-{i}", 0) for i in range(TASKS)}


def truncate(path, keep: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize("kind", ["transitions", "trajectories"])
def test_truncated_shard_stops_collect_by_name_and_repair_recollects_it(store, kind, capsys):
    shard = store / kind / "shard-00001.parquet"
    truncate(shard)
    assert cli_collect(store) == 2          # before: "12 already stored", rc 0
    out = capsys.readouterr().out
    assert "shard-00001.parquet" in out.replace("\n", "") and "repair=true" in out
    with pytest.raises(CorruptShardError, match="shard-00001"):
        ExperienceStore(store)              # the reader's fast size check

    assert cli_collect(store, "repair=true") == 0
    keys = stored_keys(store)
    assert len(keys) == len(set(keys)) and set(keys) == expected_keys()
    assert (store / "quarantine" / kind / "shard-00001.parquet").exists()
    ExperienceStore(store).verify()


def test_warmstart_data_notices_a_truncated_trajectories_shard(store):
    from earlyexp.training.warmstart import WarmstartConfig, datasets_for

    truncate(store / "trajectories" / "shard-00002.parquet")
    cfg = WarmstartConfig(env=config(store).env, experience_dir=str(store))
    with pytest.raises(CorruptShardError, match="trajectories/shard-00002.parquet"):
        datasets_for(cfg)               # before: read transitions only, never noticed


def test_same_size_corruption_is_caught_where_the_shard_is_read(store):
    shard = store / "transitions" / "shard-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF            # one flipped byte: the size still matches
    shard.write_bytes(bytes(data))
    store_reader = ExperienceStore(store)   # the cheap check passes ...
    with pytest.raises(CorruptShardError, match="SHA-256"):
        store_reader.transitions()          # ... the full one, where data is read, does not


@pytest.mark.parametrize("reader", ["collect", "store"])
def test_non_utf8_manifest_is_a_clear_error_naming_the_file(store, reader, capsys):
    manifest = store / "manifest.json"
    raw = manifest.read_bytes()
    manifest.write_bytes(raw[:20] + b"\xff" + raw[21:])
    if reader == "collect":
        assert cli_collect(store) == 2      # before: a UnicodeDecodeError traceback
        # the console wraps long lines (and drops the space at a break): compare without spaces
        assert "manifest.jsonisnotUTF-8" in "".join(capsys.readouterr().out.split())
    else:
        with pytest.raises(StoreFormatError, match=r"manifest.json is not UTF-8 .*0xff"):
            ExperienceStore(store)


def test_edited_manifest_is_refused_and_repair_keeps_every_task_once(store, capsys):
    manifest = store / "manifest.json"
    data = json.loads(manifest.read_text())
    data["shards"][0]["tasks"][0] = "train-11@0"   # still valid JSON, now lies
    manifest.write_text(json.dumps(data, indent=1))
    with pytest.raises(StoreFormatError, match="checksum"):
        ExperienceStore(store)
    assert cli_collect(store) == 2      # before: recollected train-0, train-11 stored twice
    assert "checksum" in capsys.readouterr().out
    assert cli_collect(store, "repair=true") == 0
    keys = stored_keys(store)
    assert len(keys) == TASKS and set(keys) == expected_keys()


def test_deleted_manifest_is_rebuilt_by_repair_not_overwritten(store):
    (store / "manifest.json").unlink()
    with pytest.raises(StoreFormatError, match="no manifest.json"):
        collect(config(store))          # before: a fresh manifest, the 4 shards deleted
    assert len(list((store / "trajectories").iterdir())) == 4
    summary = collect(config(store, "repair=true"))
    assert summary.skipped == TASKS and summary.trajectories == 0
    assert set(stored_keys(store)) == expected_keys()
