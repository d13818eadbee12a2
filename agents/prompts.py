"""What the agent sees: the `State` of an episode and its rendering into a prompt.

One prompt format serves every environment family:

    Goal: <instruction>
    Context: <excerpt of the episode's first observation>     (keep_first_observation)
    <the last H steps, each as "Observation: ...\\nAction: ...">
    Observation: <current observation>
    Admissible actions: a | b | c          (closed action spaces only)
    Action:

**The task never falls out.** Given a token budget and a token counter (the
model's tokenizer), `PromptRenderer` fits the prompt by giving up, in order:

1. past steps, oldest first (steps a family pins stay);
2. the middle of the current observation, down to `min_observation_tokens`
   (a `[... cut ...]` marker shows where);
3. what the family pinned: the first-observation excerpt, then the pinned step;
4. the tail of the admissible-action list (`(... N more)`);
5. the rest of the current observation; and only when even that is not
   enough (a budget smaller than the goal itself), the middle of the goal.

Every `Rendered` says what it gave up, which `earlyexp envs --prompts` counts.
The budget is the one every stage shares, `agents.context.prompt_room(max_positions,
max_new_tokens)`: evaluation and RL render with it, and the warm-start datasets
(`experience/datasets.py`) render each row with it, less whatever the row's
completion needs beyond `max_new_tokens`. `agents.context.fit_prompt` stays the
token-level safety net; a prompt rendered here never reaches it.

A family changes the format through its config (`prompt:` in
`configs/env/<name>.yaml`, the fields of `PromptFormat`), never by code in
the framework: how many steps to show, whether to list admissible actions,
and what must stay — an excerpt of the first observation (customer_service:
its policy) and the latest observation matching a pattern (bfcl: the user's
current request). bfcl's function list lives in its goal, which always stays.

The model's completion is turned back into an action by `parse_action`: the
text after the last `Action:` if the completion contains one, else the first
non-empty line, stripped. Nothing else is guessed; an empty result is `None`,
which the caller counts as an invalid action.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

ACTION_TAG = "Action:"
#: Ends the prompt of an agent that reflects before it acts (trained so by SR).
REFLECTION_TAG = "Reflection:"
CUT_MARKER = " [... cut ...] "
#: What a prompt gave up, in the order the renderer gives things up.
CLIP_KINDS = ("history", "observation", "context", "pinned", "admissible", "goal")

TokenCounter = Callable[[Sequence[str]], list[int]]  # texts -> token counts (batched)


@dataclass
class State:
    """The agent-visible state at one step: goal, recent history, observation, choices."""

    goal: str
    observation: str
    history: list[dict[str, str]] = field(default_factory=list)  # [{"observation", "action"}]
    admissible_actions: list[str] | None = None

    def advance(self, action: str, next_observation: str,
                admissible_actions: list[str] | None) -> "State":
        """The state after `action` led to `next_observation` (history grows by one step)."""
        step = {"observation": self.observation, "action": action}
        return State(self.goal, next_observation, [*self.history, step], admissible_actions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "State":
        return cls(data["goal"], data["observation"], list(data.get("history") or []),
                   data.get("admissible_actions"))


@dataclass(frozen=True)
class PromptFormat:
    """Knobs of the prompt format (set per family under `prompt:` in its env config)."""

    history: int = 4                   # past steps shown at most
    show_admissible: bool = True       # list admissible actions when the space is closed
    max_observation_chars: int = 1500  # longer observations lose their middle first
    keep_first_observation: int = 0    # tokens of the first observation kept as `Context:`
    keep_latest: str | None = None     # regex: the latest past observation matching it stays
    min_observation_tokens: int = 32   # the current observation is clipped no further first

    def __post_init__(self):
        if self.history < 0 or self.max_observation_chars < 16:
            raise ValueError(
                f"PromptFormat needs history >= 0 and max_observation_chars >= 16, got "
                f"history={self.history}, max_observation_chars={self.max_observation_chars}"
            )
        if self.keep_first_observation < 0 or self.min_observation_tokens < 0:
            raise ValueError(
                "PromptFormat needs keep_first_observation >= 0 and min_observation_tokens >= 0, "
                f"got {self.keep_first_observation} and {self.min_observation_tokens}")
        if self.keep_latest is not None:
            try:
                re.compile(self.keep_latest)
            except re.error as e:
                raise ValueError(f"PromptFormat keep_latest={self.keep_latest!r} is not a "
                                 f"regular expression: {e}") from e


@dataclass(frozen=True)
class Rendered:
    """A prompt and what fitting it into its budget gave up (`CLIP_KINDS`)."""

    text: str
    tokens: int | None = None          # None when rendered without a counter
    dropped_steps: int = 0             # shown-history steps given up for the budget
    clipped: frozenset[str] = frozenset()


def token_counter(tokenizer) -> TokenCounter:
    """A batched counter over a Hugging Face tokenizer (the ids the policy will encode)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    fast = getattr(backend, "encode_batch_fast", None)  # ids only, no offsets: ~20% faster

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if fast is not None:
            return [len(e.ids) for e in fast(list(texts), add_special_tokens=False)]
        encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]
    return count


def clip_middle(text: str, limit: int) -> str:
    """`text` with its middle replaced by the cut marker so that it has `limit` characters
    of its own (head and tail kept: both the start and the end of an observation matter)."""
    if len(text) <= limit:
        return text
    head = (limit + 1) // 2
    return text[:head] + CUT_MARKER + text[len(text) - (limit - head):] if limit > head \
        else text[:head] + CUT_MARKER


# ------------------------------------------------------------------ the parts of a prompt
@dataclass
class _Part:
    """One piece of a prompt: `head + body + tail`; fitting clips only the body."""

    kind: str        # goal | context | step | observation | admissible | suffix
    head: str
    body: str
    tail: str = ""
    pinned: bool = False

    @property
    def text(self) -> str:
        return f"{self.head}{self.body}{self.tail}"


def _step_part(step: dict[str, str], fmt: PromptFormat, pinned: bool) -> _Part:
    observation = clip_middle(step["observation"].strip(), fmt.max_observation_chars)
    return _Part("step", "Observation: ", observation, f"\n{ACTION_TAG} {step['action']}", pinned)


def _pinned_step(state: State, fmt: PromptFormat) -> int | None:
    """Index of the latest past step whose observation matches `keep_latest`, unless the
    current observation matches (then nothing earlier needs pinning)."""
    if fmt.keep_latest is None:
        return None
    pattern = re.compile(fmt.keep_latest, re.MULTILINE)
    if pattern.search(state.observation):
        return None
    for index in range(len(state.history) - 1, -1, -1):
        if pattern.search(state.history[index]["observation"]):
            return index
    return None


def _parts(state: State, fmt: PromptFormat, suffix: str) -> list[_Part]:
    parts = [_Part("goal", "Goal: ", state.goal.strip())]
    first_shown = max(0, len(state.history) - fmt.history)
    if fmt.keep_first_observation and first_shown > 0:
        first = clip_middle(state.history[0]["observation"].strip(), fmt.max_observation_chars)
        parts.append(_Part("context", "Context: ", first, pinned=True))
    pinned = _pinned_step(state, fmt)
    if pinned is not None and pinned < first_shown and not (pinned == 0 and len(parts) > 1):
        parts.append(_step_part(state.history[pinned], fmt, pinned=True))
    for index in range(first_shown, len(state.history)):
        parts.append(_step_part(state.history[index], fmt, index == pinned))
    observation = clip_middle(state.observation.strip(), fmt.max_observation_chars)
    parts.append(_Part("observation", "Observation: ", observation))
    if fmt.show_admissible and state.admissible_actions is not None:
        parts.append(_Part("admissible", "Admissible actions: ",
                           " | ".join(state.admissible_actions)))
    parts.append(_Part("suffix", "", suffix))
    return parts


def _join(parts: list[_Part]) -> str:
    return "\n".join(p.text for p in parts)


# ------------------------------------------------------------------ fitting
class PromptRenderer:
    """Renders states into prompts that fit a token budget (see the module docstring).

        renderer = PromptRenderer.for_tokenizer(fmt, tokenizer)
        room = prompt_room(max_positions, max_new_tokens)
        prompts = [r.text for r in renderer.render_all(states, room)]
    """

    def __init__(self, fmt: PromptFormat | None = None, count: TokenCounter | None = None):
        self.fmt, self.count = fmt or PromptFormat(), count

    @classmethod
    def for_tokenizer(cls, fmt: PromptFormat | None, tokenizer) -> "PromptRenderer":
        return cls(fmt, token_counter(tokenizer))

    def render(self, state: State, budget: int | None = None, suffix: str = ACTION_TAG
               ) -> Rendered:
        return self.render_all([state], budget, [suffix])[0]

    def render_all(self, states: Sequence[State], budget: int | Sequence[int] | None = None,
                   suffixes: Sequence[str] | None = None) -> list[Rendered]:
        """Render many states; the token counts of the whole prompts are taken in one batched
        call, and only the prompts over their budget are fitted part by part."""
        suffixes = list(suffixes) if suffixes is not None else [ACTION_TAG] * len(states)
        parts = [_parts(s, self.fmt, x) for s, x in zip(states, suffixes)]
        if self.count is not None and self.fmt.keep_first_observation:
            self._excerpt_context(parts)
        texts = [_join(p) for p in parts]
        if budget is None:
            return [Rendered(t) for t in texts]
        if self.count is None:
            raise ValueError("a token budget needs a token counter: PromptRenderer(fmt, "
                             "token_counter(tokenizer))")
        budgets = [budget] * len(states) if isinstance(budget, int) else list(budget)
        counts = self.count(texts)
        return [Rendered(t, n) if n <= b else _Fitting(p, b, self).run()
                for t, n, p, b in zip(texts, counts, parts, budgets)]

    def _excerpt_context(self, parts: list[list[_Part]]) -> None:
        """Cut each `Context:` part to `keep_first_observation` tokens (the same excerpt of
        the episode's first observation on every later step)."""
        for prompt in parts:
            for part in prompt:
                if part.kind == "context":
                    part.body = _clip_to_tokens(part.body, self.fmt.keep_first_observation,
                                                self.count, part.head)[0]

    def count_one(self, text: str) -> int:
        return self.count([text])[0]

    def shrink(self, part: _Part, tokens: int) -> int:
        """Clip the middle of `part.body` so that the whole part has at most `tokens` tokens;
        returns the part's new token count."""
        part.body, size = _clip_to_tokens(part.body, tokens, self.count, part.head, part.tail)
        return size


class _Fitting:
    """One prompt being fitted: its parts, its budget and what was given up so far.

    Token counts are kept per part and summed (exact for tokenizers that split on
    newlines, such as the embedded one); the whole prompt is counted at the end and,
    if another tokenizer's merges across parts made it longer, fitted again with the
    budget lowered by the excess."""

    STEPS = ("drop_history", "clip_observation", "clip_pinned", "clip_admissible",
             "clip_observation_fully", "clip_goal")

    def __init__(self, parts: list[_Part], budget: int, renderer: PromptRenderer):
        self.original, self.budget, self.renderer = parts, budget, renderer
        self.fmt = renderer.fmt
        self.separator = renderer.count_one("\n")

    def run(self) -> Rendered:
        budget = self.budget
        for _ in range(4):
            self._start(budget)
            for step in self.STEPS:
                if self.over() <= 0:
                    break
                getattr(self, step)()
            text = _join(self.parts)
            tokens = self.renderer.count_one(text)
            if tokens <= self.budget or tokens - self.budget >= budget:
                break
            budget -= tokens - self.budget
        return Rendered(text, tokens, self.dropped, frozenset(self.clipped))

    def _start(self, budget: int) -> None:
        self.parts = [replace(p) for p in self.original]
        self.sizes = self.renderer.count([p.text for p in self.parts])
        self.target, self.dropped, self.clipped = budget, 0, set()

    def over(self) -> int:
        total = sum(self.sizes) + self.separator * (len(self.parts) - 1)
        return total - self.target

    def _remove(self, index: int) -> None:
        del self.parts[index], self.sizes[index]

    def _shrink(self, kind: str, floor: int, label: str, pinned: bool | None = None) -> None:
        """Clip the middle of each part of `kind` until the prompt fits, never below `floor`
        tokens for the part."""
        for index, part in enumerate(self.parts):
            if part.kind != kind or (pinned is not None and part.pinned != pinned):
                continue
            over = self.over()
            target = max(floor, self.sizes[index] - over)
            if over <= 0:
                return
            if target < self.sizes[index]:
                self.sizes[index] = self.renderer.shrink(part, target)
                self.clipped.add(label)

    def drop_history(self) -> None:
        index = 0
        while index < len(self.parts) and self.over() > 0:
            part = self.parts[index]
            if part.kind == "step" and not part.pinned:
                self._remove(index)
                self.dropped += 1
                self.clipped.add("history")
            else:
                index += 1

    def clip_observation(self) -> None:
        self._shrink("observation", self.fmt.min_observation_tokens, "observation")

    def clip_pinned(self) -> None:
        self._shrink("context", 8, "context")
        self._shrink("step", 8, "pinned", pinned=True)
        for kind, label in (("context", "context"), ("step", "pinned")):
            while self.over() > 0 and any(p.kind == kind for p in self.parts):
                self._remove(next(i for i, p in enumerate(self.parts) if p.kind == kind))
                self.clipped.add(label)

    def clip_admissible(self) -> None:
        """Keep the longest prefix of the admissible list that fits (counts per action)."""
        index = next((i for i, p in enumerate(self.parts) if p.kind == "admissible"), None)
        if index is None:
            return
        part = self.parts[index]
        actions = part.body.split(" | ")
        room = self.sizes[index] - self.over()
        keep, spent = 0, self.renderer.count_one(part.head) + 8  # 8: the "(... N more)" note
        # Each action's own count, taken a chunk at a time: a list of thousands of actions
        # is only tokenised as far as the room reaches.
        while keep < len(actions) - 1:
            chunk = self.renderer.count([f" {a} |" for a in actions[keep:keep + 32]])
            for cost in chunk:
                if keep == len(actions) - 1 or spent + cost > room:
                    break
                spent += cost
                keep += 1
            else:
                continue
            break
        keep = max(1, keep)
        part.body = _some_actions(actions, keep)
        self.sizes[index] = self.renderer.count_one(part.text)
        while self.over() > 0 and keep > 1:  # the per-action estimate was short: correct it
            keep = max(1, keep - max(1, self.over() * keep // max(1, self.sizes[index])))
            part.body = _some_actions(actions, keep)
            self.sizes[index] = self.renderer.count_one(part.text)
        self.clipped.add("admissible")

    def clip_observation_fully(self) -> None:
        self._shrink("observation", 1, "observation")

    def clip_goal(self) -> None:
        self._shrink("goal", 1, "goal")


def _clip_to_tokens(text: str, tokens: int, count: TokenCounter, head: str = "",
                    tail: str = "") -> tuple[str, int]:
    """The longest middle-clip of `text` for which `head + clip + tail` has at most `tokens`
    tokens, and that count: a binary search on the characters kept, started from the
    proportional guess (only the marker is left when nothing fits)."""
    own = count([f"{head}{text}{tail}"])[0]
    if own <= tokens:
        return text, own
    low, high = 0, len(text) - 1
    probe, best = min(high, len(text) * tokens // max(1, own)), (0, None)
    while low <= high:
        size = count([f"{head}{clip_middle(text, probe)}{tail}"])[0]
        if size <= tokens:
            low, best = probe + 1, (probe, size)
        else:
            high = probe - 1
        probe = (low + high + 1) // 2
    if best[1] is None:  # not even the marker alone fits: keep whichever is shorter
        marker_only = clip_middle(text, 0)
        size = count([f"{head}{marker_only}{tail}"])[0]
        return (marker_only, size) if size < own else (text, own)
    return clip_middle(text, best[0]), best[1]


def clip_to_tokens(texts: Sequence[str], tokens: int, count: TokenCounter) -> list[str]:
    """Each text with its middle cut so that it has at most `tokens` tokens (counted in one
    batch; only the texts over the limit are searched)."""
    sizes = count(texts)
    return [t if n <= tokens else _clip_to_tokens(t, tokens, count)[0]
            for t, n in zip(texts, sizes)]


@dataclass(frozen=True)
class LengthBudget:
    """The one length budget of a model, shared by warm-start data, evaluation and RL.

    `max_positions` is the model's context (`max_position_embeddings`, or a smaller
    `data.max_length`); `max_new_tokens` the room evaluation and RL keep for an action.
    A prompt an agent acts on gets `room = prompt_room(max_positions, max_new_tokens)`.
    A training row gets the same room when its completion fits in `max_new_tokens` (IL:
    the action), else `max_positions - completion - 1` (IWM, SR: the 1 is the EOS that
    TRL appends), so that prompt + completion never exceeds the model and nothing is
    truncated later. Long completions are first cut to half the context, and further where a
    row's prompt must keep more (`reserve`: its goal, suffix and observation floor).
    """

    max_positions: int
    max_new_tokens: int
    count: TokenCounter

    def __post_init__(self):
        if self.max_positions < 16 or self.max_new_tokens < 1:
            raise ValueError("LengthBudget needs max_positions >= 16 "
                             f"and max_new_tokens >= 1, got {self.max_positions} and "
                             f"{self.max_new_tokens}")

    @classmethod
    def for_tokenizer(cls, tokenizer, max_positions: int, max_new_tokens: int
                      ) -> "LengthBudget":
        return cls(max_positions, max_new_tokens, token_counter(tokenizer))

    @property
    def room(self) -> int:
        from earlyexp.agents.context import prompt_room
        return prompt_room(self.max_positions, self.max_new_tokens)

    def fit_completions(self, completions: Sequence[str], reserve: Sequence[int] | None = None
                        ) -> tuple[list[str], list[int]]:
        """Completions cut to at most half the context, and to what leaves each prompt its
        `reserve` tokens; returns them and the prompt room each leaves."""
        reserve = reserve or [0] * len(completions)
        sizes = self.count(completions)
        fitted = []
        for text, size, keep in zip(completions, sizes, reserve):
            limit = max(1, min(self.max_positions // 2, self.max_positions - keep - 1))
            fitted.append(text if size <= limit else _clip_to_tokens(text, limit, self.count)[0])
        sizes = self.count(fitted)
        return fitted, [min(self.room, self.max_positions - n - 1) for n in sizes]


def _some_actions(actions: list[str], keep: int) -> str:
    shown = " | ".join(actions[:keep])
    return shown if keep >= len(actions) else f"{shown} | (... {len(actions) - keep} more)"


def render(state: State, fmt: PromptFormat | None = None, budget: int | None = None,
           count_tokens: TokenCounter | None = None, suffix: str = ACTION_TAG) -> str:
    """The prompt for `state`, ending with `suffix` (`Action:`, so a completion is the action).

    With a `budget` (tokens, usually `prompt_room(max_positions, max_new_tokens)`) and a
    batched `count_tokens` (`token_counter(tokenizer)`), the prompt fits the budget and keeps
    the goal, the essentials of the observation and the admissible actions."""
    return PromptRenderer(fmt, count_tokens).render(state, budget, suffix).text


def parse_action(completion: str) -> str | None:
    """The action in a completion: text after the last `Action:`, else the first line."""
    text = completion
    if ACTION_TAG in text:
        text = text.rsplit(ACTION_TAG, 1)[1]
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None
