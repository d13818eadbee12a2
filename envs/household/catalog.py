"""The household vocabulary: receptacle types, object types, scenes and room layouts.

Names follow ALFWorld/ALFRED (lower-case AI2-THOR types such as `sinkbasin`,
`butterknife`, `desklamp`). The tables are data, not code paths: the generator
reads them to build rooms, the world reads them for the physical rules.

`OOD_OBJECT_TYPES` never appear in `train` or `test` rooms, and the `ood`
layouts each contain a receptacle type that no seen layout has (`cart`,
`ottoman`, `safe`, `laundryhamper`), so the `ood` split tests generalisation
to unseen objects in unseen rooms.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Task types, named as in ALFWorld's game files.
PICK, LOOK, CLEAN, HEAT, COOL, PICK_TWO = (
    "pick_and_place_simple", "look_at_obj_in_light", "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep", "pick_cool_then_place_in_recep", "pick_two_obj_and_place",
)
TASK_TYPES = (PICK, LOOK, CLEAN, HEAT, COOL, PICK_TWO)

#: The state change each transforming task needs, and the appliance type that makes it.
TRANSFORMS = {CLEAN: ("clean", "sinkbasin"), HEAT: ("hot", "microwave"), COOL: ("cool", "fridge")}
#: The object property (see `ObjectType.props`) that makes a type eligible for a task.
TASK_PROPERTY = {CLEAN: "clean", HEAT: "heat", COOL: "cool", LOOK: "light"}

#: Receptacle types that have a door or lid: their contents are hidden until opened.
OPENABLE = frozenset({"cabinet", "drawer", "fridge", "microwave", "safe"})

#: Lamp types: objects that stand on a surface and can be switched on, never picked up.
LAMP_TYPES = ("desklamp",)
LAMP_SURFACES = ("desk", "sidetable", "dresser")


@dataclass(frozen=True)
class ObjectType:
    """One pickable object type: where it may lie and which tasks it can serve."""

    name: str
    scenes: tuple[str, ...]
    spawns: tuple[str, ...]          # receptacle types it can lie in (and be put in)
    props: frozenset[str] = frozenset()  # subset of {"clean", "heat", "cool", "light"}


def _obj(name: str, scenes: str, spawns: str, props: str = "") -> ObjectType:
    return ObjectType(name, tuple(scenes.split()), tuple(spawns.split()), frozenset(props.split()))


_FOOD_SPOTS = "countertop diningtable fridge garbagecan sinkbasin microwave cart"
_DISH_SPOTS = "countertop diningtable cabinet fridge microwave sinkbasin shelf cart"
_UTENSIL_SPOTS = "countertop diningtable drawer sinkbasin cart"
_SMALL_LIVING = "sofa armchair coffeetable sidetable diningtable drawer shelf tvstand dresser ottoman"
_SMALL_BEDROOM = "bed desk drawer dresser shelf sidetable safe laundryhamper"

OBJECT_TYPES: dict[str, ObjectType] = {o.name: o for o in (
    # kitchen
    _obj("apple", "kitchen", _FOOD_SPOTS, "clean heat cool"),
    _obj("bread", "kitchen", "countertop diningtable fridge microwave cabinet cart", "heat cool"),
    _obj("egg", "kitchen", _FOOD_SPOTS, "heat cool"),
    _obj("tomato", "kitchen", _FOOD_SPOTS, "clean heat cool"),
    _obj("lettuce", "kitchen", _FOOD_SPOTS, "clean cool"),
    _obj("potato", "kitchen", _FOOD_SPOTS, "clean heat cool"),
    _obj("mug", "kitchen bedroom", _DISH_SPOTS + " coffeemachine desk sidetable",
         "clean heat cool light"),
    _obj("cup", "kitchen", _DISH_SPOTS, "clean heat cool"),
    _obj("plate", "kitchen", _DISH_SPOTS, "clean heat cool"),
    _obj("bowl", "kitchen livingroom", _DISH_SPOTS + " coffeetable sidetable", "clean heat cool"),
    _obj("pan", "kitchen", "countertop diningtable stoveburner cabinet fridge sinkbasin",
         "clean cool"),
    _obj("pot", "kitchen", "countertop diningtable stoveburner cabinet fridge sinkbasin shelf",
         "clean cool"),
    _obj("knife", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("butterknife", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("fork", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("spoon", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("spatula", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("ladle", "kitchen", _UTENSIL_SPOTS, "clean"),
    _obj("kettle", "kitchen", "countertop diningtable stoveburner cabinet shelf cart", "clean"),
    _obj("winebottle", "kitchen", "countertop diningtable fridge cabinet shelf garbagecan cart",
         "cool"),
    _obj("saltshaker", "kitchen", "countertop diningtable cabinet drawer shelf"),
    _obj("peppershaker", "kitchen", "countertop diningtable cabinet drawer shelf"),
    _obj("dishsponge", "kitchen bathroom",
         "countertop diningtable sinkbasin drawer cabinet shelf cart", "clean"),
    _obj("soapbottle", "kitchen bathroom",
         "countertop diningtable cabinet shelf garbagecan toilet cart"),
    # living room and bedroom
    _obj("book", "livingroom bedroom", _SMALL_LIVING + " " + _SMALL_BEDROOM, "light"),
    _obj("box", "livingroom", "sofa armchair coffeetable sidetable diningtable shelf ottoman",
         "light"),
    _obj("cellphone", "livingroom bedroom", _SMALL_LIVING + " " + _SMALL_BEDROOM, "light"),
    _obj("creditcard", "livingroom bedroom", _SMALL_LIVING + " " + _SMALL_BEDROOM, "light"),
    _obj("keychain", "livingroom bedroom", _SMALL_LIVING + " " + _SMALL_BEDROOM, "light"),
    _obj("laptop", "livingroom bedroom", "sofa armchair bed desk coffeetable diningtable ottoman",
         "light"),
    _obj("newspaper", "livingroom", _SMALL_LIVING + " garbagecan", "light"),
    _obj("pillow", "livingroom bedroom", "sofa armchair bed ottoman", "light"),
    _obj("remotecontrol", "livingroom", _SMALL_LIVING, "light"),
    _obj("vase", "livingroom", "coffeetable sidetable diningtable shelf tvstand dresser cabinet",
         "light"),
    _obj("tissuebox", "livingroom bathroom",
         "coffeetable sidetable shelf dresser countertop toilet cabinet", "light"),
    _obj("statue", "livingroom bedroom", "coffeetable sidetable shelf tvstand dresser desk safe",
         "light"),
    _obj("watch", "livingroom bedroom", _SMALL_LIVING + " " + _SMALL_BEDROOM, "light"),
    _obj("alarmclock", "bedroom", "desk dresser shelf sidetable", "light"),
    _obj("cd", "bedroom", "desk drawer dresser shelf sidetable safe garbagecan", "light"),
    _obj("pen", "bedroom", "desk drawer dresser shelf sidetable", "light"),
    _obj("pencil", "bedroom", "desk drawer dresser shelf sidetable", "light"),
    _obj("teddybear", "bedroom", "bed desk dresser shelf laundryhamper", "light"),
    _obj("baseballbat", "bedroom", "bed desk shelf laundryhamper"),
    _obj("tennisracket", "bedroom", "bed desk shelf laundryhamper"),
    # bathroom
    _obj("cloth", "bathroom bedroom",
         "countertop cabinet drawer sinkbasin bathtubbasin toilet laundryhamper cart", "clean"),
    _obj("soapbar", "bathroom", "countertop cabinet sinkbasin bathtubbasin toilet cart", "clean"),
    _obj("handtowel", "bathroom", "handtowelholder countertop cabinet"),
    _obj("towel", "bathroom", "towelholder countertop cabinet bathtubbasin"),
    _obj("toiletpaper", "bathroom", "toiletpaperhanger toilet countertop cabinet shelf cart"),
    _obj("spraybottle", "bathroom", "countertop cabinet toilet shelf garbagecan cart"),
    _obj("candle", "bathroom", "countertop cabinet toilet shelf bathtubbasin cart"),
    _obj("plunger", "bathroom", "cabinet shelf countertop garbagecan cart"),
    _obj("scrubbrush", "bathroom", "cabinet shelf countertop toilet cart"),
)}

#: Object types held out of `train` and `test` entirely; `ood` goals use only these.
OOD_OBJECT_TYPES = frozenset({
    "potato", "ladle", "kettle", "winebottle", "statue", "watch", "teddybear",
    "candle", "plunger", "scrubbrush",
})

#: Which task types each scene can host (an appliance or a lamp must be present).
SCENE_TASKS = {
    "kitchen": (PICK, PICK_TWO, CLEAN, HEAT, COOL),
    "livingroom": (PICK, PICK_TWO, LOOK),
    "bedroom": (PICK, PICK_TWO, LOOK),
    "bathroom": (PICK, PICK_TWO, CLEAN),
}


def _layout(spec: str) -> tuple[tuple[str, int, int], ...]:
    """Parse 'cabinet 4-10 fridge 1 ...' into (type, min count, max count) triples."""
    words = spec.split()
    triples = []
    for rtype, count in zip(words[::2], words[1::2]):
        low, _, high = count.partition("-")
        triples.append((rtype, int(low), int(high or low)))
    return tuple(triples)


#: Room layouts: receptacle types with count ranges. `seen` layouts build train and
#: test rooms, `ood` layouts only ood rooms.
LAYOUTS: dict[str, dict[str, tuple[tuple[str, int, int], ...]]] = {
    "seen": {
        "kitchen-a": _layout("cabinet 4-10 drawer 2-6 countertop 1-3 diningtable 0-1 fridge 1 "
                             "microwave 1 sinkbasin 1 stoveburner 2-4 coffeemachine 1 toaster 1 "
                             "garbagecan 1 shelf 0-3"),
        "kitchen-b": _layout("cabinet 6-14 drawer 3-9 countertop 2-3 diningtable 1 fridge 1 "
                             "microwave 1 sinkbasin 1-2 stoveburner 4 coffeemachine 1 "
                             "garbagecan 1"),
        "livingroom-a": _layout("sofa 1 armchair 1-2 coffeetable 1 sidetable 1-2 drawer 2-6 "
                                "cabinet 0-4 shelf 0-6 tvstand 1 garbagecan 1 dresser 0-1"),
        "livingroom-b": _layout("sofa 1-2 diningtable 1 sidetable 1-3 drawer 0-4 cabinet 2-6 "
                                "coffeetable 1 garbagecan 1"),
        "bedroom-a": _layout("bed 1 desk 1 drawer 3-8 dresser 1 shelf 0-4 sidetable 1-2 "
                             "garbagecan 1"),
        "bedroom-b": _layout("bed 1 desk 0-1 drawer 4-10 sidetable 2 dresser 0-1 shelf 2-6 "
                             "armchair 0-1 garbagecan 1"),
        "bathroom-a": _layout("bathtubbasin 0-1 cabinet 2-4 countertop 1 drawer 0-4 garbagecan 1 "
                              "handtowelholder 1 sinkbasin 1-2 toilet 1 toiletpaperhanger 1 "
                              "towelholder 1"),
        "bathroom-b": _layout("cabinet 3-6 countertop 1 drawer 2-6 garbagecan 1 sinkbasin 1 "
                              "toilet 1 toiletpaperhanger 1 shelf 1-3 towelholder 0-1"),
    },
    "ood": {
        "kitchen-c": _layout("cabinet 3-6 drawer 1-3 countertop 1 diningtable 1-2 fridge 1 "
                             "microwave 1 sinkbasin 1 stoveburner 2 cart 1 shelf 1-2 garbagecan 1"),
        "livingroom-c": _layout("sofa 1 ottoman 1 coffeetable 1-2 sidetable 1 dresser 1 shelf 2-4 "
                                "drawer 1-2 garbagecan 1"),
        "bedroom-c": _layout("bed 1-2 desk 1 drawer 2-4 safe 1 laundryhamper 1 sidetable 1 "
                             "shelf 1-2 garbagecan 1"),
        "bathroom-c": _layout("cart 1 countertop 1 drawer 1-2 cabinet 1-2 sinkbasin 1 toilet 1 "
                              "toiletpaperhanger 1 garbagecan 1 handtowelholder 1 "
                              "bathtubbasin 1"),
    },
}


def scene_of(layout: str) -> str:
    """The scene a layout belongs to ('kitchen-a' -> 'kitchen')."""
    return layout.rsplit("-", 1)[0]


def preposition(rtype: str) -> str:
    """'in' for containers with a door or a basin, 'on' for surfaces (as ALFWorld prints)."""
    return "in" if rtype in OPENABLE or rtype.endswith("basin") or rtype in (
        "garbagecan", "laundryhamper") else "on"
