"""Prompt-completion datasets for the three objectives, built from stored experience.

    IL   render(s)                                   -> " a"
    IWM  render(s, suffix="Action: a\\nNext observation:") -> " s'"
    SR   render(s, suffix="Reflection:")              -> " reflection\\nAction: a"

With a `LengthBudget` (the model's tokenizer, its context and the room evaluation
and RL keep for an action), every row is rendered to fit: an IL prompt gets
exactly the room an agent's prompt gets at evaluation and in RL, so the model
is trained on the view of a state it will act on; IWM and SR prompts get what
their longer completions leave (see `LengthBudget`). The renderer never gives up
the goal first (`agents/prompts.py`). Without a budget the rows are rendered
whole (the text the embedded tokenizer is trained on).

Counting is batched over the whole column with the fast tokenizer: one call for
the completions, one for the prompts; only the rows over their budget are fitted
part by part.

`expert_fraction` keeps that fraction of the expert trajectories (whole
tasks, chosen with a fixed seed) and every dataset is built from the same
kept tasks; `k` uses only the first `k` alternatives of each state (the
stored K or fewer). Each dataset is a `datasets.Dataset` with `prompt` and
`completion` columns, ready for TRL's SFTTrainer with completion-only loss.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from datasets import Dataset

from earlyexp.agents.prompts import (
    ACTION_TAG, REFLECTION_TAG, LengthBudget, PromptFormat, PromptRenderer, Rendered, State,
    clip_middle,
)
from earlyexp.errors import ConfigError, EmptyDatasetError
from earlyexp.experience.records import Reflection, Transition
from earlyexp.experience.reflection import BranchGroup, Reflector, group_transitions

log = logging.getLogger(__name__)

NEXT_OBS_TAG = "Next observation:"


def select_tasks(transitions: list[Transition], expert_fraction: float, seed: int
                 ) -> list[Transition]:
    """Transitions of a seeded `expert_fraction` of the tasks (whole trajectories)."""
    if not 0 < expert_fraction <= 1:
        raise ConfigError("data.expert_fraction", expert_fraction, "must be in (0, 1]")
    tasks = sorted({(t.task_id, t.seed) for t in transitions})
    keep = max(1, round(expert_fraction * len(tasks))) if tasks else 0
    chosen = set(random.Random(seed).sample(tasks, keep))
    kept = [t for t in transitions if (t.task_id, t.seed) in chosen]
    # Shards hold tasks in the order workers finished them; a canonical order makes the
    # datasets, and so training, identical for identical experience.
    return sorted(kept, key=lambda t: (t.task_id, t.seed, t.step, t.branch))


def stored_k(transitions: list[Transition]) -> int:
    """The branching factor the experience was collected with (max alternatives per state)."""
    return max((t.branch + 1 for t in transitions if not t.is_expert), default=0)


def check_k(transitions: list[Transition], k: int | None) -> int:
    available = stored_k(transitions)
    if k is None:
        return available
    if not 0 <= k <= available:
        raise ConfigError("data.k", k, f"must be between 0 and the stored K={available}")
    return k


@dataclass
class Rows:
    """The rendered rows of one dataset (kept, with what fitting gave up, for reports)."""

    name: str
    rendered: list[Rendered]
    completions: list[str]
    too_long: int = 0          # rows left out: an action longer than the policy may write

    @property
    def prompts(self) -> list[str]:
        return [r.text for r in self.rendered]

    def dataset(self, what: str) -> Dataset:
        if not self.rendered:
            raise EmptyDatasetError(
                f"The {self.name} dataset is empty: the experience holds no {what}. "
                "Check the experience directory and the data options.")
        return Dataset.from_dict({"prompt": self.prompts, "completion": self.completions})


def render_rows(name: str, states: list[State], suffixes: list[str], completions: list[str],
                fmt: PromptFormat, budget: LengthBudget | None, clip: bool = True) -> Rows:
    """Render `states` with their suffixes so that each prompt leaves room for its completion.
    With `clip` False (actions) a completion is never cut: `il_rows` leaves out what is
    too long instead."""
    completions = [f" {clip_middle(c.strip(), _completion_chars(fmt)) if clip else c.strip()}"
                   for c in completions]
    if budget is None:
        return Rows(name, PromptRenderer(fmt).render_all(states, None, suffixes), completions)
    if clip:
        completions, rooms = budget.fit_completions(completions,
                                                    _reserve(states, suffixes, fmt, budget))
    else:  # an action within max_new_tokens: its prompt gets what an agent's prompt gets
        rooms = [min(budget.room, budget.max_positions - n - 1)
                 for n in budget.count(completions)]
    renderer = PromptRenderer(fmt, budget.count)
    return Rows(name, renderer.render_all(states, rooms, suffixes), completions)


#: Tags, newlines and the "(... N more)" note a fitted prompt always carries.
FRAME_TOKENS = 24


def _reserve(states: list[State], suffixes: list[str], fmt: PromptFormat,
             budget: LengthBudget) -> list[int]:
    """Tokens each prompt keeps whatever its completion: goal, suffix, observation floor and
    the first admissible action (goals repeat over a task's rows: each is counted once)."""
    goals = list(dict.fromkeys(s.goal for s in states))
    goal_tokens = dict(zip(goals, budget.count([f"Goal: {g.strip()}" for g in goals])))
    firsts = [s.admissible_actions[0] if fmt.show_admissible and s.admissible_actions else ""
              for s in states]
    return [goal_tokens[s.goal] + n + a + fmt.min_observation_tokens + FRAME_TOKENS
            for s, n, a in zip(states, budget.count(suffixes), budget.count(firsts))]


def _completion_chars(fmt: PromptFormat) -> int:
    # A completion is an action, an observation or a reflection plus an action.
    return 2 * fmt.max_observation_chars


def il_rows(transitions: list[Transition], fmt: PromptFormat,
            budget: LengthBudget | None = None) -> Rows:
    """Expert (state, action) rows. An action is never cut (a cut action is not an action:
    the model would learn to write the cut marker); one longer than the budget's
    `max_new_tokens` is left out, since the policy could never write it, and counted in
    `Rows.too_long`."""
    experts = [t for t in transitions if t.is_expert]
    too_long = 0
    if budget is not None and experts:
        sizes = budget.count([f" {t.action.strip()}" for t in experts])
        kept = [t for t, n in zip(experts, sizes) if n <= budget.max_new_tokens]
        too_long, experts = len(experts) - len(kept), kept
    rows = render_rows("IL", [t.state for t in experts], [ACTION_TAG] * len(experts),
                       [t.action for t in experts], fmt, budget, clip=False)
    rows.too_long = too_long
    return rows


def il_dataset(transitions: list[Transition], fmt: PromptFormat,
               budget: LengthBudget | None = None) -> Dataset:
    rows = il_rows(transitions, fmt, budget)
    if rows.too_long:
        experts = rows.too_long + len(rows.rendered)
        log.warning("IL: %d of %d expert actions are longer than data.max_new_tokens=%d tokens "
                    "and are left out (the policy could never write them); raise "
                    "data.max_new_tokens with eval.max_new_tokens and rl.max_new_tokens to keep "
                    "them", rows.too_long, experts, budget.max_new_tokens)
    what = ("expert transitions whose action fits data.max_new_tokens" if rows.too_long
            else "expert transitions")
    return rows.dataset(what)


def iwm_suffix(action: str) -> str:
    return f"{ACTION_TAG} {action}\n{NEXT_OBS_TAG}"


def iwm_rows(transitions: list[Transition], fmt: PromptFormat, k: int | None = None,
             budget: LengthBudget | None = None) -> Rows:
    k = check_k(transitions, k)
    kept = [t for t in transitions if t.is_expert or t.branch < k]
    return render_rows("IWM", [t.state for t in kept], [iwm_suffix(t.action) for t in kept],
                       [_observation(t.next_obs, fmt) for t in kept], fmt, budget)


def iwm_dataset(transitions: list[Transition], fmt: PromptFormat, k: int | None = None,
                budget: LengthBudget | None = None) -> Dataset:
    return iwm_rows(transitions, fmt, k, budget).dataset("transitions")


def _observation(text: str, fmt: PromptFormat) -> str:
    return clip_middle(text.strip(), fmt.max_observation_chars)


def reflect_all(transitions: list[Transition], reflector: Reflector, k: int | None = None
                ) -> list[Reflection]:
    groups: list[BranchGroup] = group_transitions(transitions, check_k(transitions, k))
    return [r for r in (reflector.reflect(g) for g in groups if g.alternatives) if r is not None]


def sr_rows(reflections: list[Reflection], fmt: PromptFormat,
            budget: LengthBudget | None = None) -> Rows:
    return render_rows("SR", [r.state for r in reflections], [REFLECTION_TAG] * len(reflections),
                       [f"{r.text}\n{ACTION_TAG} {r.expert_action}" for r in reflections],
                       fmt, budget)


def sr_dataset(reflections: list[Reflection], fmt: PromptFormat,
               budget: LengthBudget | None = None) -> Dataset:
    return sr_rows(reflections, fmt, budget).dataset(
        "reflections (does the experience have alternatives, k > 0?)")


def fit_to_length(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    """Trim prompts from the left so that prompt + completion + EOS fits `max_length` tokens
    (TRL truncates from the right, which would cut the completion we train on); completions
    are cut to half of `max_length`. Both columns are tokenised in one batched call each; only
    the rows that overflow are decoded. Rows rendered with a `LengthBudget` already fit."""
    prompts, completions = list(dataset["prompt"]), list(dataset["completion"])
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
    changed = False
    for i, (p, c) in enumerate(zip(p_ids, c_ids)):
        if len(c) > max_length // 2:
            c = c[: max_length // 2]
            completions[i], changed = tokenizer.decode(c), True
        room = max_length - len(c) - 1
        if len(p) > room:
            prompts[i], changed = tokenizer.decode(p[-room:]), True
    if not changed:
        return dataset
    columns = {name: dataset[name] for name in dataset.column_names}
    return Dataset.from_dict({**columns, "prompt": prompts, "completion": completions})
