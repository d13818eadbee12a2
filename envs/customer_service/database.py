"""The shop's SQLite database: schema, loading a generated world, copies and state digests.

Every episode works on its own in-memory database. Copies use SQLite's online
backup API (`Connection.backup`), which copies the pages of one database into
another: it is how a fresh episode starts from the world, how the gold state
of a task is built, and how `snapshot()`/`restore()` save and bring back a
state.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE users (
    user_id TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE, address1 TEXT NOT NULL, address2 TEXT NOT NULL,
    city TEXT NOT NULL, state TEXT NOT NULL, country TEXT NOT NULL, zip TEXT NOT NULL);
CREATE INDEX users_name_zip ON users (first_name, last_name, zip);
CREATE TABLE payment_methods (
    payment_method_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users,
    source TEXT NOT NULL CHECK (source IN ('credit_card', 'paypal', 'gift_card')),
    brand TEXT NOT NULL, last_four TEXT NOT NULL, balance INTEGER);
CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE variants (
    item_id TEXT PRIMARY KEY, product_id TEXT NOT NULL REFERENCES products,
    options TEXT NOT NULL, price INTEGER NOT NULL, available INTEGER NOT NULL);
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users, status TEXT NOT NULL,
    address1 TEXT NOT NULL, address2 TEXT NOT NULL, city TEXT NOT NULL, state TEXT NOT NULL,
    country TEXT NOT NULL, zip TEXT NOT NULL, cancel_reason TEXT NOT NULL);
CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders, position INTEGER NOT NULL,
    item_id TEXT NOT NULL REFERENCES variants, product_id TEXT NOT NULL,
    options TEXT NOT NULL, price INTEGER NOT NULL, PRIMARY KEY (order_id, position));
CREATE TABLE payments (
    order_id TEXT NOT NULL REFERENCES orders, seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund')), amount INTEGER NOT NULL,
    payment_method_id TEXT NOT NULL, PRIMARY KEY (order_id, seq));
CREATE TABLE order_requests (
    order_id TEXT PRIMARY KEY REFERENCES orders, kind TEXT NOT NULL, item_ids TEXT NOT NULL,
    new_item_ids TEXT NOT NULL, payment_method_id TEXT NOT NULL, price_difference INTEGER NOT NULL);
"""

#: table -> ORDER BY clause that makes its dump canonical
TABLE_ORDER = {
    "users": "user_id",
    "payment_methods": "payment_method_id",
    "products": "product_id",
    "variants": "item_id",
    "orders": "order_id",
    "order_items": "order_id, position",
    "payments": "order_id, seq",
    "order_requests": "order_id",
}
JSON_COLUMNS = {"options"}


def load_world(world: dict[str, list[dict[str, Any]]]) -> sqlite3.Connection:
    """A new in-memory database holding `world` (as made by `world.generate_world`)."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(SCHEMA)
    for table in TABLE_ORDER:
        rows = world.get(table, [])
        if not rows:
            continue
        columns = list(rows[0])
        placeholders = ", ".join("?" for _ in columns)
        db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
            [[_column_value(c, row[c]) for c in columns] for row in rows],
        )
    db.commit()
    return db


def _column_value(column: str, value: Any) -> Any:
    # Options are stored as JSON with sorted keys so equal options compare equal as text.
    return json.dumps(value, sort_keys=True) if column in JSON_COLUMNS else value


def copy_database(
    source: sqlite3.Connection, target: sqlite3.Connection | None = None
) -> sqlite3.Connection:
    """Copy `source` into `target` (a new in-memory database when None) with the backup API."""
    target = target or sqlite3.connect(":memory:", check_same_thread=False)
    source.backup(target)
    return target


def state_digest(db: sqlite3.Connection) -> str:
    """A SHA-256 over every row of every table in a canonical order.

    Two databases have the same digest exactly when they hold the same rows,
    whatever order the writes happened in (τ-bench compares database hashes
    the same way).
    """
    digest = hashlib.sha256()
    for table, order in TABLE_ORDER.items():
        rows = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        digest.update(f"{table}:{rows!r}".encode())  # one repr per table: rows are plain tuples
    return digest.hexdigest()


def diff_tables(db: sqlite3.Connection, other: sqlite3.Connection) -> list[str]:
    """Names of the tables whose rows differ between two databases (for diagnostics)."""
    differing = []
    for table, order in TABLE_ORDER.items():
        query = f"SELECT * FROM {table} ORDER BY {order}"
        if db.execute(query).fetchall() != other.execute(query).fetchall():
            differing.append(table)
    return differing
