"""Parse an action into one tool call with `ast`, never `eval`, and bind it to the tool.

An action is exactly one call in Python syntax with literal arguments:

    find_user_id_by_email(email="chen.wang42@example.com")
    respond("Could you give me your order id?")
    return_delivered_order_items("#W1234567", ["1008292230"], payment_method_id="paypal_7351243")

Arguments go through `ast.literal_eval` one node at a time, so no name,
attribute or expression is ever evaluated. Binding checks the tool's
parameter names and types (`str`, or `list` of `str`). Every failure raises
`ActionError` with a message fit to show the agent.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Any

#: Longer actions are refused before parsing (deeply nested input can exhaust the parser).
MAX_ACTION_CHARS = 4096
RESPOND = "respond"
USAGE = (
    'Write exactly one call, e.g. respond(message="How can I help?") or '
    'get_order_details(order_id="#W1234567").'
)


class ActionError(ValueError):
    """Raised when an action is not one well-formed call of a known tool."""


@dataclass(frozen=True)
class Call:
    """A parsed call: the tool name and its arguments bound by parameter name."""

    name: str
    kwargs: dict[str, Any]

    def source(self) -> str:
        """The call in canonical keyword form (what the expert writes and logs compare)."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.name}({args})"


def parse_call(action: str) -> tuple[str, list[Any], dict[str, Any]]:
    """Split `action` into (name, positional values, keyword values)."""
    if len(action) > MAX_ACTION_CHARS:
        raise ActionError(
            f"the action has {len(action)} characters; at most {MAX_ACTION_CHARS} are accepted."
        )
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" inside a string
            warnings.simplefilter("ignore")
            tree = ast.parse(action, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        reason = getattr(error, "msg", None) or type(error).__name__
        raise ActionError(
            f"{_short(action)} is not Python call syntax ({reason}). {USAGE}"
        ) from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ActionError(f"{_short(action)} is not a call of a tool by name. {USAGE}")
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        raise ActionError("*args and **kwargs are not accepted; pass each argument explicitly.")
    names = [k.arg for k in call.keywords]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # ast accepts f(a=1, a=2); only the compiler would refuse it
        raise ActionError(f"{call.func.id} got two values for {', '.join(map(repr, repeated))}.")
    positional = [_literal(node) for node in call.args]
    keywords = {k.arg: _literal(k.value) for k in call.keywords}
    return call.func.id, positional, keywords


def bind(
    name: str, positional: list[Any], keywords: dict[str, Any], params: tuple[tuple[str, type], ...]
) -> Call:
    """Bind arguments to `params` ((name, type) pairs, all required) and check their types."""
    names = [p for p, _ in params]
    if len(positional) > len(names):
        raise ActionError(
            f"{name} takes {len(names)} arguments ({', '.join(names) or 'none'}), "
            f"got {len(positional)} positional ones."
        )
    bound = dict(zip(names, positional))
    for key, value in keywords.items():
        if key not in names:
            raise ActionError(
                f"{name} has no parameter {key!r}; its parameters are {', '.join(names) or 'none'}."
            )
        if key in bound:
            raise ActionError(f"{name} got two values for {key!r}.")
        bound[key] = value
    missing = [p for p in names if p not in bound]
    if missing:
        raise ActionError(f"{name} is missing {', '.join(missing)}.")
    for param, kind in params:
        _check_type(name, param, bound[param], kind)
    return Call(name, {p: bound[p] for p in names})


def _check_type(tool: str, param: str, value: Any, kind: type) -> None:
    if kind is str and isinstance(value, str):
        return _check_text(tool, param, value)
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        for text in value:
            _check_text(tool, param, text)
        return
    wanted = "a string" if kind is str else "a list of strings"
    raise ActionError(f"{tool}: {param} must be {wanted}, got {_short(repr(value))}.")


def _check_text(tool: str, param: str, text: str) -> None:
    # A literal like "\ud800" yields a lone surrogate, which no database or tokenizer can store.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ActionError(
            f"{tool}: {param} is not valid Unicode text (it holds a lone "
            "surrogate); write the characters themselves."
        ) from None


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise ActionError(
            f"argument {_short(ast.unparse(node))} is not a literal; only strings, "
            "numbers and lists of them are accepted."
        ) from None


def _short(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit] + "...")
