"""Which variations' gold paths solve their task: the shipped list plus any local verification.

`python -m earlyexp.envs.scienceworld.verify` replays gold paths through the engine
(see verify.py) and writes one `Verdict` per variation. Two sources are read here,
the second overriding the first:

* ``gold_verified.json`` beside this module (package data): the verdicts of the pass
  run when this version was released, so a fresh clone needs no JVM time for them;
* ``$EARLYEXP_CACHE/scienceworld/verify-<key>/summary.json``: a pass run on this machine.

A verdict says whether the gold path solved the task and, if not, the first gold
action the engine rejected and its reply. Where the engine rejected an action only
because the gold path names an object in a way the engine's parser does not resolve,
the pass substitutes the engine's own name for it (a *repair*, e.g. ``connect block
terminal 1 to blue wire terminal 2`` -> ``connect block to blue wire terminal 2``) and
keeps the variation if the repaired path solves it; the env's expert follows the repaired
path. Variations verified as unsolved are left out of the splits (catalog.build_splits).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scienceworld.version import __version__ as SCIENCEWORLD_VERSION

from earlyexp.envs.cache import cache_root

PACKAGE_FILE = Path(__file__).with_name("gold_verified.json")
FORMAT = 1
#: Solved verdicts needing more steps than this are kept in full: the env's default
#: `max_steps` (100) truncates the expert on them.
LONG_PATH_STEPS = 100


@dataclass(frozen=True)
class Verdict:
    """What replaying one variation's gold path did. `raw_score` is the engine's, in [-1, 1]."""

    task_id: str
    solved: bool
    gold_length: int
    steps: int                                  # gold actions executed before it stopped
    raw_score: float
    rejected_step: int | None = None            # first gold action the engine rejected
    rejected_action: str | None = None
    reply: str | None = None                    # the engine's answer to it
    repairs: dict[int, list[str]] = field(default_factory=dict)  # gold index -> executed instead
    error: str | None = None                    # the simulator threw while replaying

    def to_json(self) -> dict:
        return {**asdict(self), "repairs": {str(k): v for k, v in self.repairs.items()}}

    @classmethod
    def from_json(cls, payload: dict) -> Verdict:
        repairs = {int(k): list(v) for k, v in (payload.get("repairs") or {}).items()}
        return cls(**{**payload, "repairs": repairs})


def local_folder() -> Path:
    """Where this machine's verification pass keeps its verdicts (one file per variation)."""
    blob = json.dumps({"kind": "verify", "format": FORMAT, "scienceworld": SCIENCEWORLD_VERSION},
                      sort_keys=True).encode()
    return cache_root("scienceworld") / f"verify-{hashlib.sha256(blob).hexdigest()[:16]}"


def _read(path: Path) -> dict | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(payload, dict) and payload.get("format") == FORMAT and \
        payload.get("scienceworld") == SCIENCEWORLD_VERSION
    return payload if ok else None


def read_verdicts(folder: Path) -> list[Verdict]:
    """Every readable verdict file in `folder` (one per variation; unreadable ones are redone)."""
    verdicts = []
    for path in sorted(folder.glob("*.json")):
        try:
            verdicts.append(Verdict.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return verdicts


def compress_ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)


def expand_ranges(text: str) -> list[int]:
    numbers: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


class GoldVerification:
    """The verdicts known on this machine: which ids were verified, and the unsolved,
    repaired and long ones in full (any other solved verdict is stored as its id only)."""

    def __init__(self, verified: set[str] | None = None, notable: dict[str, Verdict] | None = None):
        self.verified: set[str] = set(verified or ())
        self.notable: dict[str, Verdict] = dict(notable or {})

    @classmethod
    def from_verdicts(cls, verdicts: list[Verdict]) -> GoldVerification:
        return cls({v.task_id for v in verdicts}, {
            v.task_id: v for v in verdicts
            if not v.solved or v.repairs or v.steps > LONG_PATH_STEPS})

    @classmethod
    def load(cls) -> GoldVerification:
        merged = cls()
        for path in (PACKAGE_FILE, local_folder() / "summary.json"):
            payload = _read(path)
            if payload is not None:
                merged.update(cls.from_payload(payload))
        return merged

    def update(self, other: GoldVerification) -> None:
        """Take `other`'s verdicts where both have one (a newer pass overrides an older)."""
        for task_id in other.verified:
            self.notable.pop(task_id, None)
        self.verified |= other.verified
        self.notable.update(other.notable)

    @property
    def unsolved(self) -> set[str]:
        return {task_id for task_id, v in self.notable.items() if not v.solved}

    def repaired(self, task_id: str, gold: list[str]) -> list[str]:
        """`gold` with the verified repairs of `task_id` applied (unchanged if it has none)."""
        verdict = self.notable.get(task_id)
        if verdict is None or not verdict.repairs:
            return gold
        return [repaired for index, action in enumerate(gold)
                for repaired in verdict.repairs.get(index, [action])]

    def summary(self, task_ids: list[str]) -> str:
        """``"gold paths: 4,873 of 5,845 verified, 3 repaired, 12 unsolved"`` over `task_ids`."""
        verified = [t for t in task_ids if t in self.verified]
        notable = [self.notable[t] for t in verified if t in self.notable]
        repaired = sum(v.solved and bool(v.repairs) for v in notable)
        return (f"gold paths: {len(verified):,} of {len(task_ids):,} verified, {repaired:,} "
                f"repaired, {sum(not v.solved for v in notable):,} unsolved")

    @classmethod
    def from_payload(cls, payload: dict) -> GoldVerification:
        verified = {f"{name}-var{n}" for name, ranges in payload["verified"].items()
                    for n in expand_ranges(ranges)}
        return cls(verified, {v["task_id"]: Verdict.from_json(v) for v in payload["notable"]})

    def payload(self) -> dict:
        by_task: dict[str, list[int]] = {}
        for task_id in self.verified:
            name, _, variation = task_id.rpartition("-var")
            by_task.setdefault(name, []).append(int(variation))
        return {"format": FORMAT, "scienceworld": SCIENCEWORLD_VERSION,
                "verified": {name: compress_ranges(v) for name, v in sorted(by_task.items())},
                "notable": [self.notable[t].to_json() for t in sorted(self.notable)]}
