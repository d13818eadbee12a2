"""Policies and what they see: prompt rendering, the Policy protocol, backends, agents.

Light names import eagerly; the torch-backed ones (`load_policy`, `HFPolicy`,
`LMAgent`, ...) load on first use, so that collecting experience with a
uniform sampler never imports torch.
"""
from __future__ import annotations

import importlib

from earlyexp.agents.policy import Generation, Policy
from earlyexp.agents.prompts import PromptFormat, State, parse_action, render

_LAZY = {
    "load_policy": "earlyexp.agents.hf_policy",
    "HFPolicy": "earlyexp.agents.hf_policy",
    "LMAgent": "earlyexp.agents.actors",
    "ExpertAgent": "earlyexp.agents.actors",
    "RandomAgent": "earlyexp.agents.actors",
    "Decision": "earlyexp.agents.actors",
    "create_tiny_model": "earlyexp.agents.tiny_model",
    "TinyModelConfig": "earlyexp.agents.tiny_model",
}

__all__ = [
    "Generation", "Policy", "PromptFormat", "State", "parse_action", "render",
    "load_policy", "HFPolicy", "LMAgent", "ExpertAgent", "RandomAgent", "Decision",
    "create_tiny_model", "TinyModelConfig",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'earlyexp.agents' has no attribute {name!r}")
