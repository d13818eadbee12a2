"""One tool call per action, parsed by the shared parser and bound to a tool's parameters.

An action is exactly one call in Python syntax with literal arguments:

    find_user_id_by_email(email="chen.wang42@example.com")
    respond("Could you give me your order id?")
    return_delivered_order_items("#W1234567", ["1008292230"], payment_method_id="paypal_7351243")

`earlyexp.envs.toolcalls.parse_call` reads it with `ast` (never `eval`);
`bind` then checks the tool's parameter names and types (`str`, or `list` of
`str`). Every failure raises `ToolCallError` with a reason fit to show the agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from earlyexp.envs.toolcalls import ToolCall, ToolCallError

RESPOND = "respond"
USAGE = (
    'Write exactly one call, e.g. respond(message="How can I help?") or '
    'get_order_details(order_id="#W1234567").'
)


@dataclass(frozen=True)
class Call:
    """A bound call: the tool name and its arguments by parameter name."""

    name: str
    kwargs: dict[str, Any]

    def source(self) -> str:
        """The call in canonical keyword form (what the expert writes and logs compare)."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.name}({args})"


def bind(parsed: ToolCall, params: tuple[tuple[str, type], ...]) -> Call:
    """Bind a parsed call to `params` ((name, type) pairs, all required) and check the types."""
    name, names = parsed.name, [p for p, _ in params]
    if len(parsed.args) > len(names):
        raise ToolCallError(
            f"{name} takes {len(names)} arguments ({', '.join(names) or 'none'}), "
            f"got {len(parsed.args)} positional ones."
        )
    bound = dict(zip(names, parsed.args))
    for key, value in parsed.kwargs.items():
        if key not in names:
            raise ToolCallError(
                f"{name} has no parameter {key!r}; its parameters are {', '.join(names) or 'none'}."
            )
        if key in bound:
            raise ToolCallError(f"{name} got two values for {key!r}.")
        bound[key] = value
    missing = [p for p in names if p not in bound]
    if missing:
        raise ToolCallError(f"{name} is missing {', '.join(missing)}.")
    for param, kind in params:
        _check_type(name, param, bound[param], kind)
    return Call(name, {p: bound[p] for p in names})


def _check_type(tool: str, param: str, value: Any, kind: type) -> None:
    # The shared parser already refused strings no database can store (NUL, lone surrogates).
    if kind is str and isinstance(value, str):
        return
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    wanted = "a string" if kind is str else "a list of strings"
    text = repr(value)
    raise ToolCallError(f"{tool}: {param} must be {wanted}, got "
                        f"{text if len(text) <= 60 else text[:57] + '...'}.")
