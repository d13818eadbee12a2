"""Parse an action into function calls with `ast`, never `eval`.

An action is either the end-of-turn marker `end_turn` (or `end_turn()`), or
one or more calls in Python syntax:

    cd(folder='document')
    [mkdir(dir_name='temp'), mv(source='a.txt', destination='temp')]
    mkdir(dir_name='temp'); cd(folder='temp')

Each call names a function by its bare name and passes literal arguments only
(strings, numbers, booleans, None, lists, tuples, dicts, sets): every argument
goes through `ast.literal_eval`, so no name, attribute or expression is ever
evaluated. Anything else raises `ActionSyntaxError` with a message fit to
show the agent.
"""
from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Any

END_TURN = "end_turn"
#: Longer actions are refused before parsing: deep nesting can exhaust the parser.
MAX_ACTION_CHARS = 8192
USAGE = ("Write calls such as cd(folder='document'), several at once as "
         "[mkdir(dir_name='temp'), cd(folder='temp')], or end_turn to finish the request.")


class ActionSyntaxError(ValueError):
    """Raised when an action is not `end_turn` nor a sequence of literal-argument calls."""


@dataclass(frozen=True)
class Call:
    """One parsed call: the function name, literal arguments and its normalised source."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    source: str  # ast.unparse of the call, e.g. "cd(folder='document')"


def parse_action(action: str) -> list[Call] | None:
    """The calls of `action` in order, or None for `end_turn`.

    Raises:
        ActionSyntaxError: the action is neither; the message says why and how to fix it.
    """
    if len(action) > MAX_ACTION_CHARS:
        raise ActionSyntaxError(f"the action has {len(action)} characters; at most "
                                f"{MAX_ACTION_CHARS} are accepted.")
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a quoted path
            warnings.simplefilter("ignore")
            module = ast.parse(action, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        reason = getattr(error, "msg", None) or type(error).__name__
        raise ActionSyntaxError(f"{action[:80]!r} is not Python call syntax ({reason}). "
                                f"{USAGE}") from None
    nodes = [node for statement in module.body for node in _call_nodes(statement)]
    if not nodes:
        raise ActionSyntaxError(f"the action contains no function call. {USAGE}")
    if any(_is_end_turn(node) for node in nodes):
        if len(nodes) > 1:
            raise ActionSyntaxError("end_turn must be the whole action, not mixed with calls.")
        return None
    return [_to_call(node) for node in nodes]


def _call_nodes(statement: ast.stmt) -> list[ast.expr]:
    if not isinstance(statement, ast.Expr):
        raise ActionSyntaxError(f"only function calls are allowed, got a statement of type "
                                f"{type(statement).__name__}. {USAGE}")
    value = statement.value
    if isinstance(value, (ast.List, ast.Tuple)):
        elements = list(value.elts)
    else:
        elements = [value]
    for element in elements:
        if not (isinstance(element, ast.Call) or _is_end_turn(element)):
            raise ActionSyntaxError(f"expected a function call, got {_snippet(element)!r}. {USAGE}")
    return elements


def _is_end_turn(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == END_TURN
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == END_TURN and not node.args and not node.keywords)


def _to_call(node: ast.expr) -> Call:
    if not isinstance(node.func, ast.Name):
        raise ActionSyntaxError(f"call functions by their bare name (like ls()), got "
                                f"{_snippet(node.func)!r}.")
    name = node.func.id
    args = []
    for position, arg in enumerate(node.args):
        if isinstance(arg, ast.Starred):
            raise ActionSyntaxError(f"{name}: *arguments are not allowed; pass values directly.")
        args.append(_literal(arg, name, f"positional argument {position + 1}"))
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ActionSyntaxError(f"{name}: **arguments are not allowed; name each argument.")
        if keyword.arg in kwargs:
            raise ActionSyntaxError(f"{name}: argument {keyword.arg!r} is given twice.")
        kwargs[keyword.arg] = _literal(keyword.value, name, f"argument {keyword.arg!r}")
    return Call(name, tuple(args), kwargs, ast.unparse(node))


def _literal(node: ast.expr, function: str, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ActionSyntaxError(
            f"{function}: {what} must be a literal value (string, number, boolean, None, list, "
            f"tuple or dict), got {_snippet(node)!r}."
        ) from None


def _snippet(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except (ValueError, RecursionError):  # unparse rejects a few odd trees
        text = type(node).__name__
    return text if len(text) <= 60 else text[:57] + "..."
