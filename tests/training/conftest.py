"""Session fixtures: corridor experience and a tiny model trained on it, built once."""
from __future__ import annotations

import pytest

import earlyexp.envs as envs
from earlyexp.agents.tiny_model import TinyModelConfig
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.warmstart import ModelConfig, TrainConfig, WarmstartConfig

TINY = TinyModelConfig(vocab_size=400, hidden_size=64, num_layers=2, num_heads=2,
                       intermediate_size=128, max_positions=512)


@pytest.fixture(scope="session")
def corridor_env():
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    return EnvConfig("corridor", {"num_tasks": 12})


@pytest.fixture(scope="session")
def corridor_experience(corridor_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("experience")
    collect(CollectConfig(env=corridor_env, k=3, num_workers=0, out_dir=str(out)))
    return out


def warmstart_config(env, experience, out, method="il", steps=40) -> WarmstartConfig:
    return WarmstartConfig(env=env, method=method, experience_dir=str(experience),
                           out_dir=str(out), model=ModelConfig(tiny=TINY),
                           train=TrainConfig(steps=steps, batch_size=8, learning_rate=3e-3,
                                             logging_steps=5))


@pytest.fixture(scope="session")
def il_checkpoint(corridor_env, corridor_experience, tmp_path_factory):
    from earlyexp.training.warmstart import warmstart
    out = tmp_path_factory.mktemp("il")
    return warmstart(warmstart_config(corridor_env, corridor_experience, out, "il", steps=60))
