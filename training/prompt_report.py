"""`earlyexp envs --prompts <family ...|all>`: how each family's prompts fit the one budget.

For each family a little experience is collected in this process (the first
`tasks` train tasks, `k` uniform alternatives: admissible actions or the
family's proposer) — or read from `experience=<dir>` — and its IL, IWM and SR
datasets are rendered twice: whole, and fitted to the budget the pipeline would
use (`max_positions` less `max_new_tokens`, the pipeline's defaults). Tokens are
counted with `model=<checkpoint>`'s tokenizer, or with a tokenizer trained on the
data as the tiny model's is. One table row per dataset: token lengths before and
after fitting, the share of prompts that had to give something up, and what
(history dropped, observation clipped, the family's pinned context, admissible
list, goal — the last should never happen).

    earlyexp envs --prompts customer_service bfcl tasks=4 max_positions=1024
    earlyexp envs --prompts all smoke=true
"""
from __future__ import annotations

import random
import statistics
from typing import Any

from rich.console import Console
from rich.table import Table

from earlyexp.errors import ConfigError, closest

OPTIONS = {"tasks": 3, "k": 2, "smoke": True, "max_positions": None, "max_new_tokens": None,
           "vocab_size": None, "model": None, "experience": None}


def parse_options(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Family names and `key=value` options (see `OPTIONS`) after `--prompts`."""
    import earlyexp.envs as envs

    names, options = [], dict(OPTIONS)
    for arg in args:
        if arg == "--prompts":
            continue
        key, sep, value = arg.partition("=")
        if not sep:
            if arg == "all":
                names += envs.list_envs()
            elif arg in envs.list_envs():
                names.append(arg)
            else:
                raise ConfigError("--prompts", arg, f"not a registered environment; choose from "
                                  f"{envs.list_envs()} or all.{closest(arg, envs.list_envs())}")
            continue
        if key not in OPTIONS:
            raise ConfigError(key, value, f"options of --prompts: {sorted(OPTIONS)}."
                              f"{closest(key, OPTIONS)}")
        options[key] = _value(key, value)
    if not names:
        raise ConfigError("--prompts", None, "name a family (or all): earlyexp envs --prompts bfcl")
    return names, options


def _value(key: str, text: str) -> Any:
    if key in ("model", "experience"):
        return text
    if key == "smoke":
        if text.lower() not in ("true", "false"):
            raise ConfigError(key, text, "must be true or false")
        return text.lower() == "true"
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(key, text, "must be an integer") from None
    if number < (0 if key == "k" else 1):
        raise ConfigError(key, number, "must be >= 0" if key == "k" else "must be >= 1")
    return number


def report_prompts(console: Console, args: list[str]) -> int:
    names, options = parse_options(args)
    defaults = _pipeline_defaults()
    for name in names:
        filled = {**options, **{k: v for k, v in defaults.items() if options[k] is None}}
        console.print(_family_table(name, filled))
    return 0


def _pipeline_defaults() -> dict[str, Any]:
    from earlyexp.training.config import compose_config
    cfg = compose_config("pipeline", [])
    return {"max_positions": int(cfg.model.tiny.max_positions),
            "max_new_tokens": int(cfg.eval.max_new_tokens),
            "vocab_size": int(cfg.model.tiny.vocab_size)}


def _family_table(name: str, options: dict[str, Any]) -> Table:
    from earlyexp.agents.prompts import CLIP_KINDS, LengthBudget, token_counter

    fmt, transitions = _experience(name, options)
    whole = _rows(transitions, fmt, None)
    tokenizer = _tokenizer(options, whole)
    count = token_counter(tokenizer)
    budget = LengthBudget(options["max_positions"], options["max_new_tokens"], count)
    fitted = _rows(transitions, fmt, budget)
    table = Table(title=f"{name}: prompts in tokens, budget {budget.room} "
                        f"(max_positions {budget.max_positions} - max_new_tokens "
                        f"{budget.max_new_tokens}); {fmt}", title_justify="left")
    # left out: IL rows whose expert action is longer than max_new_tokens (never cut)
    for column in ("dataset", "rows", "left out", "whole p50", "whole p90", "whole max",
                   "fitted max", "clipped", *CLIP_KINDS):
        table.add_column(column, justify="right")
    for before, after in zip(whole, fitted):
        if not after.rendered:
            table.add_row(after.name, "0", str(after.too_long), *[""] * (5 + len(CLIP_KINDS)))
            continue
        sizes = count(before.prompts)
        n = len(after.rendered)
        shares = [sum(kind in r.clipped for r in after.rendered) / n for kind in CLIP_KINDS]
        table.add_row(after.name, str(n), str(after.too_long), f"{statistics.median(sizes):.0f}",
                      f"{_quantile(sizes, 0.9):.0f}", str(max(sizes)),
                      str(max(r.tokens for r in after.rendered)),
                      f"{sum(bool(r.clipped) for r in after.rendered) / n:.0%}",
                      *[f"{s:.0%}" for s in shares])
    return table


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _experience(name: str, options: dict[str, Any]):
    """The family's prompt format and transitions (collected here, or read from a directory)."""
    import earlyexp.envs as envs
    from earlyexp.experience.branching import UniformSampler, collect_task
    from earlyexp.experience.collect import EnvConfig
    from earlyexp.training.config import compose_config

    env_cfg = compose_config("collect", [f"env={name}"]).env
    fmt = EnvConfig(name, prompt=dict(env_cfg.get("prompt") or {})).prompt_format()
    if options["experience"]:
        from earlyexp.experience.storage import ExperienceStore
        return fmt, ExperienceStore(options["experience"]).transitions()
    kwargs = envs.spec(name).smoke_kwargs if options["smoke"] else dict(env_cfg.get("kwargs") or {})
    env = envs.make(name, **kwargs)
    try:
        transitions = []
        for task_id in env.tasks("train")[: options["tasks"]]:
            result = collect_task(env, task_id, 0, options["k"], UniformSampler(),
                                  random.Random(task_id))
            transitions += result.transitions
        return fmt, transitions
    finally:
        env.close()


def _rows(transitions, fmt, budget):
    from earlyexp.experience.datasets import il_rows, iwm_rows, reflect_all, sr_rows
    from earlyexp.experience.reflection import TemplateReflector

    reflections = reflect_all(transitions, TemplateReflector())
    return [il_rows(transitions, fmt, budget), iwm_rows(transitions, fmt, budget=budget),
            sr_rows(reflections, fmt, budget)]


def _tokenizer(options: dict[str, Any], whole):
    if options["model"]:
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(options["model"])
    from earlyexp.agents.tiny_model import train_tokenizer
    texts = [p + c for rows in whole for p, c in zip(rows.prompts, rows.completions)]
    return train_tokenizer(texts, options["vocab_size"])
