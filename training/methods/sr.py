"""SR, self-reflection: `reflection + expert action` given s_i, the reflection contrasting
the expert action's outcome with the alternatives', trained together with the plain
imitation data."""
from __future__ import annotations

from earlyexp.training.methods.base import Method, Stage, reflection_stage


def stages(data, cfg) -> list[Stage]:
    return [reflection_stage(data, cfg)]


METHOD = Method("sr", "self-reflection: rationale + expert action, mixed with imitation",
                ("sr", "il"), stages, reflects=True)
