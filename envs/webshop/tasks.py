"""Instructions derived from target products, split into fixed train / test / ood task lists.

A task picks a target product, keeps one to three of its attributes, one
value of each of its option types and a price bound above its price, and
writes them as an instruction ("i need a machine washable men's dress shirt
in navy, size large, and price lower than 40.00 dollars").

Splits: `train` and `test` targets are disjoint sets of products (every
fifth product of the catalog is a test target) over the first three product
types of each category; `ood` asks only for the fourth, held-out type of
each category. A task is kept only if the expert's query finds a product
that can earn reward 1, so every task is solvable by construction.
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

from earlyexp.envs.webshop.cache import cached_json
from earlyexp.envs.webshop.catalog import Product, category_of
from earlyexp.envs.webshop.reward import Goal, attainable_reward
from earlyexp.envs.webshop.search import SearchIndex
from earlyexp.envs.webshop.vocab import INSTRUCTION_OPENINGS, OPTION_PHRASES

TASKS_FORMAT = 1
SPLITS = ("train", "test", "ood")
MASS_NOUNS = {"trail mix", "beef jerky", "green tea", "herbal tea", "cold brew coffee",
              "sparkling water"}


@dataclass(frozen=True)
class Task:
    """One instruction, the goal it encodes, and the query the expert searches with."""

    task_id: str
    instruction: str
    goal: Goal
    expert_query: str

    @classmethod
    def from_dict(cls, data: dict) -> Task:
        return cls(data["task_id"], data["instruction"], Goal.from_dict(data["goal"]),
                   data["expert_query"])


def split_of(index: int, product: Product) -> str:
    """Which split may use catalog product number `index` as a target."""
    if product.name == category_of(product).product_types[-1]:
        return "ood"
    return "test" if index % 5 == 4 else "train"


def load_tasks(cache_dir, products: list[Product], index: SearchIndex, split: str, count: int,
               seed: int) -> list[Task]:
    """The first `count` tasks of `split`, generated once and then read from `cache_dir`."""
    path = cache_dir / f"tasks-v{TASKS_FORMAT}-{split}-{count}.json"
    rows = cached_json(path, lambda: [asdict(t) for t in
                                      generate_tasks(products, index, split, count, seed)])
    return [Task.from_dict(row) for row in rows]


def generate_tasks(products: list[Product], index: SearchIndex, split: str, count: int,
                   seed: int) -> list[Task]:
    """`count` solvable tasks of `split`; earlier tasks do not depend on `count`."""
    rng = random.Random(f"webshop-tasks-{seed}-{split}")
    pool = [i for i, product in enumerate(products) if split_of(i, product) == split]
    rng.shuffle(pool)
    tasks: list[Task] = []
    for product_index in pool:
        if len(tasks) == count:
            break
        goal = make_goal(rng, products[product_index])
        query = expert_query(goal, products[product_index])
        if any(attainable_reward(products[i], goal) == 1.0 for i in index.search(query)):
            tasks.append(Task(f"{split}-{len(tasks):05d}", instruction_text(rng, goal, products[
                product_index]), goal, query))
    if len(tasks) < count:
        raise ValueError(f"The catalog yields only {len(tasks)} solvable {split} tasks, fewer than "
                         f"the {count} asked for; raise num_products or ask for fewer tasks.")
    return tasks


def make_goal(rng: random.Random, product: Product) -> Goal:
    """A goal the target `product` satisfies exactly (so buying it earns reward 1)."""
    how_many = rng.randint(1, min(3, len(product.attributes)))
    attributes = tuple(rng.sample(product.attributes, how_many))
    options = {kind: rng.choice(values) for kind, values in product.options.items()}
    # A round bound 5-50% above the price, as a shopper would state it.
    price_upper = float(math.ceil(product.price * rng.uniform(1.05, 1.5) / 10) * 10)
    return Goal(product.asin, product.name, product.category, attributes, options, price_upper)


def expert_query(goal: Goal, product: Product) -> str:
    """The instruction's key words: attributes, audience, product type and option values."""
    audience = category_of(product).audience
    words = [*goal.attributes, audience, goal.name, *goal.options.values()]
    return " ".join(word for word in words if word)


def instruction_text(rng: random.Random, goal: Goal, product: Product) -> str:
    """A natural-language instruction stating every part of the goal."""
    before = [a for a in goal.attributes if not a.startswith("with ")]
    after = [a for a in goal.attributes if a.startswith("with ")]
    audience = category_of(product).audience
    noun = " ".join(word for word in (", ".join(before), audience, goal.name) if word)
    opening = rng.choice(INSTRUCTION_OPENINGS)
    head = " ".join([f"{opening} {_article(goal.name, noun)}{noun}", *after])
    options = [OPTION_PHRASES[kind].format(v=value) for kind, value in goal.options.items()]
    if options:
        head = ", ".join([f"{head} {options[0]}", *options[1:]])
    return f"{head}, and price lower than {goal.price_upper:.2f} dollars"


def _article(name: str, noun: str) -> str:
    if name in MASS_NOUNS or (name.endswith("s") and not name.endswith("ss")):
        return ""
    return "an " if noun[0] in "aeiou" else "a "
