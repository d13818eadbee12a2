"""The tool registry: every tool the agent can call, with its typed parameters.

`TOOLS` maps a tool name to its `Tool`; the environment binds parsed call
arguments to `Tool.params`, checks their types and runs `Tool.run(db, **kwargs)`.
`respond(message)` is not a tool over the database: the environment handles it
by passing the message to the user simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from earlyexp.envs.customer_service.reads import (
    ADDRESS_FIELDS,
    calculate,
    find_user_id_by_email,
    find_user_id_by_name_zip,
    get_order_details,
    get_product_details,
    get_user_details,
    list_all_product_types,
)
from earlyexp.envs.customer_service.writes import (
    cancel_pending_order,
    exchange_delivered_order_items,
    modify_pending_order_address,
    modify_pending_order_items,
    modify_pending_order_payment,
    modify_user_address,
    return_delivered_order_items,
    transfer_to_human_agents,
)


@dataclass(frozen=True)
class Tool:
    """One callable tool: its name, typed parameters, description and implementation."""

    name: str
    params: tuple[tuple[str, type], ...]
    description: str
    run: Callable[..., str]
    writes: bool = False

    def signature(self) -> str:
        types = {str: "str", list: "list[str]"}
        return f"{self.name}({', '.join(f'{p}: {types[t]}' for p, t in self.params)})"


S, L = str, list
TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "find_user_id_by_email",
            (("email", S),),
            "Find a user id by email.",
            find_user_id_by_email,
        ),
        Tool(
            "find_user_id_by_name_zip",
            (("first_name", S), ("last_name", S), ("zip", S)),
            "Find a user id by first name, last name and zip code.",
            find_user_id_by_name_zip,
        ),
        Tool(
            "get_user_details",
            (("user_id", S),),
            "A user's name, email, default address, payment methods and order ids.",
            get_user_details,
        ),
        Tool(
            "get_order_details",
            (("order_id", S),),
            "An order's status, address, items (with item and product ids) and payments.",
            get_order_details,
        ),
        Tool(
            "get_product_details",
            (("product_id", S),),
            "A product's variants: item id, options, availability and price.",
            get_product_details,
        ),
        Tool(
            "list_all_product_types",
            (),
            "Every product name with its product id.",
            list_all_product_types,
        ),
        Tool(
            "calculate", (("expression", S),), "Arithmetic with + - * / and parentheses.", calculate
        ),
        Tool(
            "cancel_pending_order",
            (("order_id", S), ("reason", S)),
            "Cancel a pending order; reason is 'no longer needed' or 'ordered by mistake'. "
            "Payments are refunded to their methods.",
            cancel_pending_order,
            writes=True,
        ),
        Tool(
            "modify_pending_order_address",
            (("order_id", S),) + tuple((f, S) for f in ADDRESS_FIELDS),
            "Change the shipping address of a pending order.",
            modify_pending_order_address,
            True,
        ),
        Tool(
            "modify_pending_order_items",
            (("order_id", S), ("item_ids", L), ("new_item_ids", L), ("payment_method_id", S)),
            "Swap items of a pending order for other available variants of the same products "
            "(once per order); the price difference is charged or refunded to payment_method_id.",
            modify_pending_order_items,
            True,
        ),
        Tool(
            "modify_pending_order_payment",
            (("order_id", S), ("payment_method_id", S)),
            "Pay a pending order with another payment method of its user.",
            modify_pending_order_payment,
            True,
        ),
        Tool(
            "modify_user_address",
            (("user_id", S),) + tuple((f, S) for f in ADDRESS_FIELDS),
            "Change a user's default address.",
            modify_user_address,
            True,
        ),
        Tool(
            "return_delivered_order_items",
            (("order_id", S), ("item_ids", L), ("payment_method_id", S)),
            "Request a return of items of a delivered order; the refund goes to the original "
            "payment method or a gift card of the user.",
            return_delivered_order_items,
            True,
        ),
        Tool(
            "exchange_delivered_order_items",
            (("order_id", S), ("item_ids", L), ("new_item_ids", L), ("payment_method_id", S)),
            "Request an exchange of items of a delivered order for available variants of the same "
            "products; the price difference is settled with payment_method_id.",
            exchange_delivered_order_items,
            True,
        ),
        Tool(
            "transfer_to_human_agents",
            (("summary", S),),
            "Hand the conversation to a human agent (ends the episode).",
            transfer_to_human_agents,
        ),
    )
}
