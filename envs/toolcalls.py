"""The one parser for actions written as Python-style tool calls: `ast` only, never `eval`.

Families whose actions are calls (bfcl, customer_service, travel, and any
plugged-in family) parse them here and bind the result to their own tools:

    parse_call("get_order_details(order_id='#W1234567')")      -> one ToolCall
    parse_calls("[mkdir(dir_name='a'), cd(folder='a')]")       -> two, in order
    parse_calls("ls(); pwd()")                                 -> two, in order
    parse_calls("end_turn", bare_names={"end_turn"})           -> ToolCall('end_turn')

The rules, the same for every family:

* at most `MAX_CALL_TEXT_CHARS` characters, checked before parsing (deep
  nesting can exhaust the parser), and no NUL character or lone surrogate;
* only expressions that are calls of a bare function name (`f(...)`, not
  `os.system(...)`, `f(x)(y)` or `(lambda: 0)()`); names starting with `_`
  are refused, so no dunder name ever reaches a family's lookup;
* every argument is a literal, read by `ast.literal_eval` node by node
  (strings, numbers, booleans, None, and lists, tuples, dicts and sets of
  them), so no name, attribute, call or operator is ever evaluated; no
  `*args` or `**kwargs`; a keyword given twice is refused (the parser accepts
  `f(a=1, a=2)`, only the compiler would not); strings must be storable
  text (no lone surrogate from an escape such as '\\ud800', no NUL);
* Python's warnings about the source (an invalid escape sequence in a quoted
  path) are silenced: the agent's spelling is not our log's problem.

Every refusal raises `ToolCallError`, whose `reason` says what is wrong and
how to write it instead; families show it to the agent as an invalid action.
"""
from __future__ import annotations

import ast
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

#: Longer texts are refused before parsing. BFCL's own ground truth holds a 6,839-character call.
MAX_CALL_TEXT_CHARS = 8192
_SNIPPET_CHARS = 60


class ToolCallError(ValueError):
    """Raised when a text is not a well-formed tool call; `reason` says why and how to fix it."""

    def __init__(self, reason: str, text: str = ""):
        super().__init__(reason)
        self.reason = reason
        # The offending action, kept printable: a lone surrogate becomes its escape.
        self.text = text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class ToolCall:
    """One parsed call: the function's name, its literal arguments and its normalised source."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # ast.unparse of the call, e.g. "cd(folder='document')"; a bare name alone

    def __post_init__(self) -> None:
        if not self.source:
            object.__setattr__(self, "source", self.name)


def parse_call(text: str, *, bare_names: Collection[str] = ()) -> ToolCall:
    """The single call `text` holds (see the module docstring for the rules).

    Raises:
        ToolCallError: `text` is not exactly one well-formed call.
    """
    calls = parse_calls(text, bare_names=bare_names)
    if len(calls) != 1:
        raise ToolCallError(f"the action is not a function call but a sequence of {len(calls)} "
                            f"({', '.join(c.name for c in calls[:5])}); write exactly one call "
                            "per action.", text)
    return calls[0]


def parse_calls(text: str, *, bare_names: Collection[str] = ()) -> list[ToolCall]:
    """Every call of `text` in order: one call, a list or tuple of calls, or calls separated
    by `;` or new lines. A name in `bare_names` may stand alone as a call without arguments.

    Raises:
        ToolCallError: anything else; the reason names the offending part.
    """
    module = _parse(text)
    nodes = [node for statement in module.body for node in _call_nodes(statement, text)]
    if not nodes:
        raise ToolCallError("the action contains no function call.", text)
    return [_to_call(node, bare_names, text) for node in nodes]


# ---------------------------------------------------------------- parsing
def _parse(text: str) -> ast.Module:
    if len(text) > MAX_CALL_TEXT_CHARS:
        raise ToolCallError(f"the action has {len(text)} characters; at most "
                            f"{MAX_CALL_TEXT_CHARS} are accepted.", text[:_SNIPPET_CHARS])
    problem = _text_problem(text, "the action")
    if problem:
        raise ToolCallError(problem, text)
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a quoted path
            warnings.simplefilter("ignore")
            return ast.parse(text.strip(), mode="exec")
    except (RecursionError, MemoryError):
        raise ToolCallError(f"{_short(text)} is nested too deeply to parse.", text) from None
    except (SyntaxError, ValueError) as error:
        reason = getattr(error, "msg", None) or type(error).__name__
        raise ToolCallError(f"{_short(text)} is not Python call syntax ({reason}).",
                            text) from None


def _call_nodes(statement: ast.stmt, text: str) -> list[ast.expr]:
    if not isinstance(statement, ast.Expr):
        raise ToolCallError(f"only function calls are allowed, got a statement of type "
                            f"{type(statement).__name__}.", text)
    value = statement.value
    return list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else [value]


def _to_call(node: ast.expr, bare_names: Collection[str], text: str) -> ToolCall:
    if isinstance(node, ast.Name) and node.id in bare_names:
        return ToolCall(node.id)
    if isinstance(node, ast.Name):
        raise ToolCallError(f"{node.id!r} is not a function call; write it with parentheses, "
                            f"like {node.id}(), and its arguments.", text)
    if not isinstance(node, ast.Call):
        raise ToolCallError(f"{_short(_unparse(node))} is not a function call; write a call "
                            "such as name(argument='value').", text)
    if not isinstance(node.func, ast.Name):
        raise ToolCallError(f"call a function by its bare name, like f(x=1); "
                            f"{_short(_unparse(node.func))} is not a name.", text)
    name = node.func.id
    if name.startswith("_"):
        raise ToolCallError(f"{name!r} is not a tool: names starting with '_' are private.", text)
    args = tuple(_positional(name, position, arg, text) for position, arg in enumerate(node.args))
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ToolCallError(f"{name}: **arguments are not allowed; name each argument.", text)
        if keyword.arg in kwargs:
            raise ToolCallError(f"{name}: argument {keyword.arg!r} is given twice.", text)
        kwargs[keyword.arg] = _literal(keyword.value, name, f"argument {keyword.arg!r}", text)
    return ToolCall(name, args, kwargs, _unparse(node))


def _positional(name: str, position: int, node: ast.expr, text: str) -> Any:
    if isinstance(node, ast.Starred):
        raise ToolCallError(f"{name}: *arguments are not allowed; pass each value directly.", text)
    return _literal(node, name, f"positional argument {position + 1}", text)


def _literal(node: ast.expr, function: str, what: str, text: str) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ToolCallError(f"{function}: {what} must be a literal value (a quoted string, a "
                            "number, True/False/None, or a list, tuple or dict of them), got "
                            f"{_short(_unparse(node))}.", text) from None
    try:
        problem = _value_problem(value, f"{function}: {what}")
    except RecursionError:  # only reachable with nesting the parser itself would refuse
        problem = f"{function}: {what} is nested too deeply."
    if problem:
        raise ToolCallError(problem, text)
    return value


# ---------------------------------------------------------------- text checks
_SCALARS = (str, int, float, complex, bool, type(None))
_CONTAINERS = (list, tuple, set, frozenset)


def _value_problem(value: Any, where: str) -> str | None:
    """What is wrong with the first bad part of `value` (dict keys included), or None.

    `literal_eval` also reads bytes and `...`, which no tool takes: they are refused here.
    """
    if isinstance(value, str):
        return _text_problem(value, where)
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, _CONTAINERS):
        items = list(value)
    else:
        return f"{where} holds {_clip(repr(value))}; use strings, numbers, booleans or None."
    return next((p for p in (_value_problem(item, where) for item in items) if p), None)


def _text_problem(text: str, where: str) -> str | None:
    """Why no database, tokenizer or log could store `text` (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return f"{where} holds a NUL character (\\x00); remove it."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return (f"{where} is not valid Unicode text (it holds a lone surrogate such as "
                "\\ud800); write the characters themselves.")
    return None


def _unparse(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except (ValueError, RecursionError):  # unparse rejects a few odd trees
        return type(node).__name__


def _clip(text: str) -> str:
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS - 3] + "..."


def _short(text: str) -> str:
    return repr(_clip(text))
