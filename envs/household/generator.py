"""Procedural generation of household tasks, deterministic from (seed, split, index).

Each task is drawn independently from its own `random.Random` seeded with the
string `household/<seed>/<split>/<index>`, so task `train-0007` is the same
whatever the split's size, and the splits never share a random stream.

Task types cycle through ALFWorld's six in order (index mod 6), so any prefix
of a split is balanced. For a task type the generator picks a layout that can
host it, rolls the receptacle counts, chooses a feasible (object type,
receptacle type) pair, and places the goal objects (never inside a receptacle
of the goal type, so no task starts half solved), some distractors and, in
rooms with a desk, side table or dresser, a desk lamp.
"""
from __future__ import annotations

import random

from earlyexp.envs.household.catalog import (
    CLEAN, COOL, HEAT, LAMP_SURFACES, LAMP_TYPES, LAYOUTS, LOOK, OBJECT_TYPES, OOD_OBJECT_TYPES,
    PICK, PICK_TWO, SCENE_TASKS, TASK_PROPERTY, TASK_TYPES, TRANSFORMS, ObjectType, preposition,
    scene_of,
)
from earlyexp.envs.household.world import Goal, TaskSpec

GOAL_TEMPLATES = {
    PICK: ("put a {o} {p} {r}.", "put some {o} {p} {r}."),
    LOOK: ("look at {o} under the {l}.", "examine the {o} with the {l}."),
    CLEAN: ("clean some {o} and put it {p} {r}.", "put a clean {o} {p} {r}."),
    HEAT: ("heat some {o} and put it {p} {r}.", "put a hot {o} {p} {r}."),
    COOL: ("cool some {o} and put it {p} {r}.", "put a cool {o} {p} {r}."),
    PICK_TWO: ("put two {o} {p} {r}.", "find two {o} and put them {p} {r}."),
}
#: Distractor object types per room, and instances per type.
DISTRACTOR_TYPES = (5, 10)
INSTANCES = (1, 2)
MAX_ATTEMPTS = 50


def task_id_of(split: str, index: int) -> str:
    """The id of task number `index` of `split` ('train-0007')."""
    return f"{split}-{index:04d}"


def layout_pool(split: str) -> str:
    """'ood' rooms for the ood split, 'seen' rooms for train and test."""
    return "ood" if split == "ood" else "seen"


def generate_task(seed: int, split: str, index: int) -> TaskSpec:
    """The task `<split>-<index>` of generation seed `seed`."""
    rng = random.Random(f"household/{seed}/{split}/{index}")
    task_type = TASK_TYPES[index % len(TASK_TYPES)]
    task_id = task_id_of(split, index)
    for _ in range(MAX_ATTEMPTS):
        spec = _try_generate(rng, task_id, split, task_type)
        if spec is not None:
            return spec
    raise RuntimeError(  # the catalog guarantees every task type a feasible layout
        f"No feasible {task_type} room after {MAX_ATTEMPTS} draws for {task_id}; "
        "check catalog.LAYOUTS and OBJECT_TYPES.")


def _try_generate(rng: random.Random, task_id: str, split: str, task_type: str) -> TaskSpec | None:
    pool = layout_pool(split)
    layouts = sorted(name for name in LAYOUTS[pool] if task_type in SCENE_TASKS[scene_of(name)])
    layout = rng.choice(layouts)
    counts = {rtype: rng.randint(low, high) for rtype, low, high in LAYOUTS[pool][layout]}
    present = {rtype for rtype, count in counts.items() if count > 0}
    if task_type == LOOK and not present & set(LAMP_SURFACES):
        return None
    allowed = _allowed_types(scene_of(layout), split, present)
    pairs = _goal_pairs(allowed, split, task_type, present)
    if not pairs:
        return None
    otype, rtype = rng.choice(pairs)
    lamp_type = LAMP_TYPES[0] if task_type == LOOK else None
    goal = Goal(task_type, otype.name, rtype, lamp_type, _goal_text(rng, task_type, otype.name,
                                                                     rtype, lamp_type))
    receptacles = [f"{t} {i}" for t, n in counts.items() for i in range(1, n + 1)]
    placement = _place_objects(rng, goal, otype, allowed, receptacles, present)
    rng.shuffle(receptacles)  # rooms list their receptacles in no particular order
    return TaskSpec(task_id, layout, goal, tuple(receptacles), tuple(placement))


def _allowed_types(scene: str, split: str, present: set[str]) -> list[ObjectType]:
    """Object types that belong in this scene and split and have somewhere to lie."""
    return [o for name, o in sorted(OBJECT_TYPES.items())
            if scene in o.scenes and set(o.spawns) & present
            and (split == "ood" or name not in OOD_OBJECT_TYPES)]


def _goal_pairs(allowed: list[ObjectType], split: str, task_type: str,
                present: set[str]) -> list[tuple[ObjectType, str | None]]:
    """Feasible (goal object type, goal receptacle type) pairs, in a fixed order."""
    prop = TASK_PROPERTY.get(task_type)
    appliance = TRANSFORMS.get(task_type, (None, None))[1]
    if appliance is not None and appliance not in present:
        return []
    pairs: list[tuple[ObjectType, str | None]] = []
    for otype in allowed:
        if (split == "ood") != (otype.name in OOD_OBJECT_TYPES):
            continue  # ood goals use only held-out types; train/test never do
        if prop is not None and prop not in otype.props:
            continue
        spots = sorted(set(otype.spawns) & present)
        if task_type == LOOK:
            pairs.append((otype, None))
            continue
        for rtype in spots:
            if rtype != appliance and len(spots) > 1:  # somewhere else to start from
                pairs.append((otype, rtype))
    return pairs


def _goal_text(rng: random.Random, task_type: str, otype: str, rtype: str | None,
               lamp: str | None) -> str:
    template = rng.choice(GOAL_TEMPLATES[task_type])
    return template.format(o=otype, r=rtype, l=lamp, p=preposition(rtype) if rtype else "")


def _place_objects(rng: random.Random, goal: Goal, otype: ObjectType, allowed: list[ObjectType],
                   receptacles: list[str], present: set[str]) -> list[tuple[str, str]]:
    """Goal objects (outside the goal receptacle type), distractors and maybe a lamp."""
    by_type: dict[str, list[str]] = {}
    for name in receptacles:
        by_type.setdefault(name.rsplit(" ", 1)[0], []).append(name)

    def spot(spawns: list[str]) -> str:
        return rng.choice(by_type[rng.choice(spawns)])

    goal_spots = sorted(set(otype.spawns) & present - {goal.receptacle_type})
    placed = [(otype.name, spot(goal_spots))
              for _ in range(goal.count + rng.randint(0, 1))]
    others = [o for o in allowed if o.name != otype.name]
    for distractor in rng.sample(others, min(len(others), rng.randint(*DISTRACTOR_TYPES))):
        spawns = sorted(set(distractor.spawns) & present)
        placed += [(distractor.name, spot(spawns)) for _ in range(rng.randint(*INSTANCES))]
    lamp_spots = sorted(present & set(LAMP_SURFACES))
    if lamp_spots:
        placed.append((LAMP_TYPES[0], spot(lamp_spots)))
    rng.shuffle(placed)
    numbered: dict[str, int] = {}
    placement = []
    for type_name, receptacle in placed:
        numbered[type_name] = numbered.get(type_name, 0) + 1
        placement.append((f"{type_name} {numbered[type_name]}", receptacle))
    return placement
