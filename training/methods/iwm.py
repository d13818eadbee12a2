"""IWM, implicit world modelling: next-observation prediction on the branched transitions,
L = -Σ log p(s_i^j | s_i, a_i^j), then imitation.

`data.iwm_schedule=sequential` (the paper's): a world-model stage, then the IL stage;
`mixed` (the paper's SearchQA set-up): both datasets shuffled into one stage of as many
updates as the two sequential stages together.
"""
from __future__ import annotations

from earlyexp.training.methods.base import Method, Stage, budget_of, mix, world_model_stage


def stages(data, cfg) -> list[Stage]:
    world = world_model_stage(data, cfg)
    il = data["il"]()
    imitation = budget_of(cfg).imitation(len(il), len(il), world.steps, cfg)
    if cfg.data.iwm_schedule == "mixed":
        return [Stage("iwm+il", mix(world.dataset, il, cfg.train.seed), world.steps + imitation)]
    return [world, Stage("il", il, imitation)]


METHOD = Method("iwm", "implicit world modelling (next observation), then imitation",
                ("iwm", "il"), stages)
