"""Multi-hop questions over the generated world, each with the expert's search plan.

A *bridge* question follows a chain of relations from a named entity: "In
which country is the city where the author of the novel "X" was born?" is
creator -> birthplace -> country, three hops: each hop is one passage to read
and one search the expert issues (the entity's name plus a word its passage
uses for the relation). A *comparison* question asks which of two entities
came first; in its 3-hop form one side is itself a bridge ("Who was born
earlier, A or the founder of B?"). A 1-hop question is a bridge of length one.

`train` and `test` hold 1- and 2-hop questions, `ood` 3-hop ones (more hops
than train); each split draws on its own sub-world, so test and ood entities
never appear in a train question.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import pairwise, product

from earlyexp.envs.searchqa.metrics import normalize_answer
from earlyexp.envs.searchqa.records import Hop, Question
from earlyexp.envs.searchqa.world import Entity, World


@dataclass(frozen=True)
class Relation:
    """A fact of `source` entities. Format fields: {x} = noun phrase, plus the entity's facts."""

    name: str
    source: str
    target: str | None  # entity type the fact points to; None for a literal
    keyword: str        # word of the source's passage that the expert adds to its search
    ask: str            # question asking for the fact
    phrase: str = ""    # noun phrase naming the target entity (entity-valued facts only)


RELATIONS = (
    Relation("birthplace", "person", "city", "born", "In which city was {x} born?",
             "the city where {x} was born"),
    Relation("born", "person", None, "born", "In what year was {x} born?"),
    Relation("died", "person", None, "died", "In what year did {x} die?"),
    Relation("occupation", "person", None, "", "What was the occupation of {x}?"),
    Relation("country", "city", "country", "city", "In which country is {x}?",
             "the country of {x}"),
    Relation("founded", "city", None, "founded", "In what year was {x} founded?"),
    Relation("capital", "country", "city", "capital", "What is the capital of {x}?",
             "the capital of {x}"),
    Relation("established", "country", None, "established", "In what year was {x} established?"),
    Relation("currency", "country", None, "currency", "What is the currency of {x}?"),
    Relation("founder", "organisation", "person", "founded", "Who founded {x}?",
             "the founder of {x}"),
    Relation("headquarters", "organisation", "city", "headquartered",
             "In which city is {x} headquartered?", "the city where {x} is headquartered"),
    Relation("founded", "organisation", None, "founded", "In what year was {x} founded?"),
    Relation("creator", "work", "person", "{kind}", "Who was the {role} of {x}?",
             "the {role} of {x}"),
    Relation("year", "work", None, "{kind}", "In what year was {x} {verb}?"),
)
#: The year each entity type is compared by, and how the comparison is asked.
COMPARISONS = {
    "person": ("born", "Who was born earlier, {a} or {b}?"),
    "city": ("founded", "Which city was founded earlier, {a} or {b}?"),
    "organisation": ("founded", "Which was founded earlier, {a} or {b}?"),
    "work": ("year", "Which is older, {a} or {b}?"),
}
#: Consecutive draws without a new question after which a sub-world counts as exhausted.
MAX_MISSES = 5_000
#: Share of each (hops, kind) in a split.
MIXES = {
    "train": {(1, "bridge"): 0.30, (2, "bridge"): 0.45, (2, "comparison"): 0.25},
    "test": {(1, "bridge"): 0.30, (2, "bridge"): 0.45, (2, "comparison"): 0.25},
    "ood": {(3, "bridge"): 0.65, (3, "comparison"): 0.35},
}


def chains(length: int) -> list[tuple[Relation, ...]]:
    """Every type-consistent chain of `length` relations (all but the last lead to an entity)."""
    found = []
    for chain in product(RELATIONS, repeat=length):
        links_ok = all(a.target == b.source for a, b in pairwise(chain))
        # capital then country returns to the same country: never a real hop.
        loops = any((a.name, b.name) == ("capital", "country") for a, b in pairwise(chain))
        if links_ok and not loops:
            found.append(chain)
    return found


class QuestionWriter:
    """Samples the questions of one split from its sub-world, deterministically from `rng`."""

    def __init__(self, world: World, split: str, rng: random.Random):
        self.world, self.split, self.rng = world, split, rng
        self.chains = {length: chains(length) for length in (1, 2, 3)}

    def write(self, count: int) -> list[Question]:
        questions: list[Question] = []
        seen: set[str] = set()
        for (hops, kind), target in _quotas(MIXES[self.split], count).items():
            made, misses = 0, 0
            while made < target:
                # Many draws in a row without a new question: the sub-world is exhausted.
                if misses > MAX_MISSES:
                    raise ValueError(
                        f"could only write {made} of {target} {hops}-hop {kind} questions for "
                        f"split {self.split!r}; the world is too small: raise num_passages")
                drafted = self._bridge(hops) if kind == "bridge" else self._comparison(hops)
                if drafted is None or drafted[0] in seen:
                    misses += 1
                    continue
                misses = 0
                seen.add(drafted[0])
                text, answer, plan = drafted
                questions.append(Question(f"{self.split}-{len(questions):05d}", self.split, text,
                                          (answer,), plan, f"{hops}-hop {kind}"))
                made += 1
        return questions

    # ------------------------------------------------------------ bridge
    def _bridge(self, hops: int):
        chain = self.rng.choice(self.chains[hops])
        start = self.rng.choice(self.world.of_type(self.split, chain[0].source))
        walked = self._walk(start, chain)
        if walked is None:
            return None
        phrase, plan, last, answer = walked
        text = _format(chain[-1].ask, last, phrase)
        if normalize_answer(answer) in normalize_answer(text):
            return None  # the answer would be written in the question
        return _capitalise(text), answer, tuple(plan)

    def _walk(self, start: Entity, chain: tuple[Relation, ...]):
        """Follow `chain`: (noun phrase of the last source, plan, last source, final value)."""
        entity, phrase, plan, visited = start, start.noun_phrase, [], {start.id}
        for index, relation in enumerate(chain):
            plan.append(_hop(entity, relation))
            value = entity.facts[relation.name]
            if index == len(chain) - 1:
                if relation.target is None:
                    return phrase, plan, entity, value
                if value in visited:
                    return None  # the chain came back to an entity it already named
                return phrase, plan, entity, self.world.entities[value].name
            phrase = _format(relation.phrase, entity, phrase)
            entity = self.world.entities[value]
            if entity.id in visited:
                return None
            visited.add(entity.id)
        raise ValueError("a chain has at least one relation")

    # ------------------------------------------------------------ comparison
    def _comparison(self, hops: int):
        # A 3-hop comparison names one side through a relation, so its type must be one
        # that some relation leads to.
        types = sorted(t for t in COMPARISONS if hops == 2 or any(r.target == t for r in RELATIONS))
        type_ = self.rng.choice(types)
        attribute, template = COMPARISONS[type_]
        first = self.rng.choice(self.world.of_type(self.split, type_))
        sides = [(first, first.noun_phrase, [])]
        if hops == 3:  # one side is named through a bridge relation
            bridged = self._bridge_to(type_)
            if bridged is None:
                return None
            sides.append(bridged)
        else:
            second = self.rng.choice(self.world.of_type(self.split, type_))
            sides.append((second, second.noun_phrase, []))
        (a, phrase_a, plan_a), (b, phrase_b, plan_b) = sides
        if a.id == b.id or a.facts[attribute] == b.facts[attribute]:
            return None
        relation = next(r for r in RELATIONS if r.source == type_ and r.name == attribute)
        plan = plan_a + [_hop(a, relation)] + plan_b + [_hop(b, relation)]
        if self.rng.random() < 0.5:
            phrase_a, phrase_b = phrase_b, phrase_a
        earlier = min((a, b), key=lambda e: int(e.facts[attribute]))
        return _capitalise(template.format(a=phrase_a, b=phrase_b)), earlier.name, tuple(plan)

    def _bridge_to(self, type_: str):
        """An entity of `type_` named as a relation of another one: (entity, phrase, plan)."""
        relation = self.rng.choice([r for r in RELATIONS if r.target == type_])
        start = self.rng.choice(self.world.of_type(self.split, relation.source))
        target = self.world.entities[start.facts[relation.name]]
        return target, _format(relation.phrase, start, start.noun_phrase), [_hop(start, relation)]


def _hop(entity: Entity, relation: Relation) -> Hop:
    keyword = relation.keyword.format(**entity.facts)
    # A work's title keeps the quotes the question gives it, so that the query's title is
    # the same token span as in the question (a byte-level BPE reads '"The' as '"' + 'The',
    # not ' The'): copying it is then one span, not a re-spelling.
    name = f'"{entity.name}"' if entity.type == "work" else entity.name
    return Hop(f"{name} {keyword}".strip(), entity.id)


def _format(template: str, entity: Entity, phrase: str) -> str:
    return template.format(x=phrase, **{k: v for k, v in entity.facts.items() if k != "x"})


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _quotas(mix: dict, count: int) -> dict:
    """Split `count` by the shares of `mix`, summing exactly (the remainder to the largest)."""
    quotas = {key: int(count * share) for key, share in mix.items()}
    largest = max(mix, key=mix.get)
    quotas[largest] += count - sum(quotas.values())
    return quotas
