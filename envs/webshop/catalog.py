"""The generated product catalog: deterministic from a seed, cached on disk.

WebShop's real catalog (1.18M scraped products) cannot be downloaded here,
so products are composed from `vocab.py`: a brand, a product type, a few
attributes (at most one per mutually exclusive group), a subset of each
option list, a price in the category's range, a description and bullet
features written from those facts.
"""
from __future__ import annotations

import random
import string
from dataclasses import asdict, dataclass

from earlyexp.envs.webshop.cache import cache_root, cached_json
from earlyexp.envs.webshop.vocab import BENEFITS, BRANDS, CATEGORIES, Category

#: Bump when generation changes, so stale caches are never reused.
CATALOG_FORMAT = 1
MIN_PRODUCTS = 100


@dataclass(frozen=True)
class Product:
    """One catalog item. `options` maps an option type (color, size, ...) to its values."""

    asin: str
    title: str
    name: str                      # the product type, e.g. "dress shirt" (WebShop's `name`)
    category: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: float
    description: str
    features: tuple[str, ...]

    @property
    def category_path(self) -> str:
        return " › ".join(self.category)

    @classmethod
    def from_dict(cls, data: dict) -> Product:
        return cls(
            data["asin"], data["title"], data["name"], tuple(data["category"]),
            tuple(data["attributes"]),
            {kind: tuple(values) for kind, values in data["options"].items()},
            float(data["price"]), data["description"], tuple(data["features"]),
        )


def category_of(product: Product) -> Category:
    """The vocabulary category a product was generated from."""
    return CATEGORY_BY_PATH[product.category]


CATEGORY_BY_PATH = {category.path: category for category in CATEGORIES}


def load_catalog(num_products: int, seed: int) -> list[Product]:
    """The catalog for (`num_products`, `seed`), generated once and then read from the cache."""
    if num_products < MIN_PRODUCTS:
        raise ValueError(f"num_products must be at least {MIN_PRODUCTS} so every category has "
                         f"products to search; got {num_products}")
    path = cache_root() / f"catalog-v{CATALOG_FORMAT}-n{num_products}-s{seed}" / "products.json"
    rows = cached_json(path, lambda: [asdict(p) for p in generate_catalog(num_products, seed)])
    return [Product.from_dict(row) for row in rows]


def generate_catalog(num_products: int, seed: int) -> list[Product]:
    """`num_products` products spread evenly over every category and product type."""
    rng = random.Random(f"webshop-catalog-{seed}")
    kinds = [(category, name) for category in CATEGORIES for name in category.product_types]
    products, used_asins = [], set()
    for index in range(num_products):
        category, name = kinds[index % len(kinds)]
        asin = _new_asin(rng, used_asins)
        products.append(_make_product(rng, asin, category, name))
    return products


def _new_asin(rng: random.Random, used: set[str]) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        asin = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if asin not in used:
            used.add(asin)
            return asin


def _make_product(rng: random.Random, asin: str, category: Category, name: str) -> Product:
    groups = rng.sample(category.attribute_groups, rng.randint(3, 5))
    attributes = tuple(rng.choice(group) for group in groups)
    options = {kind: _option_subset(rng, values) for kind, values in category.options.items()}
    low, high = category.price_range
    price = round(int(rng.uniform(low, high)) + rng.choice((0.49, 0.95, 0.99)), 2)
    brand = rng.choice(BRANDS)
    # "with ..." attributes read badly before a noun, so titles name the others.
    nameable = tuple(a for a in attributes if not a.startswith("with "))
    title = _title(brand, category.audience, nameable[: rng.randint(1, 2)], name)
    return Product(asin, title, name, category.path, attributes, options, price,
                   _description(rng, brand, name, attributes, category),
                   _features(rng, attributes, options))


def _option_subset(rng: random.Random, values: tuple[str, ...]) -> tuple[str, ...]:
    chosen = set(rng.sample(values, rng.randint(min(2, len(values)), min(6, len(values)))))
    return tuple(value for value in values if value in chosen)  # keep the vocabulary's order


def _title(brand: str, audience: str, attributes: tuple[str, ...], name: str) -> str:
    # str.title() would write "Men'S"; capitalise each word's first letter only.
    words = " ".join((brand, audience, *attributes, name)).split()
    return " ".join(word[:1].upper() + word[1:] for word in words)


def _description(rng: random.Random, brand: str, name: str, attributes: tuple[str, ...],
                 category: Category) -> str:
    facts = ", ".join(attributes[:-1]) + f" and {attributes[-1]}" if len(attributes) > 1 \
        else attributes[0]
    return (f"The {brand} {name} is made for {rng.choice(category.uses)}. "
            f"It is {facts}. {rng.choice(BENEFITS).capitalize()}, it ships in a recyclable box.")


def _features(rng: random.Random, attributes: tuple[str, ...],
              options: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    bullets = [f"{attribute.upper()}: {rng.choice(BENEFITS)}" for attribute in attributes]
    bullets += [f"AVAILABLE {kind.upper()}S: {', '.join(values)}"
                for kind, values in options.items()]
    return tuple(bullets)
