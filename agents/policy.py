"""The `Policy` protocol: the two ways a model acts, with the exact ids it saw.

Anything with these two methods is a policy (the transformers backend, the vLLM
backend): experience collection, evaluation and RL call nothing else.

- `generate(prompts, n, temperature, max_new_tokens, stop_after=None)`: free text, one
  line (it ends at the first newline or EOS; with `stop_after`, at the first newline
  once that text has been written: a reflection, then `Action: ...`). Each completion
  carries its token ids (stop token included) and the log-prob of each token under
  the *tempered* distribution it was sampled from, `log_softmax(logits / T)`
  (untempered when T = 0, i.e. greedy), so an RL ratio against the same weights is 1.
- `score_candidates(prompts, candidates)`: closed action spaces. Every candidate's
  summed (untempered) log-likelihood after the prompt; `rank` mode samples from
  `softmax(scores / T)` over them.

Both return the prompt token ids actually fed to the model, after the one cut rule
of `agents/context.py`, so later stages train on exactly what was seen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass
class Generation:
    """One sampled completion: its text, token ids, per-token tempered log-probs and
    entropies (nats; empty where the backend cannot give them), and the prompt ids."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)


@dataclass
class CandidateScores:
    """The candidates of one prompt as the model scored them."""

    prompt_ids: list[int]                 # the prompt, after the cut
    candidate_ids: list[list[int]]        # each candidate's ids, EOS included
    scores: list[float]                   # Σ log p(candidate tokens | prompt), untempered


@runtime_checkable
class Policy(Protocol):
    """Generates completions and scores candidate completions, batched."""

    max_positions: int

    def generate(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
                 max_new_tokens: int = 32, stop_after: str | None = None
                 ) -> list[list[Generation]]:
        ...

    def score_candidates(self, prompts: list[str], candidates: list[list[str]]
                         ) -> list[CandidateScores]:
        ...


def cut_completion(tokenizer, ids: list[int], stop_ids, stop_after: str | None = None
                   ) -> tuple[int, str]:
    """(how many of `ids` form the completion, its text), as both backends cut a sampled
    sequence: one line, or with `stop_after` up to the end of the line that holds it."""
    pieces = tokenizer.batch_decode([[t] for t in ids]) if stop_after else None
    end = completion_end(ids, stop_ids, tokenizer.eos_token_id, pieces, stop_after)
    text = tokenizer.decode(ids[:end], skip_special_tokens=True)
    return end, text.split("\n", 1)[0] if stop_after is None else text.rstrip("\n")


def completion_end(ids: list[int], stop_ids, eos_id: int, pieces: list[str] | None = None,
                   stop_after: str | None = None) -> int:
    """How many of the sampled `ids` form the completion, its stop token included: up to
    the first stop token (EOS or a token holding a newline); with `stop_after`, EOS or
    the first stop token once `stop_after` has been written (`pieces[i]` is the text of
    `ids[i]`). All of `ids` when none stops it (max_new_tokens reached)."""
    written = ""
    for i, token in enumerate(ids):
        # the text before this token's newline counts: "go.\n" ends "Action: go."
        before, newline, after = pieces[i].partition("\n") if stop_after else ("", "", "")
        written += before
        if token in stop_ids and (stop_after is None or token == eos_id or stop_after in written):
            return i + 1
        written += newline + after
    return len(ids)
