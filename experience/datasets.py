"""Prompt-completion datasets for the three objectives, built from stored experience.

    IL   render(s)                         -> " a"                 (expert transitions)
    IWM  render(s) + " a\\nNext observation:" -> " s'"              (expert and alternatives)
    SR   render(s, "Reflection:")          -> " reflection\\nAction: a"

`expert_fraction` keeps that fraction of the expert trajectories (whole
tasks, chosen with a fixed seed) and every dataset is built from the same
kept tasks; `k` uses only the first `k` alternatives of each state (the
stored K or fewer). Each dataset is a `datasets.Dataset` with `prompt` and
`completion` columns, ready for TRL's SFTTrainer with completion-only loss.
"""
from __future__ import annotations

import random

from datasets import Dataset

from earlyexp.agents.prompts import ACTION_TAG, PromptFormat, render
from earlyexp.errors import ConfigError, EmptyDatasetError
from earlyexp.experience.records import Reflection, Transition
from earlyexp.experience.reflection import BranchGroup, Reflector, group_transitions

NEXT_OBS_TAG = "Next observation:"
REFLECTION_TAG = "Reflection:"


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


def il_dataset(transitions: list[Transition], fmt: PromptFormat) -> Dataset:
    rows = [{"prompt": render(t.state, fmt), "completion": f" {t.action}"}
            for t in transitions if t.is_expert]
    return _dataset(rows, "IL", "expert transitions")


def iwm_prompt(t: Transition, fmt: PromptFormat) -> str:
    return f"{render(t.state, fmt)} {t.action}\n{NEXT_OBS_TAG}"


def iwm_dataset(transitions: list[Transition], fmt: PromptFormat, k: int | None = None
                ) -> Dataset:
    k = check_k(transitions, k)
    rows = [{"prompt": iwm_prompt(t, fmt), "completion": f" {_clip(t.next_obs, fmt)}"}
            for t in transitions if t.is_expert or t.branch < k]
    return _dataset(rows, "IWM", "transitions")


def reflect_all(transitions: list[Transition], reflector: Reflector, k: int | None = None
                ) -> list[Reflection]:
    groups: list[BranchGroup] = group_transitions(transitions, check_k(transitions, k))
    return [r for r in (reflector.reflect(g) for g in groups if g.alternatives) if r is not None]


def sr_prompt(reflection: Reflection, fmt: PromptFormat) -> str:
    return render(reflection.state, fmt).removesuffix(ACTION_TAG) + REFLECTION_TAG


def sr_dataset(reflections: list[Reflection], fmt: PromptFormat) -> Dataset:
    rows = [{"prompt": sr_prompt(r, fmt),
             "completion": f" {r.text}\n{ACTION_TAG} {r.expert_action}"}
            for r in reflections]
    return _dataset(rows, "SR", "reflections (does the experience have alternatives, k > 0?)")


def _clip(observation: str, fmt: PromptFormat) -> str:
    text = observation.strip()
    return text if len(text) <= fmt.max_observation_chars else text[: fmt.max_observation_chars]


def _dataset(rows: list[dict[str, str]], name: str, what: str) -> Dataset:
    if not rows:
        raise EmptyDatasetError(f"The {name} dataset is empty: the experience holds no {what}. "
                         "Check the experience directory and the data options.")
    return Dataset.from_list(rows)
