"""The generated world: fictional entities, their facts, and one passage each.

The world is three disjoint sub-worlds, one per split (`train`, `test`,
`ood`), that share nothing, so that test and ood questions are about entities
no train question mentions. Every entity gets one short encyclopedia-style
passage that states all of its facts, and the passages of all sub-worlds form
one corpus behind one search index.

Facts are either literals (years, occupations, currencies) or references to
other entities by id (a person's birthplace, an organisation's founder), and
they are kept consistent: a founder is an adult when founding, a work is
finished during its creator's life, a birthplace exists before the birth.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from earlyexp.envs.searchqa.names import NameBank, person_names


#: Share of each entity type in a sub-world; works and people dominate, as in an encyclopedia.
TYPE_SHARES = (
    ("country", 0.015), ("city", 0.135), ("organisation", 0.15), ("work", 0.25), ("person", 0.45),
)
#: Creative occupations and the works they make: (occupation, work kind, creator role, verb).
CREATIVE = (
    ("novelist", "novel", "author", "written"),
    ("poet", "poetry collection", "author", "written"),
    ("painter", "painting", "painter", "painted"),
    ("composer", "symphony", "composer", "composed"),
    ("composer", "opera", "composer", "composed"),
    ("architect", "building", "architect", "completed"),
    ("sculptor", "sculpture", "sculptor", "completed"),
    ("philosopher", "treatise", "author", "written"),
)
OTHER_OCCUPATIONS = (
    "physicist", "botanist", "merchant", "engineer", "cartographer", "physician", "astronomer",
    "judge", "diplomat", "shipbuilder", "chemist", "banker",
)
#: Organisation name suffix and what the organisation is.
ORGANISATION_KINDS = (
    ("Institute", "research institute"), ("Shipping Company", "shipping company"),
    ("Society", "learned society"), ("Orchestra", "orchestra"), ("Bank", "bank"),
    ("University", "university"), ("Guild", "craft guild"), ("Observatory", "observatory"),
    ("Press", "publishing house"), ("Foundry", "iron foundry"), ("Academy", "academy of arts"),
    ("Railway", "railway company"),
)


@dataclass
class Entity:
    """One thing the corpus describes; `facts` values are literals or other entities' ids."""

    id: str
    type: str
    name: str
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def noun_phrase(self) -> str:
        """How a question refers to this entity by name."""
        if self.type == "organisation":
            return f"the {self.name}"
        if self.type == "work":
            return f'the {self.facts["kind"]} "{self.name}"'
        return self.name


@dataclass
class World:
    """All entities by id, and per split the ids of each type."""

    entities: dict[str, Entity] = field(default_factory=dict)
    by_split: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def of_type(self, split: str, type_: str) -> list[Entity]:
        return [self.entities[i] for i in self.by_split[split][type_]]

    def add(self, split: str, entity: Entity) -> None:
        self.entities[entity.id] = entity
        self.by_split.setdefault(split, {}).setdefault(entity.type, []).append(entity.id)


def type_counts(num_passages: int) -> dict[str, int]:
    """Entities per type for `num_passages` passages in total (sums exactly)."""
    counts = {type_: max(2, int(num_passages * share)) for type_, share in TYPE_SHARES}
    counts["person"] += num_passages - sum(counts.values())
    return counts


def generate_world(num_passages: int, split_shares: dict[str, float], seed: int) -> World:
    """A world of exactly `num_passages` entities, split into disjoint sub-worlds."""
    rng = random.Random(f"searchqa-world-{seed}")
    bank = NameBank(rng)
    world = World()
    splits = list(split_shares)
    sizes = {split: int(num_passages * split_shares[split]) for split in splits}
    sizes[splits[0]] += num_passages - sum(sizes.values())
    for split in splits:
        _SubWorldBuilder(world, split, bank, rng).build(type_counts(sizes[split]))
    return world


class _SubWorldBuilder:
    """Builds the entities of one split, in dependency order (places before people...)."""

    def __init__(self, world: World, split: str, bank: NameBank, rng: random.Random):
        self.world, self.split, self.bank, self.rng = world, split, bank, rng

    def build(self, counts: dict[str, int]) -> None:
        countries = self._countries(counts["country"])
        cities = self._cities(counts["city"], countries)
        people = self._people(counts["person"], cities)
        self._organisations(counts["organisation"], people, cities)
        self._works(counts["work"], people)

    def _new(self, type_: str, name: str, **facts: str) -> Entity:
        entity = Entity(f"{type_}-{len(self.world.entities):06d}", type_, name, dict(facts))
        self.world.add(self.split, entity)
        return entity

    def _countries(self, count: int) -> list[Entity]:
        return [
            self._new("country", name, established=str(self.rng.randint(1450, 1880)),
                      currency=self.bank.word(2, 2).lower())
            for name in self.bank.words(count, 3, 4)
        ]

    def _cities(self, count: int, countries: list[Entity]) -> list[Entity]:
        cities = []
        for index, name in enumerate(self.bank.words(count, 2, 3)):
            # Every country gets a city first, so that every country has a capital.
            country = countries[index] if index < len(countries) else self.rng.choice(countries)
            cities.append(self._new(
                "city", name, country=country.id, founded=str(self.rng.randint(700, 1400)),
                river=self.bank.word(2, 2), population=str(self.rng.randint(40, 2000) * 1000),
            ))
            country.facts.setdefault("capital", cities[-1].id)
        return cities

    def _people(self, count: int, cities: list[Entity]) -> list[Entity]:
        people = []
        for name, pronoun in person_names(self.bank, count):
            born = self.rng.randint(1450, 1925)
            creative = self.rng.random() < 0.55
            occupation = (self.rng.choice(CREATIVE)[0] if creative
                          else self.rng.choice(OTHER_OCCUPATIONS))
            people.append(self._new(
                "person", name, pronoun=pronoun, born=str(born),
                died=str(born + self.rng.randint(38, 96)), occupation=occupation,
                birthplace=self.rng.choice(cities).id,
            ))
        return people

    def _organisations(self, count: int, people: list[Entity], cities: list[Entity]) -> None:
        for _ in range(count):
            suffix, kind = self.rng.choice(ORGANISATION_KINDS)
            founder = self.rng.choice(people)
            born, died = int(founder.facts["born"]), int(founder.facts["died"])
            founded = self.rng.randint(born + 22, min(died - 1, born + 65))
            self._new("organisation", f"{self.bank.word(2, 3)} {suffix}", kind=kind,
                      founder=founder.id, founded=str(founded),
                      headquarters=self.rng.choice(cities).id)

    def _works(self, count: int, people: list[Entity]) -> None:
        creators: dict[str, list[Entity]] = {}
        for person in people:
            creators.setdefault(person.facts["occupation"], []).append(person)
        kinds = [entry for entry in CREATIVE if entry[0] in creators]
        for _ in range(count):
            occupation, kind, role, verb = self.rng.choice(kinds)
            creator = self.rng.choice(creators[occupation])
            born, died = int(creator.facts["born"]), int(creator.facts["died"])
            year = self.rng.randint(born + 18, max(born + 18, died - 1))
            self._new("work", self.bank.title(), kind=kind, role=role, verb=verb,
                      creator=creator.id, year=str(year))


# ---------------------------------------------------------------- passages
def _a(noun: str) -> str:
    """The noun with its indefinite article ("an opera", "a novel")."""
    # "uni-" and "eu-" start with a consonant sound: "a university".
    vowel_sound = noun[:1].lower() in "aeiou" and not noun.lower().startswith(("uni", "eu"))
    return f"{'an' if vowel_sound else 'a'} {noun}"


def passage_text(world: World, entity: Entity, rng: random.Random) -> str:
    """The encyclopedia entry of `entity`; `rng` only picks among equivalent wordings."""
    return _WRITERS[entity.type](world, entity, rng)


def _name(world: World, entity_id: str) -> str:
    return world.entities[entity_id].name


def _country_text(world: World, e: Entity, rng: random.Random) -> str:
    f = e.facts
    capital = _name(world, f["capital"])
    first = rng.choice((
        f"{e.name} is a country whose capital is {capital}.",
        f"{e.name} is a sovereign state; its capital and largest city is {capital}.",
    ))
    return (f"{first} The country was established in {f['established']}. "
            f"Its currency is the {f['currency']}.")


def _city_text(world: World, e: Entity, rng: random.Random) -> str:
    f = e.facts
    country = world.entities[f["country"]]
    first = rng.choice((
        f"{e.name} is a city in {country.name}, on the banks of the {f['river']} river.",
        f"{e.name} is a city of {country.name} that lies on the {f['river']} river.",
    ))
    text = (f"{first} It was founded in {f['founded']} and today has about "
            f"{int(f['population']):,} inhabitants.")
    if country.facts.get("capital") == e.id:
        text += f" {e.name} is the capital of {country.name}."
    return text


def _person_text(world: World, e: Entity, rng: random.Random) -> str:
    f = e.facts
    city = world.entities[f["birthplace"]]
    country = _name(world, city.facts["country"])
    subject, possessive = ("He", "his") if f["pronoun"] == "he" else ("She", "her")
    if rng.random() < 0.5:
        # Years after a space, never glued to "(" or "–": a byte-level BPE model reads
        # " 1612" and "(1612" as different tokens and could not copy one into an answer.
        return (f"{e.name} (born {f['born']}, died {f['died']}) was {_a(f['occupation'])} "
                f"from {city.name}. "
                f"{subject} spent most of {possessive} working life in {country}.")
    return (f"{e.name} was {_a(f['occupation'])}, born in {city.name} in {f['born']}. "
            f"{subject} died in {f['died']} in {country}.")


def _organisation_text(world: World, e: Entity, rng: random.Random) -> str:
    f = e.facts
    founder, hq = _name(world, f["founder"]), _name(world, f["headquarters"])
    first = rng.choice((
        f"The {e.name} is {_a(f['kind'])} founded in {f['founded']} by {founder}.",
        f"The {e.name} is {_a(f['kind'])}; {founder} founded it in {f['founded']}.",
    ))
    return f"{first} It is headquartered in {hq}."


def _work_text(world: World, e: Entity, rng: random.Random) -> str:
    f = e.facts
    creator = _name(world, f["creator"])
    return rng.choice((
        f"{e.name} is {_a(f['kind'])} by {creator}, {f['verb']} in {f['year']}.",
        f"{e.name} is {_a(f['kind'])} {f['verb']} by {creator} in {f['year']}.",
    )) + rng.choice((
        f" It is counted among the best-known works of its {f['role']}.",
        f" Critics still discuss the {f['kind']} today.",
        "",
    ))


_WRITERS = {
    "country": _country_text, "city": _city_text, "person": _person_text,
    "organisation": _organisation_text, "work": _work_text,
}
