"""Fixtures of the fault-injection suite: a tiny model for the one-step Doors env."""
from __future__ import annotations

import pytest

import earlyexp.envs as envs
from earlyexp.agents.prompts import State, render
from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model
from earlyexp.envs.testing import DoorsEnv

TINY = TinyModelConfig(vocab_size=300, hidden_size=32, num_layers=1, num_heads=2,
                       intermediate_size=64, max_positions=256)


@pytest.fixture(scope="session")
def doors_model(tmp_path_factory):
    """A randomly initialised tiny model whose tokenizer knows the Doors env's prompts."""
    envs.register("doors", "earlyexp.envs.testing:DoorsEnv", override=True)
    env, texts = DoorsEnv(num_doors=3), []
    for task in env.tasks("train"):
        obs, info = env.reset(options={"task_id": task})
        prompt = render(State(info["goal"], obs, [], info["admissible_actions"]))
        texts += [f"{prompt} {a}" for a in info["admissible_actions"]]
    return create_tiny_model(texts * 2, tmp_path_factory.mktemp("doors_model"), TINY)
