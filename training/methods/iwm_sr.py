"""IWM then SR: the world-model stage of IWM, then SR's reflections + imitation stage.

The two early-experience objectives in sequence: the model first learns what actions
do (next-observation prediction on the branched transitions), then learns to
justify the expert action from those outcomes. Under `budget=paper` the second stage
is SR's (the IL number of epochs over reflections + IL data); under
`budget=equal_updates` it gets what the world-model stage left of `train.steps`.
"""
from __future__ import annotations

from earlyexp.training.methods.base import Method, Stage, reflection_stage, world_model_stage


def stages(data, cfg) -> list[Stage]:
    world = world_model_stage(data, cfg)
    return [world, reflection_stage(data, cfg, spent=world.steps)]


METHOD = Method("iwm_sr", "world-model stage, then self-reflection + imitation",
                ("iwm", "sr", "il"), stages, reflects=True)
