"""The expert: the next command towards the goal, planned from the true world state.

Like the PDDL planner behind ALFWorld's expert demonstrations, it knows where
every object is. It replans from scratch at every call, so it recovers from
any detour a branch or a policy took (a wrong object in hand, the goal object
moved, heated instead of cooled, the lamp switched off):

1. holding something that is not of the goal type: put it down where it can
   go (opening the receptacle in front first if needed);
2. empty-handed: fetch the cheapest goal-type object that still counts
   (already transformed ones first; then fewest steps away: go, open, take);
3. holding a goal object: transform it if the task needs it (go to the
   appliance, clean/heat/cool), then deliver it to the goal receptacle that
   already holds the most qualifying objects (go, open, put) -- or, for
   examine-in-light, go to the lamp and switch it on.

Every command it returns is in the admissible list of that state.
"""
from __future__ import annotations

from earlyexp.envs.household.catalog import LOOK, OPENABLE, TRANSFORMS
from earlyexp.envs.household.grammar import Command
from earlyexp.envs.household.world import World, type_of

#: The command verb that produces each required state.
_VERB_FOR_STATE = {"clean": "clean", "hot": "heat", "cool": "cool"}


def expert_action(world: World) -> str | None:
    """The expert's next command, or None when the goal is already met."""
    if world.success():
        return None
    goal, held = world.spec.goal, world.state.held
    if held is not None and type_of(held) != goal.object_type:
        command = _put_down(world, held)
    elif held is None:
        command = _fetch(world)
    elif goal.task_type == LOOK:
        command = _light_up(world)
    else:
        command = _transform(world, held) or _deliver(world, held)
    return str(command)


def _reach(world: World, receptacle: str) -> Command | None:
    """The step that brings `receptacle`'s inside within reach, or None if it is."""
    if world.state.at != receptacle:
        return Command("go", (receptacle,))
    if not world.accessible(receptacle):
        return Command("open", (receptacle,))
    return None


def _prefer_here(world: World, receptacles: list[str]) -> str:
    """The receptacle the agent faces if it is one of them, else the first listed."""
    return world.state.at if world.state.at in receptacles else receptacles[0]


def _put_down(world: World, held: str) -> Command:
    at = world.state.at
    if at is None:
        surfaces = [r for r in world.spec.receptacles if type_of(r) not in OPENABLE]
        return Command("go", (surfaces[0],))
    return _reach(world, at) or Command("put", (held, at))


def _fetch(world: World) -> Command:
    goal, state = world.spec.goal, world.state
    counted = set()
    if goal.count > 1:  # objects already delivered to the target must stay there
        target = _target(world)
        counted = {o for o in world.contents(target) if world.qualifies(o)}
    candidates = [o for o in world.objects
                  if type_of(o) == goal.object_type and o in state.where and o not in counted]

    def cost(obj: str) -> tuple[int, int, int]:
        place = state.where[obj]
        untransformed = goal.required_state is not None and not world.has_state(
            obj, goal.required_state)
        steps = (place != state.at) + (not world.accessible(place))
        return int(untransformed), steps, world.objects.index(obj)

    obj = min(candidates, key=cost)
    place = state.where[obj]
    return _reach(world, place) or Command("take", (obj, place))


def _transform(world: World, held: str) -> Command | None:
    required = world.spec.goal.required_state
    if required is None or world.has_state(held, required):
        return None
    appliance_type = TRANSFORMS[world.spec.goal.task_type][1]
    appliances = [r for r in world.spec.receptacles if type_of(r) == appliance_type]
    appliance = _prefer_here(world, appliances)
    if world.state.at != appliance:
        return Command("go", (appliance,))
    return Command(_VERB_FOR_STATE[required], (held, appliance))


def _target(world: World) -> str:
    """The goal receptacle holding the most qualifying objects (here, then listing order)."""
    receptacles = world.goal_receptacles()
    counts = {r: sum(world.qualifies(o) for o in world.contents(r)) for r in receptacles}
    best = max(counts.values())
    return _prefer_here(world, [r for r in receptacles if counts[r] == best])


def _deliver(world: World, held: str) -> Command:
    target = _target(world)
    return _reach(world, target) or Command("put", (held, target))


def _light_up(world: World) -> Command:
    lamp_type = world.spec.goal.lamp_type
    lamps = [o for o in world.objects if type_of(o) == lamp_type]
    lamp = next((lamp for lamp in lamps if lamp in world.state.lamps_on), lamps[0])
    place = world.state.where[lamp]
    if world.state.at != place:
        return Command("go", (place,))
    return Command("use", (lamp,))
