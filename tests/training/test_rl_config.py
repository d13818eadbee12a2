"""RLConfig: Hydra composition of configs/rl.yaml + rl/<algo>.yaml and its checks."""
from __future__ import annotations

import pytest

from earlyexp.errors import ConfigError
from earlyexp.training.config import load_config
from earlyexp.training.rl import RLConfig
from earlyexp.training.rl.cli import rl_overrides


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    """`init=ckpt` names a directory holding a config.json (load_config checks the path)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    return "ckpt"


def test_algorithm_group_sets_its_hyperparameters_and_cli_overrides_win(ckpt):
    grpo = load_config("rl", ["init=ckpt"], RLConfig)
    ppo = load_config("rl", rl_overrides(["init=ckpt", "algo=ppo", "gamma=0.9"]), RLConfig)
    assert (grpo.algo, ppo.algo) == ("grpo", "ppo")
    assert grpo.ppo_epochs == 1 and ppo.ppo_epochs == 2
    assert ppo.gamma == 0.9 and ppo.out_dir == "runs/rl/textworld/ppo"
    assert grpo.env.name == "textworld" and grpo.init == "ckpt"


@pytest.mark.parametrize("overrides, key", [
    ([], "init"),
    (["algo=a2c"], "algo"),
    (["group_size=1"], "group_size"),
    (["temperature=0"], "temperature"),
    (["clip_low=1.5"], "clip_low"),
    (["lam=1.2"], "lam"),
    (["scale_advantages=batch"], "scale_advantages"),
])
def test_bad_values_fail_naming_the_key(overrides, key, ckpt):
    init = [] if key == "init" else ["init=ckpt"]
    with pytest.raises(ConfigError) as info:
        load_config("rl", init + overrides, RLConfig)
    assert info.value.key == key


def test_ppo_accepts_one_rollout_per_task_but_grpo_does_not():
    assert RLConfig(init="c", algo="ppo", group_size=1).rollouts_per_iteration == 8
    with pytest.raises(ConfigError, match="at least 2 rollouts"):
        RLConfig(init="c", algo="grpo", group_size=1)
