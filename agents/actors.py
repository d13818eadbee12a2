"""Agents: turn a batch of states into actions.

    agent.act(states, infos) -> list[Decision]

`LMAgent` wraps any `Policy` in one of two action modes:

- `generate`: the completion of the rendered prompt, parsed by `parse_action`; with
  `reflect_first` (a checkpoint trained on reflections, SR) the prompt ends with
  `Reflection:` and the completion is a reflection, then `Action: <action>` on the next
  line (no `Action:` line: no action);
- `rank` (closed action spaces): every admissible action is scored by its
  summed log-likelihood after the prompt, and the action is drawn from the
  softmax over those scores (argmax at temperature 0). States whose action
  space is open fall back to `generate`.

`ExpertAgent` follows `info["expert_action"]` (the sanity upper bound) and
`RandomAgent` picks a uniformly random admissible action (the floor).
Each `Decision` keeps what RL trains on: the prompt ids the model saw (after the
one cut rule), and either the sampled token ids with their tempered log-probs
(generate) or every candidate's ids and score with the index chosen (rank: the
policy is the categorical `softmax(scores / T)` over those candidates).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from earlyexp.agents.hf_policy import softmax_sample
from earlyexp.agents.policy import Policy
from earlyexp.agents.context import prompt_room
from earlyexp.agents.prompts import (
    ACTION_TAG, REFLECTION_TAG, PromptFormat, PromptRenderer, State, parse_action,
)
from earlyexp.errors import ConfigError

MODES = ("generate", "rank")


@dataclass
class Decision:
    """One chosen action and how it was produced (None = no parseable action)."""

    action: str | None
    prompt: str = ""
    completion: str = ""
    prompt_ids: list[int] = field(default_factory=list)   # what the model saw, after the cut
    token_ids: list[int] = field(default_factory=list)    # generate: sampled ids (+ stop)
    logprobs: list[float] = field(default_factory=list)   # generate: per token; rank: [log π(chosen)]
    entropies: list[float] = field(default_factory=list)  # generate: per token; rank: [H(π)]
    candidates: list[str] | None = None      # rank mode: the scored actions
    scores: list[float] | None = None        # rank mode: their summed log-likelihoods
    candidate_ids: list[list[int]] | None = None   # rank mode: each candidate's ids (+ EOS)
    chosen: int | None = None                # rank mode: index of the action taken


class Agent(Protocol):
    name: str

    def act(self, states: list[State], infos: list[dict[str, Any]]) -> list[Decision]:
        ...


class ExpertAgent:
    """Follows the environment's oracle."""

    name = "expert"

    def act(self, states, infos):
        return [Decision(info["expert_action"]) for info in infos]


class RandomAgent:
    """Uniformly random admissible action (None where the action space is open)."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def act(self, states, infos):
        return [Decision(self.rng.choice(s.admissible_actions) if s.admissible_actions else None)
                for s in states]


class LMAgent:
    """A policy acting through prompts (see the module docstring for the modes)."""

    def __init__(self, policy: Policy, mode: str = "rank", fmt: PromptFormat | None = None,
                 temperature: float = 0.0, max_new_tokens: int = 24, seed: int = 0,
                 name: str = "lm", reflect_first: bool = False):
        if mode not in MODES:
            raise ConfigError("mode", mode, f"must be one of {MODES}")
        if reflect_first and mode != "generate":
            raise ConfigError("reflect_first", True, "needs mode=generate: rank mode scores "
                              "the admissible actions themselves, with no room to reflect")
        self.policy, self.mode, self.fmt = policy, mode, fmt or PromptFormat()
        self.reflect_first = reflect_first
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self.rng = random.Random(seed)
        self.name = name
        tokenizer = getattr(policy, "tokenizer", None)
        self.renderer = (PromptRenderer.for_tokenizer(self.fmt, tokenizer) if tokenizer is not None
                         else PromptRenderer(self.fmt))

    def prompts(self, states: list[State]) -> list[str]:
        """Each state's prompt, fitted to the policy's context (`LengthBudget`'s room: the
        context less room for the action — a generated one, or the longest candidate where
        it ranks), so the cut in `agents/context.py` never drops the goal."""
        suffixes = [REFLECTION_TAG if self.reflect_first else ACTION_TAG] * len(states)
        if self.renderer.count is None or not hasattr(self.policy, "max_positions"):
            return [r.text for r in self.renderer.render_all(states, None, suffixes)]
        completion = [self.max_new_tokens] * len(states)
        ranked = [i for i, s in enumerate(states) if self.mode == "rank" and s.admissible_actions]
        if ranked:
            sizes = self.renderer.count([f" {a}" for i in ranked
                                         for a in states[i].admissible_actions])
            for i in ranked:
                n = len(states[i].admissible_actions)
                completion[i] = max(self.max_new_tokens, max(sizes[:n]) + 1)   # + EOS
                sizes = sizes[n:]
        budgets = [prompt_room(self.policy.max_positions, c) for c in completion]
        return [r.text for r in self.renderer.render_all(states, budgets, suffixes)]

    def act(self, states, infos):
        prompts = self.prompts(states)
        decisions: list[Decision | None] = [None] * len(states)
        ranked = [i for i, s in enumerate(states)
                  if self.mode == "rank" and s.admissible_actions]
        for i, decision in zip(ranked, self._rank([prompts[i] for i in ranked],
                                                  [states[i].admissible_actions for i in ranked])):
            decisions[i] = decision
        free = [i for i in range(len(states)) if decisions[i] is None]
        for i, decision in zip(free, self._generate([prompts[i] for i in free])):
            decisions[i] = decision
        return decisions

    def _generate(self, prompts: list[str]) -> list[Decision]:
        if not prompts:
            return []
        reflecting = {"stop_after": ACTION_TAG} if self.reflect_first else {}
        outs = self.policy.generate(prompts, n=1, temperature=self.temperature,
                                    max_new_tokens=self.max_new_tokens, **reflecting)
        return [Decision(self._action(g.text), p, g.text, g.prompt_ids, g.token_ids,
                         g.logprobs, g.entropies) for p, (g,) in zip(prompts, outs)]

    def _action(self, completion: str) -> str | None:
        if self.reflect_first and ACTION_TAG not in completion:
            return None  # the reflection ran out of tokens before the action
        return parse_action(completion)

    def _rank(self, prompts: list[str], candidates: list[list[str]]) -> list[Decision]:
        if not prompts:
            return []
        scored = self.policy.score_candidates(prompts, [[f" {a}" for a in actions]
                                                        for actions in candidates])
        decisions = []
        for prompt, actions, s in zip(prompts, candidates, scored):
            index, logprob, entropy = softmax_sample(s.scores, self.temperature, self.rng)
            decisions.append(Decision(
                actions[index], prompt, f" {actions[index]}", s.prompt_ids,
                logprobs=[logprob], entropies=[entropy], candidates=list(actions),
                scores=s.scores, candidate_ids=s.candidate_ids, chosen=index))
        return decisions
