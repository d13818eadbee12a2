"""Reflectors: rationales that contrast the expert action with the alternatives' outcomes.

Self-reflection trains the model on `reflection + expert action` given the
state. The reflection must only use what was observed: the goal, the expert
action's next state and each alternative's next state, all taken from the
recorded transitions.

Two reflectors share one interface, `reflect(group) -> Reflection | None`:

- `TemplateReflector` writes a deterministic, short rationale (works with any
  model, offline, and is what the tiny default uses);
- `LLMReflector` prompts any `Policy` with the monologue instructions and
  drops reflections that end up recommending a non-expert action.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from earlyexp.agents.policy import Policy
from earlyexp.agents.context import prompt_room
from earlyexp.agents.prompts import PromptFormat, PromptRenderer, render
from earlyexp.experience.records import Reflection, Transition


@dataclass
class BranchGroup:
    """The expert transition at one state and the alternatives branched from it."""

    expert: Transition
    alternatives: list[Transition]


def group_transitions(transitions: list[Transition], k: int | None = None) -> list[BranchGroup]:
    """Group transitions by expert state; keep alternatives with `branch < k` (all if None)."""
    groups: dict[tuple, BranchGroup] = {}
    alternatives: dict[tuple, list[Transition]] = {}
    for t in transitions:
        key = (t.env, t.task_id, t.seed, t.step)
        if t.is_expert:
            groups[key] = BranchGroup(t, [])
        elif k is None or t.branch < k:
            alternatives.setdefault(key, []).append(t)
    for key, group in groups.items():
        group.alternatives = sorted(alternatives.get(key, []), key=lambda t: t.branch)
    return list(groups.values())


class Reflector(Protocol):
    name: str

    def reflect(self, group: BranchGroup) -> Reflection | None:
        ...


def summarize(observation: str, limit: int = 90) -> str:
    """The first sentence of an observation, at most `limit` characters, on one line."""
    text = " ".join(observation.split())
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 3].rstrip() + "..."


def outcome_label(t: Transition, state_observation: str) -> str:
    """Why an outcome helps or not, judged only from the recorded transition."""
    if t.success:
        return "completes the task"
    if not t.valid_action:
        return "is not a valid action here"
    if t.terminated:
        return "ends the episode without success"
    if t.reward > 0:
        return "earns progress toward the goal"
    if " ".join(t.next_obs.split()) == " ".join(state_observation.split()):
        return "changes nothing"
    return "makes no progress"


class TemplateReflector:
    """Deterministic rationale: the goal, what the expert action led to, what each
    alternative led to, and why the expert action is the better move. Kept compact
    because every token of it is a training target."""

    name = "template"

    def __init__(self, outcome_chars: int = 70):
        self.outcome_chars = outcome_chars

    def reflect(self, group: BranchGroup) -> Reflection | None:
        expert, state = group.expert, group.expert.state
        limit = self.outcome_chars
        parts = [f"Goal: {summarize(state.goal, 100)}",
                 f"'{expert.action}' -> {summarize(expert.next_obs, limit)}"]
        if group.alternatives:
            parts.append("Alternatives: " + "; ".join(
                f"'{alt.action}' -> {summarize(alt.next_obs, limit)} "
                f"({outcome_label(alt, state.observation)})" for alt in group.alternatives) + ".")
        why = outcome_label(expert, state.observation)
        if why == "makes no progress":
            why = "follows the path that reaches the goal"
        parts.append(f"So '{expert.action}' is better: it {why}.")
        return Reflection(state, expert.action, _alternatives(group), " ".join(parts), self.name)


MONOLOGUE_INSTRUCTIONS = (
    "You are reflecting on a decision in a text environment. Think out loud in a short "
    "monologue: analyse the current situation and the goal; compare the candidate actions "
    "using only the outcomes observed below; explain, from those outcomes, why the expert "
    "action is the best choice; do not invent facts beyond the given information. End with "
    "one line 'Best action: <action>'."
)


class LLMReflector:
    """Asks a policy for the monologue; keeps it only if it recommends the expert action."""

    name = "llm"

    def __init__(self, policy: Policy, fmt: PromptFormat | None = None,
                 max_new_tokens: int = 160, temperature: float = 0.0):
        self.policy, self.fmt = policy, fmt or PromptFormat()
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.dropped = 0

    def prompt(self, group: BranchGroup) -> str:
        outcomes = [f"Expert action: {group.expert.action} -> "
                    f"{summarize(group.expert.next_obs, 300)}"]
        outcomes += [f"Alternative: {alt.action} -> {summarize(alt.next_obs, 300)}"
                     for alt in group.alternatives]
        outcomes.append("Monologue:")
        state = self._state_text(group.expert.state, "\n".join([MONOLOGUE_INSTRUCTIONS, ""]
                                                               + outcomes))
        return "\n".join([MONOLOGUE_INSTRUCTIONS, "", state, *outcomes])

    def _state_text(self, state, rest: str) -> str:
        """The state without its `Action:` line, fitted (when the policy exposes its tokenizer
        and context) to the room the instructions and outcomes leave, so the model's
        left-cut never removes the instructions or the goal."""
        tokenizer = getattr(self.policy, "tokenizer", None)
        positions = getattr(self.policy, "max_positions", None)
        if tokenizer is None or not positions:
            return render(state, self.fmt, suffix="").rstrip("\n")
        renderer = PromptRenderer.for_tokenizer(self.fmt, tokenizer)
        room = prompt_room(positions, self.max_new_tokens) - renderer.count_one(rest) - 2
        return renderer.render(state, max(8, room), suffix="").text.rstrip("\n")

    def reflect(self, group: BranchGroup) -> Reflection | None:
        text = self._generate(self.prompt(group)).strip()
        if not text or self.recommended(text, group) not in (None, group.expert.action):
            self.dropped += 1
            return None
        text = re.sub(r"\s*Best action:.*$", "", text, flags=re.S | re.I).strip() or text
        return Reflection(group.expert.state, group.expert.action, _alternatives(group), text,
                          self.name)

    @staticmethod
    def recommended(text: str, group: BranchGroup) -> str | None:
        """The candidate action the monologue ends up preferring (last one it names)."""
        match = re.search(r"best action:\s*(.+)", text, flags=re.I)
        tail = match.group(1).strip() if match else text[-200:]
        candidates = [group.expert.action] + [a.action for a in group.alternatives]
        named = [(tail.rfind(c), c) for c in candidates if c and c in tail]
        return max(named)[1] if named else None

    def _generate(self, prompt: str) -> str:
        # Policies stop at a newline, so a multi-line monologue is read line by line.
        lines: list[str] = []
        for _ in range(6):
            out = self.policy.generate([prompt + "\n".join([""] + lines)], n=1,
                                       temperature=self.temperature,
                                       max_new_tokens=self.max_new_tokens)[0][0].text
            if not out.strip():
                break
            lines.append(out.strip())
            if out.lower().lstrip().startswith("best action"):
                break
        return "\n".join(lines)


def _alternatives(group: BranchGroup) -> list[dict[str, str]]:
    return [{"action": a.action, "next_obs": a.next_obs} for a in group.alternatives]


REFLECTORS = {"template": TemplateReflector, "llm": LLMReflector}
