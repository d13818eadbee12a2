"""IL, the baseline: imitation of the expert action, L = -Σ log π(a_i | s_i)."""
from __future__ import annotations

from earlyexp.training.methods.base import Method, Stage, budget_of


def stages(data, cfg) -> list[Stage]:
    il = data["il"]()
    return [Stage("il", il, budget_of(cfg).imitation(len(il), len(il), 0, cfg))]


METHOD = Method("il", "imitation of the expert actions", ("il",), stages)
