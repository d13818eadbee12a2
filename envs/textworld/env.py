"""`TextWorldEnv`: real TextWorld games behind the `TextEnv` contract."""
from __future__ import annotations

import difflib
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earlyexp.envs.core import Outcome, Status, TextEnv
from earlyexp.envs.textworld.generation import GameSetSpec, ensure_game_set
from earlyexp.envs.textworld.text import clean_feedback, normalize_command

from earlyexp.errors import UnknownTaskError

#: GameState keys the env reads. Everything else TextWorld puts in its state (the whole
#: `Game`, the quest tracker, fact lists) is dropped after each step: nothing downstream
#: reads it back, and TextWorld's `copy()` deep-copies the state, so keeping it made a
#: copy ~6x slower.
_STATE_KEYS = frozenset({
    "feedback", "objective", "score", "max_score", "moves", "won", "lost", "done",
    "admissible_commands", "policy_commands", "last_command", "raw",
})
#: Games kept open at once. Opening one (Z-machine load, game JSON, Inform 7 tables) costs
#: about as much as ten steps, and episodes cycle over tasks.
_OPEN_GAMES = 16


@dataclass(frozen=True)
class _Forked:
    """A whole forked game (TextWorld's `copy()`): the snapshot of last resort."""

    game: Any


@contextmanager
def _quiet_jericho():
    """Silence Jericho's "not fully supported" warning, which every TextWorld game triggers.

    TextWorld filters it at import, but test runners reset warning filters; Jericho's
    score detection is unused here (TextWorld tracks the score itself).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not fully supported")
        yield


class TextWorldEnv(TextEnv):
    """TextWorld games (`tw-simple`, `tw-cooking`, `tw-treasure_hunter`, `tw-coin_collector`).

    Description:
        Each task is one game made locally by TextWorld's challenge generators (what
        `tw-make` runs), compiled to a Z-machine file and played through Jericho. Games
        are cached on disk under a key of their generation parameters (see
        `generation.py`) and generated in a process pool the first time a split is
        used: the env's own `split` (and the splits before it) at construction, any
        other split when `tasks()` or `reset()` first asks for it. The ood split is
        thus never made by runs that do not use it.

    Action Space:
        Text. An action is normalised (lower case, single spaces) and must be one of
        `info["admissible_actions"]`. Anything else never reaches the game (Inform
        meta-commands such as `quit` or `restart` would desynchronise TextWorld's
        state tracker): it returns an explanatory observation with
        `valid_action=False`, the state is unchanged and the step still counts.

    Observation Space:
        Text: the game's response with the ASCII-art banner, the prompt and the
        status line removed. The first observation is the objective followed by the
        starting room.

    Starting State:
        The game's fixed start; games are deterministic, and the episode seed also
        seeds the Z-machine's random number generator.

    Reward:
        Points gained this step over the best score reached so far in the episode,
        divided by the game's maximum points: `max(0, points_t - max_{s<t} points_s) /
        max_points`. Each step's reward lies in [0, 1] and an episode's total is at
        most 1 (exactly 1 when the game is won, as winning requires all points).

    Episode End:
        Terminated when the game is won (`success=True`) or lost (e.g. eating a
        rotten ingredient in tw-cooking or taking the wrong object in
        tw-treasure_hunter; `success=False`). Truncated after `max_steps` steps.

    Information:
        The contract's keys. `goal` is the game's objective text; `score` is
        `points / max_points`; `success` is whether the game is won;
        `admissible_actions` is TextWorld's admissible commands, sorted;
        `expert_action` is the first of TextWorld's policy commands, recomputed from
        the current state (so it is right after a deviation too), and None once the
        game is won or lost or when no winning policy exists. Also `points`,
        `max_points`, `won`, `lost` and `level` (the challenge level, "" if none).

    Arguments:
        challenge: one of the four TextWorld challenges.
        settings: challenge settings of the train and test games (`level` may be an
            inclusive `[low, high]` range, drawn per game).
        ood_settings: settings that override `settings` for the ood split.
        num_train, num_test, num_ood: games per split.
        seed: generation seed; the same arguments always give the same games.
        cache_dir: cache root (default `$EARLYEXP_CACHE` or `~/.cache/earlyexp`).
        workers: generation processes (default: CPU count, at most 8).
        max_steps: truncation limit.

    Version History:
        v0: initial version.
    """

    splits = ("train", "test", "ood")

    def __init__(self, challenge: str = "tw-cooking", settings: dict[str, Any] | None = None,
                 ood_settings: dict[str, Any] | None = None, num_train: int = 400,
                 num_test: int = 100, num_ood: int = 50, seed: int = 0,
                 cache_dir: str | None = None, workers: int | None = None,
                 max_steps: int = 30, split: str = "train", render_mode: str | None = None):
        super().__init__(max_steps=max_steps, split=split, render_mode=render_mode)
        self.game_set = GameSetSpec(challenge, dict(settings or {}), dict(ood_settings or {}),
                                num_train, num_test, num_ood, seed)
        self._cache_root, self._workers = Path(cache_dir) if cache_dir else None, workers
        self.game_dir, self.manifest = ensure_game_set(self.game_set, self._cache_root, workers,
                                                       splits=[split])
        self._open_games: OrderedDict[Path, Any] = OrderedDict()  # least recently used first
        self._game = None  # the textworld environment of the current task
        self._game_path: Path | None = None
        self._state: dict[str, Any] = {}
        self._best_points = 0

    # ------------------------------------------------------------ tasks
    def tasks(self, split: str) -> list[str]:
        self._check_split(split)
        self._generate(split)
        return list(self.manifest.splits[split])

    def game_file(self, task_id: str) -> Path:
        """Path of the compiled game (.z8) behind `task_id`."""
        split = task_id.split("-", 1)[0]
        if task_id not in self.manifest.games and split in self.splits:
            self._generate(split)
        if task_id not in self.manifest.games:
            raise UnknownTaskError(self.name, task_id, self.manifest.games)
        return self.manifest.path(self.game_dir, task_id)

    # ------------------------------------------------------------ hooks
    def _load_task(self, task_id: str, seed: int) -> str:
        self._open(self.game_file(task_id))
        # Jericho treats seed 0 as "time-based", so shift every seed off zero.
        self._game.seed(1 + seed % (2**31 - 2))
        self._state = self._keep(self._game.reset())
        self._best_points = 0
        return clean_feedback(self._state["feedback"])

    def _act(self, action: str) -> Outcome:
        command = normalize_command(action)
        admissible = self._state["admissible_commands"] or []
        if command not in admissible:
            return Outcome(self._rejection(action, admissible), valid_action=False)
        state, _, _ = self._game.step(command)
        self._state = self._keep(state)
        points = self._state["score"] or 0
        gained = max(0, points - self._best_points)
        self._best_points = max(self._best_points, points)
        return Outcome(clean_feedback(self._state["feedback"]), self._normalise(gained),
                       terminated=bool(self._state["won"] or self._state["lost"]))

    def _status(self) -> Status:
        state = self._state
        won, lost = bool(state["won"]), bool(state["lost"])
        policy = state["policy_commands"] or []
        points = state["score"] or 0
        return Status(
            goal=(state["objective"] or "").strip() or "Win the game.",
            success=won,
            score=min(1.0, self._normalise(points)) if not won else 1.0,
            admissible_actions=sorted(state["admissible_commands"] or []),
            expert_action=policy[0] if policy and not (won or lost) else None,
            extra={"points": points, "max_points": state["max_score"] or 0, "won": won,
                   "lost": lost,
                   "level": self.manifest.games.get(self._task_id, {}).get("level", "")},
        )

    def _native_snapshot(self) -> Any:
        from earlyexp.envs.textworld import snapshot  # imports textworld, so not at module load

        if self._game is None:
            return None  # closed: the replay fallback reopens the game
        parts = snapshot.layers(self._game)
        if parts is None:  # a wrapper stack this TextWorld version does not have: fork it
            with _quiet_jericho():
                return _Forked(self._game.copy()), self._game_path, self._best_points
        return snapshot.capture(parts), self._game_path, self._best_points

    def _native_restore(self, state: Any) -> None:
        from earlyexp.envs.textworld import snapshot

        saved, path, best_points = state
        if isinstance(saved, snapshot.GameSnapshot):
            # Back into the same open game (started afresh if the env closed it since):
            # no new interpreter, and `saved` is only read, so it stays reusable.
            self._open(path)
            self._state = snapshot.apply(snapshot.layers(self._game), saved)
        else:
            replaced = self._open_games.pop(path, None)
            if replaced is not None:
                replaced.close()
            with _quiet_jericho():  # copy again: the snapshot stays reusable
                self._game, self._game_path = saved.game.copy(), path
            self._open_games[path] = self._game
            if len(self._open_games) > _OPEN_GAMES:
                self._open_games.popitem(last=False)[1].close()
            self._state = self._game.state
        self._best_points = best_points

    def close(self) -> None:
        while self._open_games:
            self._open_games.popitem()[1].close()
        self._game, self._game_path = None, None
        super().close()

    # ------------------------------------------------------------ internals
    def _generate(self, split: str) -> None:
        """Make `split`'s games (and the earlier splits') if this env has not yet."""
        if split not in self.manifest.splits:
            self.game_dir, self.manifest = ensure_game_set(self.game_set, self._cache_root,
                                                           self._workers, splits=[split])

    def _open(self, path: Path) -> None:
        """Make `path` the current game, starting it unless it is already open."""
        import textworld

        if path in self._open_games:
            self._open_games.move_to_end(path)
            self._game, self._game_path = self._open_games[path], path
            return
        if len(self._open_games) >= _OPEN_GAMES:
            self._open_games.popitem(last=False)[1].close()
        infos = textworld.EnvInfos(admissible_commands=True, policy_commands=True, objective=True,
                                   score=True, max_score=True, won=True, lost=True, moves=True)
        with _quiet_jericho():
            self._game, self._game_path = textworld.start(str(path), request_infos=infos), path
        self._open_games[path] = self._game

    @staticmethod
    def _keep(state) -> Any:
        """Drop the state entries the env never reads (see `_STATE_KEYS`), in place."""
        for key in [key for key in state if key not in _STATE_KEYS]:
            del state[key]
        return state

    def _normalise(self, points: float) -> float:
        max_points = self._state["max_score"] or 0
        return points / max_points if max_points > 0 else 0.0

    @staticmethod
    def _rejection(action: str, admissible: list[str]) -> str:
        shown = action if len(action) <= 60 else action[:57] + "..."
        hint = difflib.get_close_matches(normalize_command(action)[:100], admissible, n=1)
        suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
        return (f"Invalid action {shown!r}: it is not one of the {len(admissible)} admissible "
                f"commands here, so the game did not receive it.{suggestion}")
