"""Cheap, exact snapshots of a running TextWorld game, without forking the interpreter.

`textworld.start()` returns a stack of wrappers around one Z-machine:

    TWInform7 -> StateTracking -> Inform7Data -> GameData -> JerichoEnv -> jericho.FrotzEnv

TextWorld's own `copy()` forks the whole stack: it starts a *new* `FrotzEnv` (which
copies and dlopens libfrotz and loads the story file again), rebuilds the quest
trackers from scratch and deep-copies the state dict. That is ~13 ms, and a
reusable snapshot needs it twice (once to take it, once per restore).

Everything that changes while a game is played is much smaller than that:

* the Z-machine: memory, stack, registers and RNG, which jericho saves and loads
  in place with `FrotzEnv.get_state()` / `set_state()` (~10 us each, no reload);
* `StateTracking`: the `GameProgression` (world facts + quest trackers, mutated in
  place by each step), the current and previous winning policies (tuples, replaced
  each step), the last detected action and the move counter;
* `Inform7Data`: the tracked extra infos and the last `GameState`, whose `score` and
  `moves` the next step carries over when the game prints none;
* `JerichoEnv`: the `GameState` (shared by every layer; replaced by each step, never
  mutated afterwards), the seed used by the next `reset()` and the "was reset" flag.

`capture()` saves exactly those; `apply()` puts them back into the *same* open game
(or into a freshly started one of the same file, e.g. after the env closed it), so a
snapshot taken in one game stays valid after the env has played others. The
`GameProgression` is copied on capture and again on every apply, so a snapshot can be
applied any number of times; `copy_progression()` does that copy without TextWorld's
detour through the constructors (which recompute the valid actions and rebuild each
quest's dependency tree only to throw them away), sharing everything immutable and
copying only what a step mutates: the fact state and the dependency trees.

If the installed TextWorld's wrapper stack or progression classes do not have the
shape described here, `layers()` returns None / `copy_progression()` falls back to
TextWorld's own `copy()`, and the env keeps using TextWorld's `copy()` for snapshots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textworld.core import GameState
from textworld.envs.wrappers.tw_inform7 import GameData, Inform7Data, StateTracking
from textworld.envs.zmachine.jericho import JerichoEnv
from textworld.generator.game import EventProgression, GameProgression, QuestProgression

# Attributes of TextWorld 1.7's progression trackers. `copy_progression` copies these
# by hand; any other shape (a different TextWorld version) falls back to `.copy()`.
_GAME_PROGRESSION = frozenset({"game", "state", "_valid_actions", "quest_progressions"})
_QUEST_PROGRESSION = frozenset({"quest", "kb", "nb_completions", "win_events", "fail_events"})
_EVENT_PROGRESSION = frozenset(
    {"_kb", "event", "_triggered", "_untriggerable", "_policy", "_tree"})


def _copy_event(event: EventProgression) -> EventProgression:
    if type(event) is not EventProgression or vars(event).keys() != _EVENT_PROGRESSION:
        return event.copy()
    new = object.__new__(EventProgression)
    new.__dict__.update(vars(event))
    new._tree = event._tree.copy()  # `update()` removes nodes from the tree in place
    return new


def _copy_quest(quest: QuestProgression) -> QuestProgression:
    if type(quest) is not QuestProgression or vars(quest).keys() != _QUEST_PROGRESSION:
        return quest.copy()
    new = object.__new__(QuestProgression)
    new.__dict__.update(vars(quest))
    new.win_events = [_copy_event(e) for e in quest.win_events]
    new.fail_events = [_copy_event(e) for e in quest.fail_events]
    return new


def copy_progression(progression: GameProgression | None) -> GameProgression | None:
    """An independent copy of `progression`, equivalent to `progression.copy()`.

    Shared with the original, as in TextWorld's copy: the game, the knowledge base,
    the quests and events, the valid-action list (replaced, never mutated, by
    `update()`), the policy tuples and the tree elements. Copied: the fact state and
    each event's dependency tree, which `update()` mutates in place.
    """
    if progression is None:
        return None
    if type(progression) is not GameProgression or vars(progression).keys() != _GAME_PROGRESSION:
        return progression.copy()
    new = object.__new__(GameProgression)
    new.__dict__.update(vars(progression))
    new.state = progression.state.copy()
    new.quest_progressions = [_copy_quest(q) for q in progression.quest_progressions]
    return new


@dataclass(frozen=True)
class Layers:
    """The wrappers of one running TextWorld game whose state a snapshot saves."""

    tracking: StateTracking
    inform7: Inform7Data
    data: GameData
    jericho: JerichoEnv


def layers(game: Any) -> Layers | None:
    """Find the layers of `game` (what `textworld.start()` returned), or None if the
    stack is not the TextWorld 1.7 Inform 7 stack this module knows how to save."""
    found: dict[type, Any] = {}
    layer = game
    for _ in range(16):
        if layer is None:
            break
        for kind in (StateTracking, Inform7Data, GameData, JerichoEnv):
            if type(layer) is kind and kind not in found:
                found[kind] = layer
        layer = vars(layer).get("_wrapped_env")
    if len(found) != 4 or not _attributes_known(found):
        return None
    return Layers(found[StateTracking], found[Inform7Data], found[GameData], found[JerichoEnv])


def _attributes_known(found: dict[type, Any]) -> bool:
    """Whether every mutable attribute `capture` saves exists where it is expected."""
    tracking = found[StateTracking]
    jericho = found[JerichoEnv]
    frotz = vars(jericho).get("_jericho")
    return (
        all(name in vars(tracking) for name in (
            "_last_action", "_previous_winning_policy", "_current_winning_policy", "_moves",
            "_game_progression"))
        and all(name in vars(found[Inform7Data]) for name in ("_tracked_infos", "_prev_state"))
        and all(name in vars(jericho) for name in ("_seed", "_reset"))
        and frotz is not None and hasattr(frotz, "_seed")
        and hasattr(frotz, "get_state") and hasattr(frotz, "set_state")
    )


@dataclass(frozen=True, eq=False)
class GameSnapshot:
    """The complete mutable state of one running TextWorld game (see the module doc).

    Never handed to the game itself: `apply` installs copies of the mutable parts, so
    the snapshot can be applied again.
    """

    frotz: tuple                  # FrotzEnv.get_state(): fresh numpy arrays and ints
    state: dict                   # the GameState's entries (shallow: values are never mutated)
    prev_state: Any               # Inform7Data._prev_state (never mutated after its step)
    tracked_infos: tuple
    last_action: Any              # textworld.logic.Action (immutable) or None
    previous_winning_policy: Any  # tuple of Actions or None
    current_winning_policy: Any
    moves: Any
    progression: GameProgression | None  # a private copy
    seed: Any                     # JerichoEnv._seed, FrotzEnv._seed: read by the next reset()
    frotz_seed: Any
    was_reset: bool


def _frozen_policy(policy: Any) -> Any:
    return tuple(policy) if isinstance(policy, list) else policy


def capture(parts: Layers) -> GameSnapshot:
    """Save the game's state; later steps of the game do not change the snapshot."""
    tracking, inform7, jericho = parts.tracking, parts.inform7, parts.jericho
    return GameSnapshot(
        frotz=jericho._jericho.get_state(),
        state=dict(tracking.state),
        prev_state=inform7._prev_state,
        tracked_infos=tuple(inform7._tracked_infos),
        last_action=tracking._last_action,
        previous_winning_policy=_frozen_policy(tracking._previous_winning_policy),
        current_winning_policy=_frozen_policy(tracking._current_winning_policy),
        moves=tracking._moves,
        progression=copy_progression(tracking._game_progression),
        seed=jericho._seed,
        frotz_seed=jericho._jericho._seed,
        was_reset=jericho._reset,
    )


def apply(parts: Layers, snap: GameSnapshot) -> GameState:
    """Put the game of `parts` (the same story file) into the state `snap` saved;
    return the restored `GameState`, which every layer now shares."""
    tracking, inform7, data, jericho = parts.tracking, parts.inform7, parts.data, parts.jericho
    jericho._jericho.set_state(snap.frotz)  # copies the arrays into the interpreter
    jericho._seed, jericho._jericho._seed = snap.seed, snap.frotz_seed
    jericho._reset = snap.was_reset
    state = GameState(snap.state)
    jericho.state = data.state = inform7.state = tracking.state = state
    inform7._tracked_infos = list(snap.tracked_infos)
    inform7._prev_state = snap.prev_state
    tracking._last_action = snap.last_action
    tracking._previous_winning_policy = snap.previous_winning_policy
    tracking._current_winning_policy = snap.current_winning_policy
    tracking._moves = snap.moves
    tracking._game_progression = copy_progression(snap.progression)
    return state
