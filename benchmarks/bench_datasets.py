"""Building travel's IWM dataset for training: the old path vs the new, in one process.

Travel's IWM data is the case that stalled (`fit_to_length` spent minutes on 4,197
transitions). Real travel experience (the smoke variant's train tasks, K=4 uniform
alternatives) is repeated to `ROWS` rows, and one tokenizer is trained on it.

- old: rows rendered whole in the old format (every admissible action listed, no
  budget), then the per-row `fit_to_length` (`Dataset.map`, kept here as the
  baseline) cuts them from the left;
- new: rows rendered to the one length budget in travel's configured format (counts
  batched over the column), then the batched `fit_to_length` (whole columns).

It also times the two `fit_to_length`s on the same (old-format) dataset, to separate
the batching from the smaller prompts; their outputs must be identical.

    .venv/bin/python benchmarks/bench_datasets.py
"""
from __future__ import annotations

import random
import time

from common import emit, peak_rss_mb
from datasets import Dataset

import earlyexp.envs as envs
from earlyexp.agents.prompts import LengthBudget, PromptFormat, token_counter
from earlyexp.agents.tiny_model import train_tokenizer
from earlyexp.experience.branching import UniformSampler, collect_task
from earlyexp.experience.datasets import fit_to_length, iwm_rows

ROWS = 4000
MAX_LENGTH = 1024


def per_row_fit_to_length(dataset: Dataset, tokenizer, max_length: int) -> Dataset:
    """The per-row implementation `fit_to_length` had before (the baseline)."""
    def trim(row):
        p_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        c_ids = c_ids[: max_length // 2] if len(c_ids) > max_length // 2 else c_ids
        room = max_length - len(c_ids) - 1
        return {"prompt": tokenizer.decode(p_ids[-room:]) if len(p_ids) > room else row["prompt"],
                "completion": tokenizer.decode(c_ids)}
    return dataset.map(trim)


def travel_transitions():
    env = envs.make("travel", **envs.spec("travel").smoke_kwargs)
    transitions = []
    for task_id in env.tasks("train"):
        transitions += collect_task(env, task_id, 0, 4, UniformSampler(),
                                    random.Random(task_id)).transitions
    env.close()
    return (transitions * (ROWS // len(transitions) + 1))[:ROWS]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    import datasets
    from earlyexp.experience.collect import EnvConfig
    from earlyexp.training.config import compose_config

    datasets.disable_progress_bars()
    transitions = travel_transitions()
    old_fmt = PromptFormat()  # before: admissible actions listed, nothing fitted
    new_fmt = EnvConfig("travel", prompt=dict(
        compose_config("collect", ["env=travel"]).env.get("prompt") or {})).prompt_format()
    old_rows, old_render_s = timed(lambda: iwm_rows(transitions, old_fmt))
    tokenizer = train_tokenizer([p + c for p, c in
                                 zip(old_rows.prompts[:500], old_rows.completions[:500])], 2048)
    dataset = Dataset.from_dict({"prompt": old_rows.prompts, "completion": old_rows.completions})
    old, old_fit_s = timed(lambda: per_row_fit_to_length(dataset, tokenizer, MAX_LENGTH))
    batched, batched_fit_s = timed(lambda: fit_to_length(dataset, tokenizer, MAX_LENGTH))
    same = old["prompt"] == batched["prompt"] and old["completion"] == batched["completion"]
    budget = LengthBudget(MAX_LENGTH, 24, token_counter(tokenizer))
    new_rows, new_render_s = timed(lambda: iwm_rows(transitions, new_fmt, budget=budget))
    new_dataset = new_rows.dataset("transitions")
    _, new_fit_s = timed(lambda: fit_to_length(new_dataset, tokenizer, MAX_LENGTH))
    old_total, new_total = old_render_s + old_fit_s, new_render_s + new_fit_s
    emit(benchmark="datasets", rows=len(dataset), max_length=MAX_LENGTH,
         old_prompt_chars_mean=round(sum(map(len, old_rows.prompts)) / len(dataset)),
         new_prompt_chars_mean=round(sum(map(len, new_rows.prompts)) / len(dataset)),
         old_path_s=round(old_total, 2), new_path_s=round(new_total, 2),
         new_vs_old_speedup=round(old_total / new_total, 1),
         fit_to_length_per_row_s=round(old_fit_s, 2),
         fit_to_length_batched_s=round(batched_fit_s, 2),
         fit_to_length_batched_speedup=round(old_fit_s / batched_fit_s, 2),
         fit_to_length_identical_output=same,
         new_rows_clipped=sum(bool(r.clipped) for r in new_rows.rendered),
         peak_rss_mb=round(peak_rss_mb()))


if __name__ == "__main__":
    main()
