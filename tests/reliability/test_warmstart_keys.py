"""Every warm-start key that is accepted is honoured: `model.lora` trains adapters only,
`train.warmup_ratio` is a ratio whatever transformers is installed, `model.device` decides
the device, and a warm-start shorter than `logging_steps` still reports its losses."""
from __future__ import annotations

import json
import math

import pytest
import torch

from earlyexp.errors import ConfigError
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.warmstart import (
    ModelConfig, TrainConfig, WarmstartConfig, training_device, warmstart,
)

from .conftest import TINY

ENV = EnvConfig("corridor", {"num_tasks": 6, "length": 4})


@pytest.fixture(scope="module")
def experience(tmp_path_factory):
    import earlyexp.envs as envs
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    out = tmp_path_factory.mktemp("experience")
    collect(CollectConfig(env=ENV, k=2, num_workers=0, out_dir=str(out)))
    return out


def config(experience, out, lora=None, **train) -> WarmstartConfig:
    settings = dict(steps=6, batch_size=4, learning_rate=3e-3, logging_steps=1,
                    precision="fp32")
    return WarmstartConfig(env=ENV, experience_dir=str(experience), out_dir=str(out),
                           model=ModelConfig(tiny=TINY, lora=lora),
                           train=TrainConfig(**{**settings, **train}))


def tensors(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(path / "model.safetensors"))


def test_lora_trains_only_adapters_and_saves_a_plain_merged_checkpoint(experience, tmp_path):
    r, targets = 2, ["q_proj", "v_proj"]
    out = warmstart(config(experience, tmp_path, lora={"r": r, "lora_alpha": 4,
                                                       "target_modules": targets}))
    before, after = tensors(experience / "base_model"), tensors(out)
    assert before.keys() == after.keys()                  # plain HF names, no lora_A/lora_B
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(any(t in k for t in targets) for k in changed)   # before: all moved
    for key in changed:          # W + B @ A: a rank-r update (plus float32 rounding)
        singular = torch.linalg.svdvals((after[key] - before[key]).double())
        assert singular[r] < 1e-4 * singular[0], (key, singular[: r + 2])
    hidden = before["model.embed_tokens.weight"].shape[1]
    per_target = {t: r * (hidden + before[f"model.layers.0.self_attn.{t}.weight"].shape[0])
                  for t in targets}
    expected = TINY.num_layers * sum(per_target.values())
    assert json.loads((out / "warmstart.json").read_text())["trainable_parameters"] == expected


def test_bad_lora_keys_are_refused_with_the_config(experience, tmp_path):
    with pytest.raises(ConfigError, match=r"model.lora.lora_alfa.*Did you mean 'lora_alpha'"):
        ModelConfig(lora={"lora_alfa": 4})
    with pytest.raises(ConfigError, match="model.lora.r=.*integer >= 1"):
        ModelConfig(lora={"r": "four"})      # peft itself accepts it
    with pytest.raises(ConfigError, match="model.lora.lora_dropout"):
        ModelConfig(lora={"r": 4, "lora_dropout": 2})


def cosine_with_warmup(step: int, peak: float, warmup: int, total: int) -> float:
    """transformers' cosine schedule, written out: linear up, then half a cosine down."""
    if step < warmup:
        return peak * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def test_warmup_ratio_is_a_fraction_of_the_updates(experience, tmp_path):
    steps, ratio, peak = 10, 0.3, 3e-3
    out = warmstart(config(experience, tmp_path, steps=steps, warmup_ratio=ratio))
    stage = json.loads((out / "warmstart.json").read_text())["stages"][0]
    warmup = math.ceil(ratio * steps)                      # 3 updates of warm-up
    # the rate logged with update s is the one that update used: the schedule at s - 1
    expected = [cosine_with_warmup(s, peak, warmup, steps) for s in range(steps)]
    assert stage["learning_rates"] == pytest.approx(expected, rel=1e-6)
    # before: warmup_steps=0.3, which transformers 5 reads as a ratio and 4 as 0 steps


def test_warmup_ratio_outside_0_1_is_refused():
    with pytest.raises(ConfigError, match="train.warmup_ratio"):
        TrainConfig(warmup_ratio=3)


def test_a_warmstart_shorter_than_logging_steps_reports_its_losses(experience, tmp_path):
    out = warmstart(config(experience, tmp_path, steps=3, logging_steps=10))
    losses = json.loads((out / "warmstart.json").read_text())["stages"][0]["losses"]
    assert losses and all(math.isfinite(x) for x in losses)    # before: [] -> "nan"


def test_model_device_decides_the_device(monkeypatch, experience, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_device(config(experience, tmp_path)) == "cuda"          # auto
    cpu = config(experience, tmp_path)
    cpu.model.device = "cpu"
    assert training_device(cpu) == "cpu"      # before: CUDA availability alone decided
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="model.device"):
        ModelConfig(device="cuda")
    with pytest.raises(ConfigError, match="model.device"):
        ModelConfig(device="gpu")
