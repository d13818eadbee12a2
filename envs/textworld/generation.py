"""Make TextWorld games in-process (what `tw-make` does) and cache them on disk.

A `GameSetSpec` names a whole collection: the challenge, its settings for the
train/test distribution and for the out-of-distribution split, the number of
games per split and a seed. `ensure_game_set(spec)` returns the collection's
`Manifest`, generating only the games not on disk yet, and only the splits asked
for (`splits=`; default all):

    <cache root>/textworld/<challenge>-<hash of the spec>/
        games/<split>-<attempt>.json + .z8     one compiled game (the .z8 lands last)
        manifest.json                          task id -> game file + fingerprint, rewritten
                                               atomically after each finished split
        .lock                                  held while generating (one process generates)

Every file is written to a temporary name and moved into place with
`os.replace`, so a killed run leaves either a complete game or none; the next
run resumes from the games already on disk. A game's seed depends only on
(spec seed, split, attempt), so the same spec always yields the same games.

Splits are disjoint by construction: candidate games are accepted in a fixed
order (train, then test, then ood) and a candidate whose fingerprint (initial
world facts and quest commands, not the wording) matches an accepted game is
skipped. So a split is generated together with the splits before it (asking for
`test` generates `train` too; `ood` is made only when asked for), and a split's
games are the same whichever splits were asked for first.

Progress: `on_progress(split, accepted, wanted)` is called as games are accepted;
without one, generating more than `PROGRESS_MIN_GAMES` games prints a line on
stderr at the start, then at most every `PROGRESS_EVERY_S` seconds (rate and time
left), which also shows cleanly above a running rich progress bar.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Callable, Iterable

from earlyexp import threads
from earlyexp.errors import ConfigError, UnknownSplitError
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic

#: Bump when the generation procedure changes, so old caches are not reused.
FORMAT_VERSION = 1
SPLITS = ("train", "test", "ood")
#: A split may reject this many candidates per requested game (failed quest sampling,
#: duplicates) before generation gives up with a clear error.
MAX_ATTEMPTS_PER_GAME = 20
#: Generating more games than this prints progress lines (without an `on_progress`).
PROGRESS_MIN_GAMES = 4
PROGRESS_EVERY_S = 10.0

#: `on_progress(split, accepted, wanted)`
ProgressCallback = Callable[[str, int, int], None]

#: Settings each challenge accepts, with the defaults `tw-make` would use.
CHALLENGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "tw-simple": {"rewards": "dense", "goal": "detailed", "test": False},
    "tw-cooking": {"recipe": 1, "take": 0, "go": 1, "open": False, "cook": False, "cut": False,
                   "drop": False, "recipe_seed": 0, "split": None},
    "tw-treasure_hunter": {"level": 1},
    "tw-coin_collector": {"level": 1},
}


def default_cache_root() -> Path:
    """`$EARLYEXP_CACHE` or `~/.cache/earlyexp` (the folder that holds textworld/)."""
    return family_cache_root("textworld").parent


@dataclass(frozen=True)
class GameSetSpec:
    """Everything that determines a collection of games (its cache key)."""

    challenge: str
    settings: dict[str, Any]
    ood_settings: dict[str, Any]
    num_train: int
    num_test: int
    num_ood: int
    seed: int

    def __post_init__(self):
        if self.challenge not in CHALLENGE_DEFAULTS:
            raise ConfigError("challenge", self.challenge,
                              f"must be one of {sorted(CHALLENGE_DEFAULTS)}.")
        for key in ("settings", "ood_settings"):
            check_settings(self.challenge, key, getattr(self, key))
        for split in SPLITS:
            count = getattr(self, f"num_{split}")
            if not isinstance(count, int) or count < 1:
                raise ConfigError(f"num_{split}", count, "must be a positive integer.")

    def count(self, split: str) -> int:
        return getattr(self, f"num_{split}")

    def settings_for(self, split: str) -> dict[str, Any]:
        """The challenge settings of `split` (ood overrides the shared settings)."""
        merged = {**CHALLENGE_DEFAULTS[self.challenge], **self.settings}
        return {**merged, **self.ood_settings} if split == "ood" else merged

    @property
    def key(self) -> str:
        import textworld

        payload = {**asdict(self), "format": FORMAT_VERSION, "textworld": textworld.__version__}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return f"{self.challenge}-{digest[:16]}"


def check_settings(challenge: str, name: str, settings: dict[str, Any]) -> None:
    """Reject unknown setting names and malformed level ranges before any work starts."""
    if not isinstance(settings, dict):
        raise ConfigError(name, settings, "must be a mapping of challenge settings.")
    known = CHALLENGE_DEFAULTS[challenge]
    for key, value in settings.items():
        if key not in known:
            from earlyexp.errors import closest

            raise ConfigError(f"{name}.{key}", value, f"{challenge} has no setting {key!r}."
                              f"{closest(key, known)} Known settings: {sorted(known)}.")
    level = settings.get("level")
    if level is not None and not _is_level(level):
        raise ConfigError(f"{name}.level", level, "must be an int or an inclusive [low, high] pair.")


def _is_level(level: Any) -> bool:
    if isinstance(level, int):
        return True
    return (isinstance(level, (list, tuple)) and len(level) == 2
            and all(isinstance(x, int) for x in level) and level[0] <= level[1])


@dataclass(frozen=True)
class Candidate:
    """One game to try: its file stem, challenge, concrete settings and TextWorld seed."""

    name: str
    challenge: str
    settings: dict[str, Any]
    seed: int


@dataclass
class Manifest:
    """Task ids per split, each with its game file and content fingerprint."""

    key: str
    spec: dict[str, Any]
    games: dict[str, dict[str, str]] = field(default_factory=dict)  # task id -> {file, fingerprint}
    splits: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0  # wall time the generation took (0 when fully cached)

    def path(self, root: Path, task_id: str) -> Path:
        return root / "games" / self.games[task_id]["file"]


def candidate(spec: GameSetSpec, split: str, attempt: int) -> Candidate:
    """The `attempt`-th candidate game of `split`: seed and level drawn from (seed, split, attempt)."""
    digest = hashlib.sha256(f"{spec.seed}/{split}/{attempt}".encode()).digest()
    game_seed = int.from_bytes(digest[:4], "little") % (2**31 - 1)
    settings = dict(spec.settings_for(split))
    level = settings.get("level")
    if isinstance(level, (list, tuple)):
        low, high = level
        settings["level"] = low + int.from_bytes(digest[4:8], "little") % (high - low + 1)
    return Candidate(f"{split}-{attempt:05d}", spec.challenge, settings, game_seed)


def game_fingerprint(game) -> str:
    """Hash of what makes a game a game: its initial facts and quest commands, not its wording."""
    from textworld.generator.inform7 import Inform7Game

    inform7 = Inform7Game(game)
    facts = sorted(str(inform7.get_human_readable_fact(fact)) for fact in game.world.facts)
    quests = [list(quest.commands) for quest in game.quests]
    payload = json.dumps({"facts": facts, "quests": quests}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _share_knowledge_bases() -> None:
    """Pool initializer: parse each knowledge base once per worker, not once per game.

    Every challenge calls `KnowledgeBase.load` for each game, and parsing the logic
    files takes ~1.3 s of the ~2.5 s a game costs. TextWorld itself shares one default
    knowledge base across games, and games made after a reused one have the same
    fingerprints as games made in a fresh process (the resume test checks this).
    """
    from textworld.generator.data import KnowledgeBase

    load, loaded = KnowledgeBase.load.__func__, {}

    def load_once(cls, target_dir=None, logic_path=None, grammar_path=None):
        key = (target_dir, logic_path, grammar_path)
        if key not in loaded:
            loaded[key] = load(cls, target_dir, logic_path, grammar_path)
        return loaded[key]

    KnowledgeBase.load = classmethod(load_once)


def build_game(item: Candidate, games_dir: str) -> str | None:
    """Make and compile one candidate (worker entry point); return its fingerprint or None.

    None means the challenge could not build a quest from this seed, which is a
    property of the seed and so is as deterministic as success.
    """
    import textworld
    import textworld.challenges
    from textworld.generator import QuestGenerationError, compile_game

    final_json = Path(games_dir) / f"{item.name}.json"
    if (Path(games_dir) / f"{item.name}.z8").exists():  # compiled by an earlier (killed) run
        return game_fingerprint(textworld.Game.load(str(final_json)))
    options = textworld.GameOptions()
    options.seeds = item.seed
    make = textworld.challenges.CHALLENGES[item.challenge][1]
    try:
        game = make(dict(item.settings), options)
    except QuestGenerationError:
        return None
    with tempfile.TemporaryDirectory(dir=games_dir, prefix=".tmp-") as tmp:
        options.path = os.path.join(tmp, f"{item.name}.z8")
        options.file_ext = ".z8"
        compiled = Path(compile_game(game, options))
        os.replace(compiled.with_suffix(".json"), final_json)
        os.replace(compiled, final_json.with_suffix(".z8"))  # last: marks the game complete
    return game_fingerprint(game)


def ensure_game_set(spec: GameSetSpec, cache_root: Path | None = None,
                    workers: int | None = None, splits: Iterable[str] = SPLITS,
                    on_progress: ProgressCallback | None = None) -> tuple[Path, Manifest]:
    """Return (directory, manifest) of `spec`'s games with at least `splits` (and the
    splits before them) generated, generating whatever is missing."""
    needed = splits_through(splits)
    root = Path(cache_root or default_cache_root()) / "textworld" / spec.key
    manifest = _read_manifest(root)
    if manifest is not None and all(split in manifest.splits for split in needed):
        return root, manifest
    (root / "games").mkdir(parents=True, exist_ok=True)
    with _generation_lock(root):
        manifest = _read_manifest(root) or Manifest(spec.key, asdict(spec))  # maybe made meanwhile
        missing = [split for split in needed if split not in manifest.splits]
        if missing:
            _generate(spec, root, manifest, missing, workers, on_progress)
    return root, manifest


def splits_through(splits: Iterable[str]) -> list[str]:
    """The splits that must exist for `splits`: each one and every split accepted before it."""
    asked = list(splits)
    for split in asked:
        if split not in SPLITS:
            raise UnknownSplitError("textworld", split, SPLITS)
    last = max((SPLITS.index(split) for split in asked), default=-1)
    return list(SPLITS[: last + 1])


def _read_manifest(root: Path) -> Manifest | None:
    path = root / "manifest.json"
    return Manifest(**json.loads(path.read_text())) if path.exists() else None


@contextmanager
def _generation_lock(root: Path):
    """One generating process per collection: the others wait, then read its manifest."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; atomic writes still keep the files whole
        yield
        return
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _generate(spec: GameSetSpec, root: Path, manifest: Manifest, missing: list[str],
              workers: int | None, on_progress: ProgressCallback | None) -> None:
    """Fill the `missing` splits (in order) into `manifest`, writing it after each."""
    started = time.perf_counter()
    workers = max(1, workers or min(threads.total_threads(), 8))
    seen = {game["fingerprint"] for game in manifest.games.values()}  # the earlier splits'
    report = on_progress or ProgressLines(spec, {split: spec.count(split) for split in missing})
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks any script
    # without an `if __name__ == "__main__"` guard; the workers only run TextWorld.
    context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context,
                             initializer=_share_knowledge_bases) as pool:
        for split in missing:
            _fill_split(pool, spec, split, str(root / "games"), manifest, seen, workers, report)
            manifest.seconds = round(manifest.seconds + time.perf_counter() - started, 2)
            started = time.perf_counter()
            write_text_atomic(root / "manifest.json",
                              json.dumps(asdict(manifest), indent=1, sort_keys=True))


class ProgressLines:
    """The default progress report: a line on stderr now and then (see the module docstring)."""

    def __init__(self, spec: GameSetSpec, wanted: dict[str, int], stream=None):
        self.total, self.stream = sum(wanted.values()), stream or sys.stderr
        self.done_before: dict[str, int] = {}
        self.started = self.last = time.perf_counter()
        self.quiet = self.total <= PROGRESS_MIN_GAMES
        self._say(f"TextWorld: generating {self.total} {spec.challenge} games "
                  f"({', '.join(f'{n} {split}' for split, n in wanted.items())}); cached "
                  "after this first use")

    def __call__(self, split: str, accepted: int, wanted: int) -> None:
        self.done_before[split] = accepted
        now = time.perf_counter()
        done = sum(self.done_before.values())
        if now - self.last < PROGRESS_EVERY_S and done < self.total:
            return
        self.last = now
        rate = (now - self.started) / max(1, done)
        self._say(f"TextWorld: {done}/{self.total} games ({split} {accepted}/{wanted}), "
                  f"{rate:.1f} s/game, about {rate * (self.total - done) / 60:.0f} min left")

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)


def _fill_split(pool, spec: GameSetSpec, split: str, games_dir: str, manifest: Manifest,
                seen: set[str], workers: int, report: ProgressCallback) -> None:
    """Accept candidates of `split` in attempt order until it has its games."""
    wanted, attempt, accepted = spec.count(split), 0, []
    while len(accepted) < wanted:
        if attempt >= wanted * MAX_ATTEMPTS_PER_GAME:
            raise ConfigError(f"num_{split}", wanted, (
                f"only {len(accepted)} distinct {spec.challenge} games were found in {attempt} "
                f"attempts with settings {spec.settings_for(split)}; ask for fewer games or "
                "widen the settings (e.g. a larger level range)."))
        batch = [candidate(spec, split, attempt + i)
                 for i in range(max(workers, wanted - len(accepted)))]
        attempt += len(batch)
        for item, fingerprint in zip(batch, pool.map(build_game, batch, [games_dir] * len(batch))):
            if fingerprint is None or fingerprint in seen or len(accepted) == wanted:
                continue
            seen.add(fingerprint)
            task_id = f"{split}-{len(accepted):04d}"
            accepted.append(task_id)
            manifest.games[task_id] = {"file": f"{item.name}.z8", "fingerprint": fingerprint,
                                       "level": str(item.settings.get("level", ""))}
            report(split, len(accepted), wanted)
    manifest.splits[split] = accepted


def remove_game_set(spec: GameSetSpec, cache_root: Path | None = None) -> None:
    """Delete a collection from the cache (it is regenerated on next use)."""
    shutil.rmtree(Path(cache_root or default_cache_root()) / "textworld" / spec.key,
                  ignore_errors=True)
