"""Loading typed configs: Hydra composes the YAML, a dataclass checks it.

`load_config("collect", ["env=textworld", "k=4"], CollectConfig)` composes
`configs/collect.yaml` with its defaults and the overrides, then merges the
result into the dataclass schema, so that a wrong type, an unknown key or a
value its `__post_init__` rejects fails here, naming the key, before any work.
Then `check_inputs` checks what needs the file system or the environment
registry: every input path (`PATH_KEYS`) exists and is what it must be, and
every split (`SPLIT_KEYS`) is one the environment has. `config_help` lists a
schema's keys with their help strings (each field's trailing comment) for `--help`.
"""
from __future__ import annotations

import ast
import json
import re
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from earlyexp.errors import ConfigError, closest

T = TypeVar("T")
CONFIG_MODULE = "earlyexp.configs"
#: config name -> "module:Class" of its schema. The dataclass holds every default (one
#: place, with each field's help); `configs/<name>.yaml` starts from it (`- schema: <name>`
#: in its defaults list) and holds only what differs (tests/training/test_config_defaults.py).
SCHEMAS = {
    "collect": "earlyexp.experience.collect:CollectConfig",
    "warmstart": "earlyexp.training.warmstart:WarmstartConfig",
    "evaluate": "earlyexp.training.evaluate:EvaluateCommandConfig",
    "rl": "earlyexp.training.rl.config:RLConfig",
    "pipeline": "earlyexp.training.pipeline:PipelineConfig",
    "compare": "earlyexp.training.compare:CompareConfig",
    "serve": "earlyexp.training.commands:ServeConfig",
}


def schema_class(name: str) -> type:
    """The dataclass of config `name` (imported on demand: some pull in torch)."""
    import importlib

    module, _, attr = SCHEMAS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def register_schema(name: str) -> None:
    """Make the defaults of config `name`'s dataclass Hydra's config `schema/<name>` (at
    the root). As plain values, not the typed dataclass: composing stays untyped as
    before (`~env.kwargs` still deletes; types are checked by `load_config`'s merge)."""
    from hydra.core.config_store import ConfigStore

    if name in SCHEMAS:
        defaults = OmegaConf.to_container(OmegaConf.structured(schema_class(name)))
        ConfigStore.instance().store(group="schema", name=name, node=defaults,
                                     package="_global_")


def compose_config(name: str, overrides: list[str]) -> Any:
    """The composed config `configs/<name>.yaml` (on top of its schema's defaults) with
    Hydra overrides applied."""
    register_schema(name)
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            composed = compose(config_name=name, overrides=list(overrides))
    except HydraException as e:
        key, value = _failed_override(e, overrides)
        rule = _first_line(e)
        if rule.startswith("Could not override"):
            rule = f"no key {key!r} in configs/{name}.yaml; `earlyexp {name} --help` lists them"
        elif rule.startswith("Could not append to config"):
            rule = (f"{key!r} is already a key of configs/{name}.yaml (every field of its "
                    f"dataclass is): set it without the leading +, as {key}=...")
        raise ConfigError(key, value, rule) from e
    _refuse_ignored_empty_dicts(composed, overrides)
    return composed


def _refuse_ignored_empty_dicts(composed: Any, overrides: list[str]) -> None:
    """`key={}` merges nothing into a mapping that an experiment file filled (OmegaConf
    merges dicts key by key), so it would be silently ignored: refuse it and say how to
    remove the entries instead."""
    for override in overrides:
        key, _, value = override.partition("=")
        if value.strip() != "{}" or key.startswith(("~", "+")):
            continue
        node = OmegaConf.select(composed, key, default=None)
        if node:
            removals = " ".join(f"'~{key}.{k}'" for k in node)
            raise ConfigError(key, value, f"{key}={{}} cannot empty a mapping that already "
                                          f"has entries ({', '.join(map(str, node))}); "
                                          f"remove them with {removals}")


def _failed_override(error: Exception, overrides: list[str]) -> tuple[str, str]:
    """The `key=value` override a Hydra error is about (it quotes the key), else all of them."""
    quoted = re.findall(r"'([^']+)'", str(error))
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key in quoted or override in quoted:
            return key, value
    return "overrides", " ".join(overrides)


def load_config(name: str, overrides: list[str], schema: type[T]) -> T:
    """Compose `configs/<name>.yaml` and return it as a checked `schema` instance."""
    composed = compose_config(name, overrides)
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), composed)
        cfg = OmegaConf.to_object(typed)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(key, getattr(e, "value", None), _first_line(e)) from e
    check_inputs(name, cfg)
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for logs, manifests and checkpoints)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as {"dotted.key": value} (the keys a user types)."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# --- checks that need the file system or the environment registry ----------------------
def _model_dir_problem(path: Path) -> str | None:
    if not path.is_dir():
        return "no such directory"
    if not (path / "config.json").is_file():
        return "is not a Hugging Face checkpoint (it holds no config.json)"
    return None


def _experience_dir_problem(path: Path) -> str | None:
    if not path.is_dir():
        return "no such directory"
    if not (path / "manifest.json").is_file():
        return "holds no collected experience (no manifest.json)"
    return None


def _existing_path_problem(path: Path) -> str | None:
    return None if path.exists() else "no such file or directory"


# kind -> (what is wrong with a path, or None; how to fix it)
PATH_KINDS: dict[str, tuple[Callable[[Path], str | None], str]] = {
    "checkpoint": (_model_dir_problem, "pass a checkpoint directory: a warm-start or RL output, "
                                       "or any local Hugging Face causal LM"),
    "experience": (_experience_dir_problem, "run `earlyexp collect` first, or pass the out_dir "
                                            "it wrote"),
    "path": (_existing_path_problem, "check the path (relative paths start from the current "
                                     "directory)"),
}
# config name -> the keys that name existing inputs, and what each must be
PATH_KEYS: dict[str, list[tuple[str, str]]] = {
    "collect": [("policy_path", "checkpoint")],
    "warmstart": [("experience_dir", "experience"), ("model.path", "checkpoint")],
    "evaluate": [("checkpoint", "checkpoint")],
    "rl": [("init", "checkpoint")],
    "pipeline": [("model.path", "checkpoint")],
}
# config name -> the keys that name a task split of `env` (a key may hold a list of them)
SPLIT_KEYS: dict[str, list[str]] = {
    "collect": ["split"],
    "rl": ["split"],
    "evaluate": ["eval.split"],
    "pipeline": ["collect.split", "rl.split", "eval.split", "eval_splits"],
}


def check_inputs(name: str, cfg: Any) -> None:
    """Every input path of config `name` exists and is what it must be, and every split
    names one of the environment's splits; raises ConfigError naming the key the user
    typed. Runs before any file is created."""
    keys = list(PATH_KEYS.get(name, []))
    env = getattr(cfg, "env", None)
    if env is not None:  # user data files of an environment (searchqa's corpus_path, ...)
        keys += [(f"env.kwargs.{k}", "path") for k in (env.kwargs or {}) if k.endswith("_path")]
    for key, kind in keys:
        value = _select(cfg, key)
        if value is None or value == "":
            continue
        problem, fix = PATH_KINDS[kind]
        reason = problem(Path(str(value)).expanduser())
        if reason:
            raise ConfigError(key, value, f"{reason}; {fix}")
    if env is not None and SPLIT_KEYS.get(name):
        _check_splits(name, cfg, env.name)


def _check_splits(name: str, cfg: Any, env_name: str) -> None:
    from earlyexp.envs import spec

    splits = getattr(spec(env_name).load(), "splits", None)
    if not isinstance(splits, (tuple, list)):  # decided per instance: the env checks later
        return
    for key in SPLIT_KEYS[name]:
        value = _select(cfg, key)
        for split in value if isinstance(value, (list, tuple)) else [value]:
            if split is not None and split not in splits:
                raise ConfigError(key, split, f"{env_name!r} has the splits {list(splits)}."
                                              f"{closest(str(split), splits)}")


def _select(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else getattr(cfg, part, None)
        if cfg is None:
            return None
    return cfg


# --- help: every key of a command's config with its help string -------------------------
def config_help(schema: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """`(key, type, help)` for every field of the dataclass `schema`, nested ones dotted.
    The help string is the field's trailing comment, the one place it is written."""
    comments = _field_comments(schema)
    hints = typing.get_type_hints(schema)
    rows = []
    for f in dataclasses.fields(schema):
        kind = _unwrap_optional(hints.get(f.name, Any))
        if dataclasses.is_dataclass(kind):
            rows += config_help(kind, f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", _type_name(hints.get(f.name, Any)),
                         comments.get(f.name, "")))
    return rows


def _field_comments(schema: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(schema))
    except (OSError, TypeError):
        return {}
    by_line = {tok.start[0]: tok.string.lstrip("#").strip()
               for tok in tokenize.generate_tokens(io.StringIO(source).readline)
               if tok.type == tokenize.COMMENT}
    body = ast.parse(source).body[0].body
    return {node.target.id: by_line[node.lineno] for node in body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and node.lineno in by_line}


def _unwrap_optional(kind: Any) -> Any:
    """`X | None` -> X (a nullable nested config is still a nested config)."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return kind
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if len(args) == 1 else kind


def _type_name(kind: Any) -> str:
    if typing.get_args(kind):
        return str(kind).replace("typing.", "")
    return getattr(kind, "__name__", str(kind))


def yaml_comments(name: str) -> dict[str, str]:
    """`{dotted key: trailing comment}` of `configs/<name>.yaml` (help for keys whose field
    carries none)."""
    from importlib.resources import files

    path = files(CONFIG_MODULE).joinpath(f"{name}.yaml")
    if not path.is_file():
        return {}
    comments, stack = {}, []   # stack: (indent, key) of the enclosing mappings
    for line in path.read_text(encoding="utf-8").splitlines():
        body, _, comment = line.partition(" #")
        key, colon, _ = body.strip().partition(":")
        if not colon or not key or key.startswith(("-", "#")) or " " in key:
            continue
        indent = len(body) - len(body.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if comment.strip():
            comments[".".join(k for _, k in stack)] = comment.strip()
    return comments


def describe_config(name: str, schema_path: str) -> list[tuple[str, str, str, str]]:
    """`(key, type, default, help)` rows for `earlyexp <command> --help`: the keys of
    `schema_path` ("module:Class"), their defaults as `configs/<name>.yaml` composes them,
    and their help (the field's comment, else the YAML file's)."""
    import importlib

    module, _, attr = schema_path.partition(":")
    schema = getattr(importlib.import_module(module), attr)
    defaults = OmegaConf.to_container(compose_config(name, []), resolve=False)
    env_name = _select(defaults, "env.name")
    comments = {**{f"env.{k}": v for k, v in yaml_comments(f"env/{env_name}").items()},
                **yaml_comments(name)}
    rows = []
    for key, kind, help_text in config_help(schema):
        default = _select(defaults, key)
        rows.append((key, kind, _shown(default), help_text or comments.get(key, "")))
        if isinstance(default, dict):  # a free mapping (env kwargs): its default keys too
            rows += [(f"{key}.{k}", type(v).__name__ if v is not None else "", _shown(v),
                      comments.get(f"{key}.{k}", "")) for k, v in default.items()]
    return rows


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    return json.dumps(value) if isinstance(value, list) else str(value)
