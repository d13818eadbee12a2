"""The `Policy` protocol: batched generation with token ids and log-probs.

Anything with this `generate` method is a policy: the transformers backend,
the vLLM backend, the expert, a uniform-random stand-in. Experience
collection, evaluation and RL only ever call `generate`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass
class Generation:
    """One sampled completion: its text, token ids and per-token log-probs."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


@runtime_checkable
class Policy(Protocol):
    """Generates `n` completions for each prompt; returns one list per prompt."""

    def generate(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
                 max_new_tokens: int = 32) -> list[list[Generation]]:
        ...
