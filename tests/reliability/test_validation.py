"""Bad input at the command line: every path, split, enumerated value and `serve` option is
checked before work starts, named by the key the user typed, and nothing is written.
`--help` on every command lists its keys with their help."""
from __future__ import annotations

import pytest
from rich.console import Console

import earlyexp.training.cli as cli
from earlyexp.training.config import config_help


@pytest.fixture
def console(monkeypatch):
    """The CLI's console, recorded and wide enough that no key wraps."""
    recorded = Console(record=True, width=250)
    monkeypatch.setattr(cli, "console", recorded)
    return recorded


def run(console, *argv) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, console.export_text()


OUTPUT_KEY = {"pipeline": "run_dir", "evaluate": "out"}   # else out_dir


def with_output(argv: list[str], out) -> list[str]:
    return [*argv, f"{OUTPUT_KEY.get(argv[0], 'out_dir')}={out}"]


@pytest.mark.parametrize("argv, key", [
    (["warmstart", "experience_dir={missing}"], "experience_dir"),     # was FileNotFoundError
    (["warmstart", "experience_dir={empty}"], "experience_dir"),
    (["warmstart", "experience_dir={exp}", "model.path={missing}"], "model.path"),
    (["rl", "init={missing}"], "init"),                                # was model.path, after 41 s
    (["evaluate", "checkpoint={missing}"], "checkpoint"),             # was model.path
    (["evaluate", "checkpoint={empty}"], "checkpoint"),
    (["collect", "sampler=policy", "policy_path={missing}"], "policy_path"),
    (["collect", "env=searchqa", "env.kwargs.corpus_path={missing}",
      "env.kwargs.qa_path={missing}"], "env.kwargs.corpus_path"),
])
def test_a_bad_path_is_named_by_its_key_and_nothing_is_written(console, tmp_path, argv, key):
    missing, empty, exp, out = (tmp_path / name for name in ("nope", "empty", "exp", "out"))
    empty.mkdir()
    exp.mkdir()
    (exp / "manifest.json").write_text("{}")
    argv = [a.format(missing=missing, empty=empty, exp=exp) for a in argv]
    code, text = run(console, *with_output(argv, out))
    assert code == 2 and text.startswith(f"error: Invalid config `{key}=")
    assert not out.exists()                            # was: config.json, metrics.jsonl, tb/


@pytest.mark.parametrize("argv, key", [
    (["collect", "split=nope"], "split"),                             # was: after the bar started
    (["rl", "init={model}", "split=tset"], "split"),
    (["evaluate", "agent=expert", "eval.split=nope"], "eval.split"),
    (["evaluate", "agent=expert", "eval.mode=rnak"], "eval.mode"),    # was: when eval started
    (["pipeline", "eval.mode=rnak"], "eval.mode"),                    # was: after collect + IL
    (["pipeline", "eval_splits=[test,nope]"], "eval_splits"),
])
def test_enumerated_values_fail_with_the_config_before_any_progress(console, tmp_path, argv, key):
    model, out = tmp_path / "model", tmp_path / "out"
    model.mkdir()
    (model / "config.json").write_text("{}")
    argv = [a.format(model=model) for a in argv]
    code, text = run(console, *with_output(argv, out))
    assert code == 2 and text.startswith(f"error: Invalid config `{key}=")  # nothing before it
    assert not out.exists()


def test_suggests_the_split_meant(console, tmp_path):
    code, text = run(console, "collect", "split=tset", f"out_dir={tmp_path / 'x'}")
    assert code == 2 and "Did you mean 'test'?" in text


@pytest.mark.parametrize("argv, key", [
    (["serve", "webshop", "port=abc"], "port"),                       # was ValueError traceback
    (["serve", "webshop", "bogus=1"], "bogus"),                       # was TypeError traceback
    (["serve", "webshop", "port=70000"], "port"),
    (["serve", "webshop", "env.kwargs.bogus=1"], "env.kwargs.bogus"),
    (["serve", "webshp"], "env"),
])
def test_serve_options_go_through_the_typed_config(console, argv, key):
    code, text = run(console, *argv)
    assert code == 2 and f"Invalid config `{key}=" in text


def test_serve_passes_checked_options_to_the_server(console, monkeypatch):
    import earlyexp.envs.webshop.server as server

    calls = []
    monkeypatch.setattr(server, "serve", lambda **kwargs: calls.append(kwargs))
    code, _ = run(console, "serve", "webshop", "port=3101", "env.kwargs.num_products=50")
    assert code == 0
    assert calls[0]["port"] == 3101 and calls[0]["host"] == "127.0.0.1"
    assert calls[0]["num_products"] == 50 and isinstance(calls[0]["num_products"], int)


HELP = [("collect", "earlyexp.experience.collect:CollectConfig"),
        ("warmstart", "earlyexp.training.warmstart:WarmstartConfig"),
        ("evaluate", "earlyexp.training.evaluate:EvaluateCommandConfig"),
        ("rl", "earlyexp.training.rl.config:RLConfig"),
        ("pipeline", "earlyexp.training.pipeline:PipelineConfig"),
        ("serve", "earlyexp.training.commands:ServeConfig")]


@pytest.mark.parametrize("command, schema", HELP)
def test_help_lists_every_key_of_the_command_with_its_help(console, command, schema):
    import importlib

    module, _, attr = schema.partition(":")
    rows = config_help(getattr(importlib.import_module(module), attr))
    code, text = run(console, command, "--help")    # was: "Invalid config overrides='--help'"
    assert code == 0 and text.startswith(f"usage: earlyexp {command}")
    for key, _, help_text in rows:
        assert key in text, key
        if help_text:
            assert help_text[:40] in text.replace("\n", " "), (key, help_text)


def test_report_help_prints_usage_not_an_error(console):
    code, text = run(console, "report", "--help")      # was: "--help is not a run directory"
    assert code == 0 and "RUN_DIR" in text
