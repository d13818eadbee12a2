"""Loading typed configs: Hydra composes the YAML, a dataclass checks it.

`load_config("collect", ["env=textworld", "k=4"], CollectConfig)` composes
`configs/collect.yaml` with its defaults and the overrides, then merges the
result into the dataclass schema, so that a wrong type, an unknown key or a
value its `__post_init__` rejects fails here, naming the key, before any work.
"""
from __future__ import annotations

from typing import Any, TypeVar

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from earlyexp.errors import ConfigError

T = TypeVar("T")
CONFIG_MODULE = "earlyexp.configs"


def compose_config(name: str, overrides: list[str]) -> Any:
    """The composed (untyped) config `configs/<name>.yaml` with Hydra overrides applied."""
    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return compose(config_name=name, overrides=list(overrides))
    except HydraException as e:
        raise ConfigError("overrides", " ".join(overrides), _first_line(e)) from e


def load_config(name: str, overrides: list[str], schema: type[T]) -> T:
    """Compose `configs/<name>.yaml` and return it as a checked `schema` instance."""
    composed = compose_config(name, overrides)
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), composed)
        return OmegaConf.to_object(typed)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        raise ConfigError(key, getattr(e, "value", None), _first_line(e)) from e


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (for logs, manifests and checkpoints)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
