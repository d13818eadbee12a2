"""The read-only tools (lookups) and the helpers the write tools share.

Each tool is a function `(db, **arguments) -> str`; `tools.py` registers them
with their parameters and descriptions. A tool refuses what the data forbids
(a non-pending order cannot be cancelled, a new item must be an available
variant of the same product, a gift card cannot go negative) by raising
`ToolError`, whose message becomes the observation. What only the *policy*
forbids (acting before the user's identity is verified, on another user's
order, or without explicit confirmation) is not blocked by the tools, exactly
as in τ-bench: it is the agent's job, and the reward catches the damage.

Money is stored in cents and shown in dollars with two decimals.
"""

from __future__ import annotations

import ast
import json
import operator
import sqlite3
from typing import Any

ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")
CANCEL_REASONS = ("no longer needed", "ordered by mistake")
ITEM_EDITABLE_STATUS = "pending"
PENDING_STATUSES = ("pending", "pending (item modified)")


class ToolError(Exception):
    """Raised when a tool call is impossible in the current database state."""


def dollars(cents: int) -> float:
    return round(cents / 100, 2)


def to_json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


# --- reads ---------------------------------------------------------------------
def find_user_id_by_email(db: sqlite3.Connection, email: str) -> str:
    row = db.execute(
        "SELECT user_id FROM users WHERE email = ?", (email.strip().lower(),)
    ).fetchone()
    if row is None:
        raise ToolError(f"no user has the email {email!r}.")
    return row[0]


def find_user_id_by_name_zip(
    db: sqlite3.Connection, first_name: str, last_name: str, zip: str
) -> str:
    row = db.execute(
        "SELECT user_id FROM users "
        "WHERE lower(first_name) = ? AND lower(last_name) = ? AND zip = ?",
        (first_name.strip().lower(), last_name.strip().lower(), zip.strip()),
    ).fetchone()
    if row is None:
        raise ToolError(f"no user named {first_name} {last_name} lives in zip code {zip!r}.")
    return row[0]


def _user_row(db: sqlite3.Connection, user_id: str) -> dict[str, Any]:
    row = query_rows(db, "SELECT * FROM users WHERE user_id = ?", user_id)
    if not row:
        raise ToolError(f"user {user_id!r} not found.")
    return row[0]


def get_user_details(db: sqlite3.Connection, user_id: str) -> str:
    user = _user_row(db, user_id)
    methods = {}
    for m in query_rows(
        db, "SELECT * FROM payment_methods WHERE user_id = ? ORDER BY payment_method_id", user_id
    ):
        method = {"source": m["source"]}
        if m["source"] == "credit_card":
            method.update(brand=m["brand"], last_four=m["last_four"])
        if m["source"] == "gift_card":
            method["balance"] = dollars(m["balance"])
        methods[m["payment_method_id"]] = method
    orders = [
        r["order_id"]
        for r in query_rows(
            db, "SELECT order_id FROM orders WHERE user_id = ? ORDER BY order_id", user_id
        )
    ]
    return to_json(
        {
            "user_id": user_id,
            "name": {"first_name": user["first_name"], "last_name": user["last_name"]},
            "email": user["email"],
            "address": {k: user[k] for k in ADDRESS_FIELDS},
            "payment_methods": methods,
            "orders": orders,
        }
    )


def order_details(db: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    """The order as the agent sees it (a dict), or ToolError when it does not exist."""
    found = query_rows(db, "SELECT * FROM orders WHERE order_id = ?", order_id)
    if not found:
        raise ToolError(f"order {order_id!r} not found (order ids look like '#W1234567').")
    order = found[0]
    items = [
        {
            "name": r["name"],
            "product_id": r["product_id"],
            "item_id": r["item_id"],
            "options": json.loads(r["options"]),
            "price": dollars(r["price"]),
        }
        for r in query_rows(
            db,
            "SELECT i.*, p.name FROM order_items i JOIN products p "
            "USING (product_id) WHERE order_id = ? ORDER BY position",
            order_id,
        )
    ]
    history = [
        {
            "transaction_type": r["kind"],
            "amount": dollars(r["amount"]),
            "payment_method_id": r["payment_method_id"],
        }
        for r in query_rows(db, "SELECT * FROM payments WHERE order_id = ? ORDER BY seq", order_id)
    ]
    details = {
        "order_id": order_id,
        "user_id": order["user_id"],
        "status": order["status"],
        "address": {k: order[k] for k in ADDRESS_FIELDS},
        "items": items,
        "total": dollars(
            sum(
                r["price"]
                for r in query_rows(
                    db, "SELECT price FROM order_items WHERE order_id = ?", order_id
                )
            )
        ),
        "payment_history": history,
    }
    if order["cancel_reason"]:
        details["cancel_reason"] = order["cancel_reason"]
    for r in query_rows(db, "SELECT * FROM order_requests WHERE order_id = ?", order_id):
        details[f"{r['kind']}_items"] = json.loads(r["item_ids"])
        if r["kind"] == "exchange":
            details["exchange_new_items"] = json.loads(r["new_item_ids"])
        details[f"{r['kind']}_payment_method_id"] = r["payment_method_id"]
    return details


def get_order_details(db: sqlite3.Connection, order_id: str) -> str:
    return to_json(order_details(db, order_id))


def get_product_details(db: sqlite3.Connection, product_id: str) -> str:
    product = query_rows(db, "SELECT * FROM products WHERE product_id = ?", product_id)
    if not product:
        raise ToolError(
            f"product {product_id!r} not found (product ids have 10 digits; "
            "list_all_product_types() lists them)."
        )
    variants = {
        r["item_id"]: {
            "options": json.loads(r["options"]),
            "available": bool(r["available"]),
            "price": dollars(r["price"]),
        }
        for r in query_rows(
            db, "SELECT * FROM variants WHERE product_id = ? ORDER BY item_id", product_id
        )
    }
    return to_json({"name": product[0]["name"], "product_id": product_id, "variants": variants})


def list_all_product_types(db: sqlite3.Connection) -> str:
    return to_json(
        {r["name"]: r["product_id"] for r in query_rows(db, "SELECT * FROM products ORDER BY name")}
    )


_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(db: sqlite3.Connection, expression: str) -> str:
    """Evaluate + - * / and parentheses over numbers by walking the `ast`, nothing else."""
    if len(expression) > 200:
        raise ToolError("the expression is longer than 200 characters.")
    try:
        value = _arithmetic(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError) as error:
        raise ToolError(f"cannot calculate {expression!r}: {error}") from None
    return f"{round(value, 2)}"


def _arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_arithmetic(node.left), _arithmetic(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _ARITHMETIC:
        return _ARITHMETIC[type(node.op)](_arithmetic(node.operand))
    raise ValueError("only numbers, + - * / and parentheses are allowed")


def query_rows(db: sqlite3.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
    cursor = db.execute(query, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
