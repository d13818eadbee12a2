"""The write tools: cancel, modify, return and exchange orders; change a user's address.

Each checks what the data requires first and raises `ToolError` before
touching anything, so a refused call leaves the database unchanged; then it
writes inside one transaction and returns the order (or user) as the agent
now sees it. Gift-card balances move at once; cards and PayPal are settled
outside the shop, so only the payment history records them.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from earlyexp.envs.customer_service.reads import (
    ADDRESS_FIELDS,
    CANCEL_REASONS,
    ITEM_EDITABLE_STATUS,
    PENDING_STATUSES,
    ToolError,
    get_order_details,
    get_user_details,
    order_details,
)


def cancel_pending_order(db: sqlite3.Connection, order_id: str, reason: str) -> str:
    order = _order(db, order_id, (ITEM_EDITABLE_STATUS,), "be cancelled")
    if reason not in CANCEL_REASONS:
        raise ToolError(f"reason must be one of {list(CANCEL_REASONS)}, got {reason!r}.")
    with db:
        for method_id, net in sorted(_net_paid(db, order_id).items()):
            if net > 0:
                _record_payment(db, order_id, "refund", net, method_id)
        db.execute(
            "UPDATE orders SET status = 'cancelled', cancel_reason = ? WHERE order_id = ?",
            (reason, order["order_id"]),
        )
    return get_order_details(db, order_id)


def modify_pending_order_address(
    db: sqlite3.Connection,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> str:
    _order(db, order_id, PENDING_STATUSES, "be modified")
    values = (address1, address2, city, state, country, zip)
    with db:
        db.execute(
            f"UPDATE orders SET {', '.join(f'{f} = ?' for f in ADDRESS_FIELDS)} WHERE order_id = ?",
            (*values, order_id),
        )
    return get_order_details(db, order_id)


def modify_user_address(
    db: sqlite3.Connection,
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> str:
    get_user_details(db, user_id)  # raises for an unknown user
    values = (address1, address2, city, state, country, zip)
    with db:
        db.execute(
            f"UPDATE users SET {', '.join(f'{f} = ?' for f in ADDRESS_FIELDS)} WHERE user_id = ?",
            (*values, user_id),
        )
    return get_user_details(db, user_id)


def modify_pending_order_items(
    db: sqlite3.Connection,
    order_id: str,
    item_ids: list,
    new_item_ids: list,
    payment_method_id: str,
) -> str:
    order = _order(db, order_id, (ITEM_EDITABLE_STATUS,), "have its items modified")
    positions, difference = _swap_plan(db, order_id, item_ids, new_item_ids)
    _check_method(db, order["user_id"], payment_method_id, charge=difference)
    with db:
        for position, new_id in zip(positions, new_item_ids):
            price, options = db.execute(
                "SELECT price, options FROM variants WHERE item_id = ?", (new_id,)
            ).fetchone()
            db.execute(
                "UPDATE order_items SET item_id = ?, price = ?, options = ? "
                "WHERE order_id = ? AND position = ?",
                (new_id, price, options, order_id, position),
            )
        if difference:
            kind = "payment" if difference > 0 else "refund"
            _record_payment(db, order_id, kind, abs(difference), payment_method_id)
        db.execute(
            "UPDATE orders SET status = 'pending (item modified)' WHERE order_id = ?", (order_id,)
        )
    return get_order_details(db, order_id)


def modify_pending_order_payment(
    db: sqlite3.Connection, order_id: str, payment_method_id: str
) -> str:
    order = _order(db, order_id, PENDING_STATUSES, "have its payment method changed")
    paid = _net_paid(db, order_id)
    if len(paid) != 1:
        raise ToolError(
            f"order {order_id} was paid with {len(paid)} payment methods; only an "
            "order paid with exactly one can change it."
        )
    ((old_method, amount),) = paid.items()
    if payment_method_id == old_method:
        raise ToolError(f"order {order_id} is already paid with {old_method}; pick another method.")
    _check_method(db, order["user_id"], payment_method_id, charge=amount)
    with db:
        _record_payment(db, order_id, "payment", amount, payment_method_id)
        _record_payment(db, order_id, "refund", amount, old_method)
    return get_order_details(db, order_id)


def return_delivered_order_items(
    db: sqlite3.Connection, order_id: str, item_ids: list, payment_method_id: str
) -> str:
    order = _order(db, order_id, ("delivered",), "be returned")
    positions = _positions(db, order_id, item_ids)
    original = _original_method(db, order_id)
    if payment_method_id != original and not payment_method_id.startswith("gift_card_"):
        raise ToolError(
            f"a refund goes to the original payment method ({original}) or a gift "
            f"card of the user, not {payment_method_id!r}."
        )
    _check_method(db, order["user_id"], payment_method_id, charge=0)
    refund = sum(
        db.execute(
            "SELECT price FROM order_items WHERE order_id = ? AND position = ?", (order_id, p)
        ).fetchone()[0]
        for p in positions
    )
    with db:
        _record_request(db, order_id, "return", item_ids, [], payment_method_id, -refund)
    return get_order_details(db, order_id)


def exchange_delivered_order_items(
    db: sqlite3.Connection,
    order_id: str,
    item_ids: list,
    new_item_ids: list,
    payment_method_id: str,
) -> str:
    order = _order(db, order_id, ("delivered",), "be exchanged")
    _, difference = _swap_plan(db, order_id, item_ids, new_item_ids)
    _check_method(db, order["user_id"], payment_method_id, charge=difference)
    with db:
        _record_request(
            db, order_id, "exchange", item_ids, new_item_ids, payment_method_id, difference
        )
    return get_order_details(db, order_id)


def transfer_to_human_agents(db: sqlite3.Connection, summary: str) -> str:
    return "Transfer successful. A human agent will take over the conversation."


# --- shared checks ---------------------------------------------------------------
def _order(
    db: sqlite3.Connection, order_id: str, statuses: tuple[str, ...], verb: str
) -> dict[str, Any]:
    order = order_details(db, order_id)  # raises for an unknown order
    if order["status"] not in statuses:
        raise ToolError(
            f"order {order_id} is {order['status']!r}; only an order that is "
            f"{' or '.join(repr(s) for s in statuses)} can {verb}."
        )
    return order


def _positions(db: sqlite3.Connection, order_id: str, item_ids: list) -> list[int]:
    """The order positions that `item_ids` name, each position used once."""
    if not item_ids:
        raise ToolError("item_ids is empty; name at least one item id of the order.")
    free = [
        (p, i)
        for p, i in db.execute(
            "SELECT position, item_id FROM order_items WHERE order_id = ? ORDER BY position",
            (order_id,),
        )
    ]
    positions = []
    for item_id in item_ids:
        match = next((entry for entry in free if entry[1] == item_id), None)
        if match is None:
            raise ToolError(
                f"item {item_id!r} is not (or not that many times) in order {order_id}."
            )
        free.remove(match)
        positions.append(match[0])
    return positions


def _swap_plan(
    db: sqlite3.Connection, order_id: str, item_ids: list, new_item_ids: list
) -> tuple[list[int], int]:
    """Positions to change and the price difference in cents (new minus old)."""
    if len(item_ids) != len(new_item_ids):
        raise ToolError(
            f"item_ids has {len(item_ids)} entries but new_item_ids has "
            f"{len(new_item_ids)}; give one new item per item."
        )
    positions = _positions(db, order_id, item_ids)
    difference = 0
    for old_id, new_id in zip(item_ids, new_item_ids):
        old = db.execute(
            "SELECT product_id, price FROM variants WHERE item_id = ?", (old_id,)
        ).fetchone()
        new = db.execute(
            "SELECT product_id, price, available FROM variants WHERE item_id = ?", (new_id,)
        ).fetchone()
        if new is None or new[0] != old[0]:
            raise ToolError(
                f"new item {new_id!r} is not a variant of the same product as {old_id}."
            )
        if new_id == old_id:
            raise ToolError(f"new item {new_id} is the same variant as the old one.")
        if not new[2]:
            raise ToolError(f"new item {new_id} is not available.")
        difference += new[1] - old[1]
    return positions, difference


def _check_method(db: sqlite3.Connection, user_id: str, method_id: str, charge: int) -> None:
    row = db.execute(
        "SELECT source, balance FROM payment_methods WHERE payment_method_id = ? AND user_id = ?",
        (method_id, user_id),
    ).fetchone()
    if row is None:
        raise ToolError(f"payment method {method_id!r} is not one of user {user_id}'s methods.")
    if row[0] == "gift_card" and charge > row[1]:
        raise ToolError(
            f"gift card {method_id} has ${row[1] / 100:.2f}, less than the "
            f"${charge / 100:.2f} to pay."
        )


def _net_paid(db: sqlite3.Connection, order_id: str) -> dict[str, int]:
    net: dict[str, int] = {}
    for kind, amount, method in db.execute(
        "SELECT kind, amount, payment_method_id FROM payments WHERE order_id = ? ORDER BY seq",
        (order_id,),
    ):
        net[method] = net.get(method, 0) + (amount if kind == "payment" else -amount)
    return {method: value for method, value in net.items() if value > 0}


def _original_method(db: sqlite3.Connection, order_id: str) -> str:
    return db.execute(
        "SELECT payment_method_id FROM payments WHERE order_id = ? AND "
        "kind = 'payment' ORDER BY seq LIMIT 1",
        (order_id,),
    ).fetchone()[0]


def _record_payment(
    db: sqlite3.Connection, order_id: str, kind: str, amount: int, method_id: str
) -> None:
    seq = db.execute(
        "SELECT COALESCE(MAX(seq) + 1, 0) FROM payments WHERE order_id = ?", (order_id,)
    ).fetchone()[0]
    db.execute(
        "INSERT INTO payments VALUES (?, ?, ?, ?, ?)", (order_id, seq, kind, amount, method_id)
    )
    # Gift cards are the shop's own money: their balance moves with the transaction.
    sign = -1 if kind == "payment" else 1
    db.execute(
        "UPDATE payment_methods SET balance = balance + ? WHERE payment_method_id = ? "
        "AND source = 'gift_card'",
        (sign * amount, method_id),
    )


def _record_request(
    db: sqlite3.Connection,
    order_id: str,
    kind: str,
    item_ids: list,
    new_item_ids: list,
    method_id: str,
    difference: int,
) -> None:
    db.execute(
        "INSERT INTO order_requests VALUES (?, ?, ?, ?, ?, ?)",
        (order_id, kind, json.dumps(item_ids), json.dumps(new_item_ids), method_id, difference),
    )
    db.execute("UPDATE orders SET status = ? WHERE order_id = ?", (f"{kind} requested", order_id))
