"""Request templates: what a customer wants, how they say it, and the gold actions that serve it.

A template is a function `(rng, shop, user) -> Request | None` (None when the
user has nothing it applies to, e.g. no pending order to cancel). A request
holds the user's opening line, the *slots* the user reveals when asked (order
id, items, desired options, payment method, new address, reason), the gold
tool calls in order (lookups and at most one write) and the strings the
agent must say. The gold calls are what the expert follows and what the
reward replays on a fresh database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from earlyexp.envs.customer_service.reads import CANCEL_REASONS, dollars
from earlyexp.envs.customer_service.world import random_address

REASON_WORDS = {
    "no longer needed": "I no longer need it.",
    "ordered by mistake": "I ordered it by mistake.",
}


@dataclass
class Request:
    """One thing the user wants done in the conversation."""

    kind: str
    opening: str
    slots: dict[str, str]
    gold: list[dict[str, Any]]  # [{"name": tool, "kwargs": {...}}]
    outputs: list[str] = field(default_factory=list)
    refusal: str = ""  # for refuse-by-policy: why the agent must say no
    subject: str = ""  # order id or user id the request is about

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Shop:
    """Indexes over a generated world that the templates query."""

    def __init__(self, world: dict[str, list[dict[str, Any]]]):
        self.users = {u["user_id"]: u for u in world["users"]}
        self.product_names = {p["product_id"]: p["name"] for p in world["products"]}
        self.variants = {v["item_id"]: v for v in world["variants"]}
        self.by_product: dict[str, list[dict]] = {}
        for v in world["variants"]:
            self.by_product.setdefault(v["product_id"], []).append(v)
        self.orders: dict[str, list[dict]] = {}
        for o in world["orders"]:
            self.orders.setdefault(o["user_id"], []).append(o)
        self.items: dict[str, list[dict]] = {}
        for i in world["order_items"]:
            self.items.setdefault(i["order_id"], []).append(i)
        self.methods: dict[str, list[dict]] = {}
        for m in world["payment_methods"]:
            self.methods.setdefault(m["user_id"], []).append(m)
        self.paid_with = {
            p["order_id"]: p["payment_method_id"] for p in world["payments"] if p["seq"] == 0
        }
        self.all_orders = {o["order_id"]: o for o in world["orders"]}

    def orders_with(self, user_id: str, *statuses: str) -> list[dict]:
        return [o for o in self.orders.get(user_id, []) if o["status"] in statuses]

    def item_phrase(self, item: dict) -> str:
        return f"the {self.product_names[item['product_id']]} ({options_phrase(item['options'])})"

    def alternatives(self, item: dict) -> list[dict]:
        """Available variants of the item's product other than the item itself."""
        return [
            v
            for v in self.by_product[item["product_id"]]
            if v["available"] and v["item_id"] != item["item_id"]
        ]


def options_phrase(options: dict[str, str]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in options.items())


def method_phrase(method: dict) -> str:
    if method["source"] == "credit_card":
        return f"my {method['brand']} credit card ending in {method['last_four']}"
    return "my PayPal account" if method["source"] == "paypal" else "my gift card"


def call(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"name": name, "kwargs": kwargs}


def _lookups(user: dict, order_id: str | None = None, product_ids: tuple[str, ...] = ()) -> list:
    gold = [call("get_user_details", user_id=user["user_id"])]
    if order_id:
        gold.append(call("get_order_details", order_id=order_id))
    gold += [call("get_product_details", product_id=p) for p in dict.fromkeys(product_ids)]
    return gold


def _pick_items(rng: random.Random, shop: Shop, order: dict, swappable: bool) -> list[dict]:
    items = shop.items[order["order_id"]]
    if swappable:
        items = [i for i in items if shop.alternatives(i)]
    if not items:
        return []
    return rng.sample(items, rng.randint(1, min(2, len(items))))


def _affordable(shop: Shop, user_id: str, charge: int) -> list[dict]:
    return [
        m for m in shop.methods[user_id] if m["source"] != "gift_card" or m["balance"] >= charge
    ]


# --- the templates -------------------------------------------------------------------
def cancel(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    orders = shop.orders_with(user["user_id"], "pending")
    if not orders:
        return None
    order = rng.choice(orders)
    reason = rng.choice(CANCEL_REASONS)
    return Request(
        "cancel",
        "Hi! I'd like to cancel one of my orders.",
        {"order": f"The order id is {order['order_id']}.", "reason": REASON_WORDS[reason]},
        _lookups(user, order["order_id"])
        + [call("cancel_pending_order", order_id=order["order_id"], reason=reason)],
        subject=order["order_id"],
    )


def _swap(kind: str, statuses: tuple[str, ...], write: str, rng, shop, user) -> Request | None:
    orders = [
        o
        for o in shop.orders_with(user["user_id"], *statuses)
        if any(shop.alternatives(i) for i in shop.items[o["order_id"]])
    ]
    if not orders:
        return None
    order = rng.choice(orders)
    items = _pick_items(rng, shop, order, swappable=True)
    new = [rng.choice(shop.alternatives(i)) for i in items]
    difference = sum(n["price"] for n in new) - sum(i["price"] for i in items)
    methods = _affordable(shop, user["user_id"], difference)
    if not methods:  # only gift cards, none covering the difference: redraw another user
        return None
    method = rng.choice(methods)
    wanted = "; ".join(
        f"{shop.product_names[n['product_id']]} with {options_phrase(n['options'])}" for n in new
    )
    verb = "change" if kind == "modify_items" else "exchange"
    return Request(
        kind,
        f"Hello, I want to {verb} some items in an order I placed.",
        {
            "order": f"It's order {order['order_id']}.",
            "items": "The items are " + " and ".join(shop.item_phrase(i) for i in items) + ".",
            "options": f"I'd like instead: {wanted}.",
            "payment": f"Please use {method_phrase(method)} for any price difference.",
        },
        _lookups(user, order["order_id"], tuple(i["product_id"] for i in items))
        + [
            call(
                write,
                order_id=order["order_id"],
                item_ids=[i["item_id"] for i in items],
                new_item_ids=[n["item_id"] for n in new],
                payment_method_id=method["payment_method_id"],
            )
        ],
        subject=order["order_id"],
    )


def modify_items(rng, shop, user):
    return _swap("modify_items", ("pending",), "modify_pending_order_items", rng, shop, user)


def exchange(rng, shop, user):
    return _swap("exchange", ("delivered",), "exchange_delivered_order_items", rng, shop, user)


def return_items(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    orders = shop.orders_with(user["user_id"], "delivered")
    if not orders:
        return None
    order = rng.choice(orders)
    items = _pick_items(rng, shop, order, swappable=False)
    original = shop.paid_with[order["order_id"]]
    choices = [
        m
        for m in shop.methods[user["user_id"]]
        if m["payment_method_id"] == original or m["source"] == "gift_card"
    ]
    method = rng.choice(choices)
    where = (
        "the original payment method"
        if method["payment_method_id"] == original
        else method_phrase(method)
    )
    return Request(
        "return",
        "Hi, I need to return some things I received.",
        {
            "order": f"The order is {order['order_id']}.",
            "items": "I want to return " + " and ".join(shop.item_phrase(i) for i in items) + ".",
            "payment": f"Please refund it to {where}.",
        },
        _lookups(user, order["order_id"])
        + [
            call(
                "return_delivered_order_items",
                order_id=order["order_id"],
                item_ids=[i["item_id"] for i in items],
                payment_method_id=method["payment_method_id"],
            )
        ],
        subject=order["order_id"],
    )


def modify_payment(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    orders = [
        o
        for o in shop.orders_with(user["user_id"], "pending")
        if len(shop.methods[user["user_id"]]) > 1
    ]
    if not orders:
        return None
    order = rng.choice(orders)
    total = sum(i["price"] for i in shop.items[order["order_id"]])
    others = [
        m
        for m in _affordable(shop, user["user_id"], total)
        if m["payment_method_id"] != shop.paid_with[order["order_id"]]
    ]
    if not others:
        return None
    method = rng.choice(others)
    return Request(
        "modify_payment",
        "Hi, can I change how I pay for an order that hasn't shipped yet?",
        {
            "order": f"It's order {order['order_id']}.",
            "payment": f"I'd like to pay with {method_phrase(method)} instead.",
        },
        _lookups(user, order["order_id"])
        + [
            call(
                "modify_pending_order_payment",
                order_id=order["order_id"],
                payment_method_id=method["payment_method_id"],
            )
        ],
        subject=order["order_id"],
    )


def address_change(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    address = random_address(rng)
    spoken = ", ".join(v for v in address.values() if v)
    return Request(
        "address_change",
        "Hi, I moved recently and need to update my default address.",
        {"address": f"My new address is {spoken}."},
        _lookups(user) + [call("modify_user_address", user_id=user["user_id"], **address)],
        subject=user["user_id"],
    )


def info_lookup(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    order = rng.choice(shop.orders[user["user_id"]])
    total = sum(i["price"] for i in shop.items[order["order_id"]])
    return Request(
        "info_lookup",
        "Hi, could you tell me the status and the total amount of one of my orders?",
        {"order": f"The order id is {order['order_id']}."},
        _lookups(user, order["order_id"]),
        # The total as the tools show it (120.5), so "$120.50" and "$120.5" both say it.
        outputs=[order["status"], str(dollars(total))],
        subject=order["order_id"],
    )


def refuse(rng: random.Random, shop: Shop, user: dict) -> Request | None:
    """A request the policy forbids: the gold is to look, explain and write nothing."""
    variants = []
    for order in shop.orders_with(user["user_id"], "processed", "delivered"):
        why = (f"order {order['order_id']} is {order['status']}, "
               "and only pending orders can be cancelled")
        variants.append(("cancel", order, why))
    for order in shop.orders_with(user["user_id"], "pending", "processed"):
        why = (f"order {order['order_id']} is {order['status']}, "
               "and only delivered orders can be returned")
        variants.append(("return", order, why))
    others = [
        o
        for o in shop.all_orders.values()
        if o["status"] == "pending" and o["user_id"] != user["user_id"]
    ]
    if others:  # a policy-only refusal: the tools would happily cancel it
        order = rng.choice(others)
        why = (
            f"order {order['order_id']} belongs to another account, and I can only act on "
            "your own orders"
        )
        variants.append(("cancel_other", order, why))
    wish, order, refusal = rng.choice(variants)
    opening = {
        "cancel": "Hi! I'd like to cancel one of my orders.",
        "cancel_other": "Hi! I'd like to cancel an order my partner placed for us.",
        "return": "Hi, I need to return some things from an order.",
    }[wish]
    slots = {"order": f"The order id is {order['order_id']}."}
    if wish != "return":
        slots["reason"] = REASON_WORDS[rng.choice(CANCEL_REASONS)]
    else:
        slots["items"] = "All of the items in it."
    return Request(
        "refuse",
        opening,
        slots,
        _lookups(user, order["order_id"]),
        refusal=refusal,
        subject=order["order_id"],
    )


TEMPLATES: dict[str, Callable[[random.Random, Shop, dict], Request | None]] = {
    "cancel": cancel,
    "modify_items": modify_items,
    "modify_payment": modify_payment,
    "return": return_items,
    "exchange": exchange,
    "address_change": address_change,
    "info_lookup": info_lookup,
    "refuse": refuse,
}
