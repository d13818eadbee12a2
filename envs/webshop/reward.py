"""WebShop's purchase reward, on generated products.

    reward = r_type · (matched attributes + matched options + [price <= bound])
                     / (goal attributes + goal options + 1)

`r_type` follows WebShop's type check: 1 when the purchased product has
the goal's query (here: the same product type), shares two category
levels, or its type words overlap the goal's by more than 0.2; 0.5 when
none of those hold; 0.1 when the overlap is under 0.1 and 0 when it is
empty. Attributes and options match fuzzily (rapidfuzz `token_set_ratio`
above 85 after lower-casing and dropping punctuation, as thefuzz did for
WebShop); an attribute also counts when it appears verbatim in the title,
features or description. Before options are compared, both sides are
colour-normalised as WebShop's `normalize_color` does (`normalize_color`
here): "rose gold" is compared as "gold". Success is a reward of exactly 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from earlyexp.envs.webshop.catalog import Product

FUZZY_THRESHOLD = 85.0
#: The colour words of WebShop's option normalisation (web_agent_site/engine/normalize.py).
COLOR_WORDS = frozenset("""
    alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze
    brown burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas
    coffee cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso
    fuchsia gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki
    lavender lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha
    multicolor mushroom mustard natural navy nude olive orange peach pewter pink plum purple
    rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone stonewash
    sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow
""".split())


@dataclass(frozen=True)
class Goal:
    """What an instruction asks for, derived from a target product."""

    asin: str                               # the target the instruction was written from
    name: str                               # its product type (WebShop's goal `name`/`query`)
    category: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)   # option type -> wanted value
    price_upper: float = 0.0                # 0 means no price bound

    @classmethod
    def from_dict(cls, data: dict) -> Goal:
        return cls(data["asin"], data["name"], tuple(data["category"]), tuple(data["attributes"]),
                   dict(data["options"]), float(data["price_upper"]))


@dataclass(frozen=True)
class RewardBreakdown:
    """Every term of the reward, so a purchase page and a test can show how it was reached."""

    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    attribute_matches: int
    option_matches: int
    price_ok: bool | None
    total: float


def fuzzy_match(a: str, b: str) -> bool:
    """WebShop's fuzzy equality of two attribute or option strings."""
    return fuzz.token_set_ratio(a, b, processor=default_process) > FUZZY_THRESHOLD


def normalize_color(value: str) -> str:
    """WebShop's colour normalisation of an option value: the alphabetically first colour
    word that occurs anywhere in it (as a substring: "darkred" holds "dark"), else the value.

    WebShop scans its alphabetical list and returns the first word found, hence `min`.
    "rose gold" -> "gold", "navy blue" -> "blue", "xl" -> "xl". Values are lower-cased first
    (the generated ones already are).
    """
    text = value.lower()
    found = [word for word in COLOR_WORDS if word in text]
    return min(found) if found else text


def option_match(chosen: str, wanted: str) -> bool:
    """WebShop's option comparison: fuzzy equality of the colour-normalised values."""
    return fuzzy_match(normalize_color(chosen), normalize_color(wanted))


def type_reward(product: Product, goal: Goal) -> tuple[float, bool, bool, float]:
    """(r_type, query_match, category_match, title_score) of buying `product` for `goal`."""
    query_match = product.name == goal.name
    category_match = len(set(product.category) & set(goal.category)) >= 2
    # Product types are noun phrases by construction, so their words stand in
    # for the nouns WebShop extracted with spaCy.
    wanted, bought = set(goal.name.split()), set(product.name.split())
    title_score = len(wanted & bought) / len(wanted) if wanted else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal: Goal) -> int:
    """How many goal attributes the product has (fuzzily, or verbatim in its text)."""
    text = " ".join((product.title, *product.features, product.description)).lower()
    return sum(
        any(fuzzy_match(have, want) for have in product.attributes) or want in text
        for want in goal.attributes
    )


def option_matches(chosen: Mapping[str, str], goal: Goal) -> int:
    """How many goal option values are among the chosen ones (normalised, fuzzily, any type)."""
    return sum(any(option_match(have, want) for have in chosen.values())
               for want in goal.options.values())


def purchase_reward(product: Product, chosen: Mapping[str, str], goal: Goal) -> RewardBreakdown:
    """The reward of buying `product` with the options `chosen` (type -> value)."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    attributes = attribute_matches(product, goal)
    options = option_matches(chosen, goal)
    price_ok = product.price <= goal.price_upper if goal.price_upper > 0 else None
    matched = attributes + options + int(bool(price_ok))
    possible = len(goal.attributes) + len(goal.options) + 1
    total = r_type * matched / possible
    return RewardBreakdown(r_type, query_match, category_match, title_score, attributes, options,
                           price_ok, total)


def best_options(product: Product, goal: Goal) -> dict[str, str]:
    """The option choice that scores best for `goal`: the wanted value where the product has it."""
    chosen = {}
    for kind, values in product.options.items():
        wanted = goal.options.get(kind)
        exact = [v for v in values if v == wanted]
        close = [v for v in values if wanted and option_match(v, wanted)]
        chosen[kind] = (exact or close or values)[0]
    return chosen


def attainable_reward(product: Product, goal: Goal) -> float:
    """The reward of buying `product` with its best options (what an oracle can reach with it)."""
    return purchase_reward(product, best_options(product, goal), goal).total
