"""World-model accuracy: does a checkpoint still predict what actions do?

On held-out transitions (the test split, collected as the training experience was:
same sampler, K and seed), every checkpoint of a cell (each warm-start, before and
after RL) is scored on the IWM rows `render(s) + a -> next observation`, teacher-forced:

    nll             -Σ log p(o_t | prompt, o_<t) / tokens    (nats per next-observation token)
    token_accuracy  fraction of tokens where argmax p(. | prompt, o_<t) = o_t
    exact_match     fraction of rows whose every token is that argmax, i.e. greedy decoding
                    reproduces the observation (up to where it would stop)

Tokens are counted as TRL's completion-only loss counts them: the completion is what
`prompt + completion` tokenizes to beyond `prompt`. Written to `world_model.json`.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

PHASE_DIRS = {"before_rl": "warmstart/{m}", "after_rl": "rl/{m}/final"}


def world_model_accuracy(p, num_tasks: int, run_dir: Path, max_rows: int = 200) -> Path:
    """Collect `num_tasks` test tasks' transitions for pipeline config `p` and score every
    checkpoint under `p.run_dir`; writes and returns `run_dir/world_model.json`."""
    from earlyexp.experience.collect import collect
    from earlyexp.experience.storage import ExperienceStore
    from earlyexp.training.compare import WORLD_MODEL_FILE, write_json_atomic

    test_dir = Path(run_dir) / "experience_test"
    policy = p.collect.policy_path or (str(Path(p.run_dir) / "proposer")
                                       if p.collect.sampler == "policy" else None)
    cfg = dataclasses.replace(p.collect_config(str(test_dir), policy), split="test",
                              num_tasks=num_tasks)
    collect(cfg)
    transitions = ExperienceStore(test_dir).transitions()
    transitions = _even_sample(transitions, max_rows)
    rows = []
    for method in p.methods:
        for phase, pattern in PHASE_DIRS.items():
            checkpoint = Path(p.run_dir) / pattern.format(m=method)
            if (checkpoint / "config.json").is_file():
                scores = score_checkpoint(checkpoint, transitions, p)
                rows.append({"warmstart": method, "phase": phase, **scores})
    path = Path(run_dir) / WORLD_MODEL_FILE
    write_json_atomic(path, {"format": 1, "tasks": num_tasks, "split": "test",
                             "transitions": len(transitions), "rows": rows})
    return path


def _even_sample(items: list, n: int) -> list:
    """At most `n` items spread evenly over the list (deterministic)."""
    if len(items) <= n:
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def score_checkpoint(checkpoint: Path, transitions: list, p) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from earlyexp.agents.hf_policy import resolve_device
    from earlyexp.agents.prompts import LengthBudget
    from earlyexp.experience.datasets import iwm_dataset

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    device = resolve_device(p.model.device)
    context = getattr(model.config, "max_position_embeddings", None) or 2048
    budget = LengthBudget.for_tokenizer(tokenizer, context, p.data.max_new_tokens)
    ds = iwm_dataset(transitions, p.env.prompt_format(), p.data.k, budget)
    return score_completions(model.to(device), tokenizer, list(ds["prompt"]),
                             list(ds["completion"]), device=device)


def completion_ids(tokenizer, prompt: str, completion: str) -> tuple[list[int], int]:
    """(ids of prompt + completion, index of the first completion token), as TRL splits."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    full = tokenizer(prompt + completion)["input_ids"]
    return full, len(prompt_ids)


def score_completions(model, tokenizer, prompts: list[str], completions: list[str],
                      batch_size: int = 16, device: str = "cpu") -> dict[str, Any]:
    """Teacher-forced NLL per token, token accuracy and exact match of the completions."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [completion_ids(tokenizer, p, c) for p, c in zip(prompts, completions)]
    nll, tokens, correct, exact = 0.0, 0, 0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            batch = encoded[i:i + batch_size]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (seq, _) in enumerate(batch):
                ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1)       # [B, L, V]
            for row, (seq, start) in enumerate(batch):
                if start >= len(seq):
                    continue                                       # nothing to predict
                targets = torch.tensor(seq[start:], device=logp.device)  # [T]
                predicted = logp[row, start - 1:len(seq) - 1]      # [T, V]: position t-1 -> t
                nll -= predicted.gather(1, targets[:, None]).sum().item()
                hits = predicted.argmax(-1) == targets
                tokens += len(targets)
                correct += int(hits.sum())
                exact += bool(hits.all())
    return {"nll": nll / max(1, tokens), "token_accuracy": correct / max(1, tokens),
            "exact_match": exact / max(1, len(encoded)), "tokens": tokens,
            "examples": len(encoded)}


def read_world_model(run_dir: str | Path) -> dict[str, Any] | None:
    from earlyexp.training.compare import WORLD_MODEL_FILE
    try:
        return json.loads((Path(run_dir) / WORLD_MODEL_FILE).read_text())
    except (OSError, ValueError):
        return None
