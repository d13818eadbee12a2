"""The shared tool-call parser (earlyexp.envs.toolcalls): what it accepts, what it refuses, and
that every call-language family goes through it."""
from __future__ import annotations

import builtins
import re
import time
import warnings
from pathlib import Path

import pytest

from earlyexp import envs
from earlyexp.envs.toolcalls import (
    MAX_CALL_TEXT_CHARS,
    ToolCall,
    ToolCallError,
    parse_call,
    parse_calls,
)

ENVS_DIR = Path(__file__).parents[2] / "envs"


# ------------------------------------------------------------------ what is accepted
def test_one_call_keywords_positionals_and_literal_values():
    call = parse_call("f('a', 2, x=[1, 2.5], y={'k': (True, None)}, z=-3)")
    assert call == ToolCall("f", ("a", 2), {"x": [1, 2.5], "y": {"k": (True, None)}, "z": -3},
                            "f('a', 2, x=[1, 2.5], y={'k': (True, None)}, z=-3)")
    assert parse_call("  g()  ").source == "g()"  # surrounding blanks do not matter


def test_several_calls_as_a_list_a_tuple_or_a_sequence():
    expected = ["a", "b", "c"]
    for text in ["[a(), b(), c()]", "(a(), b(), c())", "a(); b(); c()", "a()\nb()\nc()",
                 "[a(), b()]; c()"]:
        assert [call.name for call in parse_calls(text)] == expected, text


def test_bare_names_only_where_the_family_allows_them():
    assert parse_calls("end_turn", bare_names={"end_turn"}) == [ToolCall("end_turn")]
    with pytest.raises(ToolCallError, match="'end_turn' is not a function call"):
        parse_calls("end_turn")


def test_parse_call_wants_exactly_one():
    with pytest.raises(ToolCallError, match="sequence of 2 .a, b.; write exactly one call"):
        parse_call("a(); b()")
    with pytest.raises(ToolCallError, match="no function call"):
        parse_calls("[]")


def test_escapes_are_read_and_their_warnings_silenced():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Python warns about the invalid escape '\\d'
        call = parse_call(r"cat(path='C:\docs\new', tab='a\tb')")
    assert call.kwargs == {"path": "C:\\docs\new", "tab": "a\tb"}


# ------------------------------------------------------------------ hostile input
HOSTILE = [
    # (text, what the reason must say)
    ("os.system('ls')", "bare name"),
    ("__import__('os').system('ls')", "bare name"),
    ("__import__('os')", "'__import__' is not a tool"),
    ("_private(1)", "names starting with '_' are private"),
    ("f(x)(y)", "bare name"),
    ("(lambda: 0)()", "bare name"),
    ("f(lambda: 0)", "positional argument 1 must be a literal value"),
    ("f(x=g())", "argument 'x' must be a literal value"),
    ("f(x=[g()])", "argument 'x' must be a literal value"),
    ("f(x=os.environ)", "argument 'x' must be a literal value"),
    ("f(x=y)", "argument 'x' must be a literal value"),
    ("f(x=1 + 2)", "must be a literal value"),
    ("f(x=[i for i in range(9)])", "must be a literal value"),
    ("f(x=f'{y}')", "must be a literal value"),
    ("f(x=(y := 1))", "must be a literal value"),
    ("f(a=1, a=2)", "argument 'a' is given twice"),
    ("f(*[1])", "*arguments are not allowed"),
    ("f(**{'a': 1})", "**arguments are not allowed"),
    ("f(b'raw')", "holds b'raw'"),
    ("f(...)", "holds Ellipsis"),
    ("import os", "statement of type Import"),
    ("x = f()", "statement of type Assign"),
    ("def f(): pass", "statement of type FunctionDef"),
    ("1 + 2", "'1 + 2' is not a function call"),
    ("f(", "not Python call syntax"),
    ("hello there", "not Python call syntax"),
    ("(" * 400, "not Python call syntax"),
    ("f(" + "[" * 3000 + "]" * 3000 + ")", "not Python call syntax"),
    ("f(" + "-" * 8000 + "1)", "nested too deeply"),
    ("f(" + "1+" * 4000 + "1)", "nested too deeply"),
    ("f(" + "9" * 5000 + ")", "not Python call syntax"),  # int digits limit of the parser
    ("f('a\x00b')", "the action holds a NUL character"),
    (r"f('a\x00b')", "positional argument 1 holds a NUL character"),
    (r"f(x={'\x00': 1})", "argument 'x' holds a NUL character"),
    ("f('\ud800')", "the action is not valid Unicode text"),
    (r"f('\ud800')", "positional argument 1 is not valid Unicode text"),
    (r"f(x=['ok', '\udfff'])", "argument 'x' is not valid Unicode text"),
]


@pytest.mark.parametrize("text, reason", HOSTILE, ids=[t[:30] for t, _ in HOSTILE])
def test_hostile_input_is_refused_with_its_reason(text, reason):
    with pytest.raises(ToolCallError) as refused:
        parse_calls(text)
    assert reason in refused.value.reason
    assert str(refused.value) == refused.value.reason
    refused.value.text.encode("utf-8")  # the kept text is always printable, surrogates escaped


def test_length_limit_is_one_number_checked_before_parsing():
    body = "a" * (MAX_CALL_TEXT_CHARS - len("f('')"))
    assert parse_call(f"f('{body}')").args == (body,)  # exactly at the limit: accepted
    too_long = f"f('{body}a')"
    with pytest.raises(ToolCallError, match=f"has {MAX_CALL_TEXT_CHARS + 1} characters; at most "
                                            f"{MAX_CALL_TEXT_CHARS}"):
        parse_call(too_long)
    huge = "f('" + "x" * 50_000_000 + "')"  # 50 MB: refused by its length, not parsed
    started = time.process_time()
    with pytest.raises(ToolCallError, match="at most"):
        parse_call(huge)
    assert time.process_time() - started < 5.0, "a huge text must not reach the parser"


def test_nothing_is_ever_evaluated(monkeypatch, tmp_path):
    def forbidden(*_args, **_kwargs):
        raise AssertionError("the parser must not run code")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    marker = tmp_path / "pwned"
    attack = f"f(x=__import__('pathlib').Path({str(marker)!r}).touch())"
    with pytest.raises(ToolCallError):
        parse_call(attack)
    assert parse_call("f(x={'a': [1, (2, 3)]})").kwargs == {"x": {"a": [1, (2, 3)]}}
    assert not marker.exists()


# ------------------------------------------------------------------ one parser for every family
def test_no_family_keeps_a_parser_of_its_own():
    """Only toolcalls.py parses Python source (customer_service's calculator parses arithmetic)."""
    parsers = {path.relative_to(ENVS_DIR).as_posix() for path in ENVS_DIR.rglob("*.py")
               if re.search(r"\bast\.parse\(", path.read_text(encoding="utf-8"))}
    assert parsers == {"toolcalls.py", "customer_service/reads.py"}


@pytest.mark.parametrize("family", ["bfcl", "customer_service", "travel"])
def test_every_call_family_refuses_with_the_shared_reasons(family):
    env = envs.make(family, **envs.spec(family).smoke_kwargs)
    try:
        env.reset(seed=0, options={"task_id": env.tasks("train")[0]})
        for text, reason in [("os.system('ls')", "bare name"),
                             ("x" * (MAX_CALL_TEXT_CHARS + 1), f"at most {MAX_CALL_TEXT_CHARS}"),
                             (r"f('\ud800')", "not valid Unicode text"),
                             ("f(a=1, a=2)", "given twice")]:
            obs, reward, terminated, _, info = env.step(text)
            assert not info["valid_action"] and not terminated and reward == 0.0, (family, text)
            assert reason in obs, (family, text, obs[:300])
    finally:
        env.close()
