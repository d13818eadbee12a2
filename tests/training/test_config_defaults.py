"""One source for every default: each command's dataclass holds them, and its
`configs/<name>.yaml` sets only keys whose value differs from the dataclass default."""
from __future__ import annotations

from importlib.resources import files

import pytest
from omegaconf import OmegaConf

from earlyexp.training.config import CONFIG_MODULE, SCHEMAS, compose_config, schema_class


def _leaves(tree: dict, prefix: str = "") -> dict:
    """`{dotted key: value}` of a nested mapping (an empty mapping is a leaf)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _file_keys(name: str) -> dict:
    """What `configs/<name>.yaml` itself sets (its defaults list left out)."""
    text = files(CONFIG_MODULE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    own = OmegaConf.to_container(OmegaConf.create(text), resolve=False) or {}
    own.pop("defaults", None)
    return _leaves(own)


def _schema_defaults(name: str) -> dict:
    return _leaves(OmegaConf.to_container(OmegaConf.structured(schema_class(name)),
                                          resolve=False))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_yaml_sets_only_keys_that_differ_from_the_dataclass(name):
    defaults, own = _schema_defaults(name), _file_keys(name)
    unknown = sorted(set(own) - set(defaults))
    repeated = sorted(k for k in own if k in defaults and own[k] == defaults[k])
    assert not unknown, f"configs/{name}.yaml sets keys its schema lacks: {unknown}"
    # `???` merged onto the dataclass's value would not take effect: a required key is
    # the dataclass's to refuse (its __post_init__), not the YAML's to mark
    assert "???" not in own.values(), f"configs/{name}.yaml marks a key ??? (no effect)"
    assert not repeated, f"configs/{name}.yaml repeats dataclass defaults: {repeated}"


@pytest.mark.parametrize("option", ["rl/grpo", "rl/ppo"])
def test_algorithm_options_set_only_what_differs_from_rl_defaults(option):
    defaults, own = _schema_defaults("rl"), _file_keys(option)
    assert not sorted(set(own) - set(defaults)), own
    assert not sorted(k for k in own if own[k] == defaults[k]), own


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_default_reaches_the_composed_config(name):
    """Keys the YAML leaves out still compose, with the dataclass's value (env.* and the
    keys the file or its groups set are the YAML's to decide)."""
    composed = _leaves(OmegaConf.to_container(compose_config(name, []), resolve=False))
    own = {**_file_keys(name), **(_file_keys("pipeline") if name == "compare" else {})}
    for key, value in _schema_defaults(name).items():
        if key.startswith("env.") or key in own:
            continue
        assert key in composed, f"{key} missing from configs/{name}.yaml as composed"
        if name not in ("rl", "warmstart"):  # their groups (rl/<algo>, method/<m>) set keys
            assert composed[key] == value, (name, key, composed[key], value)


def test_a_key_that_only_the_dataclass_sets_is_overridden_plainly():
    from earlyexp.errors import ConfigError
    from earlyexp.experience.collect import CollectConfig
    from earlyexp.training.config import load_config

    assert "k" not in _file_keys("collect")
    assert load_config("collect", ["k=2"], CollectConfig).k == 2
    with pytest.raises(ConfigError, match=r"`k='abc'`"):  # its type is still the dataclass's
        load_config("collect", ["k=abc"], CollectConfig)
    with pytest.raises(ConfigError, match=r"already a key .* without the leading \+, as k="):
        compose_config("collect", ["+k=2"])
