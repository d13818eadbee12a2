"""Training tokens per second of the warm-start stage (TRL SFTTrainer) and peak memory,
for the default tiny model on corridor experience."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from common import emit, peak_rss_mb

import earlyexp.envs as envs
from earlyexp.agents.tiny_model import TinyModelConfig
from earlyexp.experience.collect import CollectConfig, EnvConfig, collect
from earlyexp.training.warmstart import ModelConfig, TrainConfig, WarmstartConfig, warmstart

STEPS = 30


def main() -> None:
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    env = EnvConfig("corridor", {"num_tasks": 40})
    with tempfile.TemporaryDirectory() as tmp:
        collect(CollectConfig(env=env, k=2, num_workers=0, out_dir=f"{tmp}/exp"))
        cfg = WarmstartConfig(env=env, method="il", experience_dir=f"{tmp}/exp",
                              out_dir=f"{tmp}/il", model=ModelConfig(tiny=TinyModelConfig()),
                              train=TrainConfig(steps=STEPS, batch_size=16))
        out = warmstart(cfg)
        stage = json.loads((Path(out) / "warmstart.json").read_text())["stages"][0]
    emit(benchmark="warmstart_throughput", model="tiny default", steps=STEPS,
         batch_size=16, tokens=stage["input_tokens"], seconds=round(stage["seconds"], 2),
         tokens_per_s=round(stage["input_tokens"] / stage["seconds"], 1),
         peak_rss_mb=round(peak_rss_mb(), 1))


if __name__ == "__main__":
    main()
