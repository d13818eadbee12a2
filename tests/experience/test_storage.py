"""Append-only shards, the manifest, corrupt-shard handling and config mismatch."""
from __future__ import annotations

import pytest

from earlyexp.agents.prompts import State
from earlyexp.errors import ConfigError, CorruptShardError, StoreFormatError
from earlyexp.experience.records import Step, Trajectory, Transition
from earlyexp.experience.storage import ExperienceStore, ExperienceWriter, TaskResult

META = {"env": "corridor", "k": 2}


def result(i: int) -> TaskResult:
    state = State("goal", f"obs {i}", [{"observation": "o", "action": "a"}], ["a", "b"])
    trajectory = Trajectory("corridor", f"t{i}", 0, "expert",
                            [Step(f"obs {i}", "a", 1.0, {"success": True})], True, 1.0, "end")
    transitions = [Transition("corridor", f"t{i}", 0, 0, state, "a", "next", True, -1),
                   Transition("corridor", f"t{i}", 0, 0, state, "b", "other", False, 0)]
    return TaskResult(trajectory, transitions)


def test_roundtrip_and_manifest(tmp_path):
    with ExperienceWriter(tmp_path, META, shard_size=2) as writer:
        for i in range(5):
            writer.add(result(i))
    store = ExperienceStore(tmp_path)
    assert store.counts() == {"shards": 3, "trajectories": 5, "transitions": 10}
    trajectories = store.trajectories()
    assert [t.task_id for t in trajectories] == [f"t{i}" for i in range(5)]
    assert trajectories[0] == result(0).trajectory
    assert store.transitions()[1] == result(0).transitions[1]


def test_reopen_skips_done_and_removes_leftovers(tmp_path):
    with ExperienceWriter(tmp_path, META, shard_size=1) as writer:
        writer.add(result(0))
    leftover = tmp_path / "transitions" / "shard-00001.parquet"  # the shard in flight
    leftover.write_bytes(b"half a shard")
    writer = ExperienceWriter(tmp_path, META, shard_size=1)
    assert writer.done == {"t0@0"}
    assert not leftover.exists()
    stray = tmp_path / "transitions" / "shard-00007.parquet"   # not a killed run's leftover
    stray.write_bytes(b"someone else's data")
    with pytest.raises(StoreFormatError, match="shard-00007.parquet is not listed"):
        ExperienceWriter(tmp_path, META, shard_size=1)
    assert stray.exists()


def test_reopen_with_other_config_refuses_naming_keys(tmp_path):
    ExperienceWriter(tmp_path, META).add(result(0))
    ExperienceWriter(tmp_path, META).close()
    with ExperienceWriter(tmp_path, META, shard_size=1) as writer:
        writer.add(result(0))
    with pytest.raises(ConfigError, match=r"\['k'\]"):
        ExperienceWriter(tmp_path, {**META, "k": 4})


def test_corrupt_shard_is_reported_then_repaired(tmp_path):
    with ExperienceWriter(tmp_path, META, shard_size=1) as writer:
        for i in range(3):
            writer.add(result(i))
    shard = tmp_path / "transitions" / "shard-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:50])  # truncated
    with pytest.raises(CorruptShardError) as err:
        ExperienceStore(tmp_path).transitions()
    assert "shard-00001.parquet" in str(err.value)
    store = ExperienceStore(tmp_path, repair=True)
    assert store.repaired == [str(shard)]
    assert [t.task_id for t in store.trajectories()] == ["t0", "t2"]
    assert (tmp_path / "quarantine" / "transitions" / "shard-00001.parquet").exists()
    assert ExperienceWriter(tmp_path, META).done == {"t0@0", "t2@0"}  # t1 will be recollected


def test_missing_and_foreign_formats_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="earlyexp collect"):
        ExperienceStore(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 99, "shards": []}')
    with pytest.raises(StoreFormatError, match="format 99"):
        ExperienceStore(tmp_path)
