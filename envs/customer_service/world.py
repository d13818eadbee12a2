"""Generate the retail world (users, payment methods, products, variants, orders) from a seed.

The world is plain JSON-serialisable data; `database.py` loads it into SQLite.
Everything is drawn from one `random.Random(seed)` in a fixed order, so the
same `WorldSpec` always yields byte-identical data. Money is kept in integer
cents so that sums and comparisons are exact.

The catalog of product types and their option dimensions below is the fixed
vocabulary of the shop; which option combinations exist as variants, their
prices and availability are drawn per seed.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

from earlyexp.errors import ConfigError

#: product name -> (base price in dollars, option name -> values)
CATALOG: dict[str, tuple[int, dict[str, list[str]]]] = {
    "T-Shirt": (25, {"color": ["red", "blue", "black", "white"], "size": ["S", "M", "L", "XL"]}),
    "Running Shoes": (
        110,
        {"color": ["black", "white", "grey"], "size": ["7", "8", "9", "10", "11"]},
    ),
    "Backpack": (70, {"color": ["black", "green", "navy"], "capacity": ["20L", "30L", "40L"]}),
    "Water Bottle": (
        20,
        {
            "capacity": ["500ml", "750ml", "1000ml"],
            "material": ["stainless steel", "plastic", "glass"],
        },
    ),
    "Desk Lamp": (
        45,
        {"color": ["black", "white", "silver"], "power source": ["AC adapter", "battery", "USB"]},
    ),
    "Headphones": (
        150,
        {
            "type": ["over-ear", "on-ear", "in-ear"],
            "connectivity": ["wired", "wireless"],
            "color": ["black", "white"],
        },
    ),
    "Coffee Maker": (
        90,
        {"capacity": ["4 cups", "8 cups", "12 cups"], "type": ["drip", "espresso", "french press"]},
    ),
    "Mechanical Keyboard": (
        120,
        {
            "switch": ["red", "blue", "brown"],
            "layout": ["full size", "80%", "60%"],
            "backlight": ["RGB", "white", "none"],
        },
    ),
    "Yoga Mat": (35, {"thickness": ["4mm", "6mm", "8mm"], "color": ["purple", "blue", "green"]}),
    "Smart Watch": (
        250,
        {"color": ["black", "silver", "gold"], "band": ["silicone", "leather", "metal"]},
    ),
    "Office Chair": (
        220,
        {"material": ["mesh", "leather", "fabric"], "color": ["black", "grey", "blue"]},
    ),
    "Sunglasses": (
        80,
        {"frame color": ["black", "brown", "silver"], "lens": ["polarized", "non-polarized"]},
    ),
}

FIRST_NAMES = [
    "Aarav",
    "Amelia",
    "Chen",
    "Daiki",
    "Elena",
    "Fatima",
    "Gabriel",
    "Hana",
    "Ivan",
    "Jamal",
    "Kofi",
    "Lucia",
    "Mateo",
    "Mei",
    "Noah",
    "Olivia",
    "Priya",
    "Rafael",
    "Sofia",
    "Tariq",
    "Uma",
    "Victor",
    "Wei",
    "Yara",
    "Zoe",
    "Liam",
    "Ava",
    "Omar",
    "Nina",
    "Arjun",
]
LAST_NAMES = [
    "Ahmed",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jones",
    "Kim",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Thomas",
    "Wang",
]
STREETS = [
    "Maple Drive",
    "Oak Street",
    "Cedar Lane",
    "Elm Avenue",
    "Pine Road",
    "Lake View",
    "Hill Street",
    "River Road",
    "Park Avenue",
    "Sunset Boulevard",
    "Willow Way",
]
#: (city, state, first three digits of its zip codes)
CITIES = [
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Seattle", "WA", "981"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Phoenix", "AZ", "850"),
    ("Columbus", "OH", "432"),
    ("Portland", "OR", "972"),
    ("Atlanta", "GA", "303"),
    ("San Diego", "CA", "921"),
]
CARD_BRANDS = ["visa", "mastercard", "amex"]
#: Order status -> weight when drawing an order's status.
STATUS_WEIGHTS = {"pending": 4, "processed": 2, "delivered": 5, "cancelled": 1}
MAX_VARIANTS_PER_PRODUCT = 12


@dataclass(frozen=True)
class WorldSpec:
    """Everything the world depends on (part of the cache key)."""

    seed: int = 0
    num_users: int = 300

    def __post_init__(self):
        if not isinstance(self.num_users, int) or self.num_users < 10:
            raise ConfigError(
                "num_users",
                self.num_users,
                "the world needs at least 10 users; pass an integer >= 10.",
            )


class _Ids:
    """Draws unique identifiers of a given shape from the world's generator."""

    def __init__(self, rng: random.Random):
        self.rng, self.used = rng, set()

    def digits(self, prefix: str, n: int) -> str:
        while True:
            candidate = prefix + "".join(self.rng.choice("0123456789") for _ in range(n))
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate


def generate_world(spec: WorldSpec) -> dict[str, Any]:
    """The world of `spec` as JSON-ready tables (lists of row dicts)."""
    rng = random.Random(f"customer_service-world-{spec.seed}")
    ids = _Ids(rng)
    products, variants = _products(rng, ids)
    users, payment_methods = [], []
    orders, order_items, payments = [], [], []
    name_zips: set[tuple[str, str, str]] = set()
    while len(users) < spec.num_users:
        user = _user(rng, ids)
        key = (user["first_name"], user["last_name"], user["zip"])
        if key in name_zips or any(u["email"] == user["email"] for u in users):
            continue  # name + zip and email must each identify one user
        name_zips.add(key)
        users.append(user)
        methods = _payment_methods(rng, ids, user["user_id"])
        payment_methods.extend(methods)
        for _ in range(rng.randint(1, 4)):
            order, items, paid = _order(rng, ids, user, methods, variants)
            orders.append(order)
            order_items.extend(items)
            payments.extend(paid)
    return {
        "users": users,
        "payment_methods": payment_methods,
        "products": products,
        "variants": variants,
        "orders": orders,
        "order_items": order_items,
        "payments": payments,
        "order_requests": [],
    }


def _products(rng: random.Random, ids: _Ids) -> tuple[list[dict], list[dict]]:
    products, variants = [], []
    for name, (base_price, options) in CATALOG.items():
        product_id = ids.digits("", 10)
        products.append({"product_id": product_id, "name": name})
        combos = list(itertools.product(*options.values()))
        rng.shuffle(combos)
        for combo in sorted(combos[:MAX_VARIANTS_PER_PRODUCT]):
            variants.append(
                {
                    "item_id": ids.digits("", 10),
                    "product_id": product_id,
                    "options": dict(zip(options, combo)),
                    "price": int(base_price * 100 * rng.uniform(0.8, 1.3)),
                    "available": int(rng.random() < 0.75),
                }
            )
    return products, variants


def _user(rng: random.Random, ids: _Ids) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, zip_prefix = rng.choice(CITIES)
    return {
        "user_id": ids.digits(f"{first}_{last}_".lower(), 4),
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}{rng.randint(10, 99)}@example.com".lower(),
        **_address(rng, city, state, zip_prefix),
    }


def _address(rng: random.Random, city: str, state: str, zip_prefix: str) -> dict[str, str]:
    return {
        "address1": f"{rng.randint(10, 999)} {rng.choice(STREETS)}",
        "address2": f"Suite {rng.randint(100, 999)}" if rng.random() < 0.4 else "",
        "city": city,
        "state": state,
        "country": "USA",
        "zip": zip_prefix + f"{rng.randint(0, 99):02d}",
    }


def random_address(rng: random.Random) -> dict[str, str]:
    """A fresh address in one of the known cities (used for address-change requests)."""
    city, state, zip_prefix = rng.choice(CITIES)
    return _address(rng, city, state, zip_prefix)


def _payment_methods(rng: random.Random, ids: _Ids, user_id: str) -> list[dict[str, Any]]:
    sources = rng.sample(["credit_card", "paypal", "gift_card"], rng.randint(1, 3))
    methods = []
    for source in sorted(sources):
        method = {
            "payment_method_id": ids.digits(f"{source}_", 7),
            "user_id": user_id,
            "source": source,
            "brand": "",
            "last_four": "",
            "balance": None,
        }
        if source == "credit_card":
            method.update(brand=rng.choice(CARD_BRANDS), last_four=f"{rng.randint(0, 9999):04d}")
        elif source == "gift_card":
            method["balance"] = rng.randint(0, 300) * 100
        methods.append(method)
    return methods


def _order(rng, ids, user, methods, variants) -> tuple[dict, list[dict], list[dict]]:
    order_id = ids.digits("#W", 7)
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    chosen = rng.sample(variants, rng.randint(1, 4))
    items = [
        {
            "order_id": order_id,
            "position": i,
            "item_id": v["item_id"],
            "product_id": v["product_id"],
            "options": v["options"],
            "price": v["price"],
        }
        for i, v in enumerate(chosen)
    ]
    method = rng.choice(methods)
    total = sum(item["price"] for item in items)
    paid = [
        {
            "order_id": order_id,
            "seq": 0,
            "kind": "payment",
            "amount": total,
            "payment_method_id": method["payment_method_id"],
        }
    ]
    if status == "cancelled":
        paid.append({**paid[0], "seq": 1, "kind": "refund"})
    address = {
        key: user[key] for key in ("address1", "address2", "city", "state", "country", "zip")
    }
    order = {
        "order_id": order_id,
        "user_id": user["user_id"],
        "status": status,
        **address,
        "cancel_reason": "no longer needed" if status == "cancelled" else "",
    }
    return order, items, paid
