"""Rank-mode candidate scoring: the shipped shared-prefix packing vs two baselines, in
one process, on the same turn samples and weights.

    packed        agents/scoring.py: prompt + all its candidates in one sequence under a
                  tree attention mask (what acting and the RL update run)
    kv_copy       the previous scorer: the prompt's key/value cache computed once, then
                  copied to every candidate (`reorder_cache`), candidates run on top
    per_candidate the textbook baseline: every (prompt + candidate) its own padded row

For each: milliseconds per turn sample for acting (no gradients) and for the update
(forward + backward), and the largest score difference from `per_candidate` (the
three must agree). The model is the demo's tiny Llama (`configs/experiment/demo.yaml`);
prompts and candidate counts are TextWorld-like (150-280 prompt tokens, 20 candidates
of 3-8 tokens). Interleaved `ROUNDS` times, median kept.

    .venv/bin/python benchmarks/bench_candidate_scoring.py
"""
from __future__ import annotations

import inspect
import random
import statistics
import time

import torch
from bench_warmstart_throughput import cpu_model
from common import emit

from earlyexp import threads
from earlyexp.agents.scoring import candidate_scores, left_pad, pack_candidates

VOCAB, TURNS, CANDIDATES, ROUNDS = 1024, 16, 20, 2


def tiny_lm():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=VOCAB, hidden_size=128, num_hidden_layers=3, num_attention_heads=4,
        intermediate_size=384, max_position_embeddings=320, pad_token_id=0)).eval()


def turns(rng: random.Random):
    def ids(n: int) -> list[int]:
        return [rng.randrange(1, VOCAB) for _ in range(n)]

    prompts = [ids(rng.randrange(150, 280)) for _ in range(TURNS)]
    return prompts, [[ids(rng.randrange(3, 9)) for _ in range(CANDIDATES)] for _ in prompts]


def packed(model, prompts, candidates) -> torch.Tensor:
    return candidate_scores(model, pack_candidates(prompts, candidates, 0))[0]


def kv_copy(model, prompts, candidates) -> torch.Tensor:
    """The scorer shipped before shared-prefix packing (kept here as the baseline)."""
    ids, mask = left_pad(prompts, 0)
    counts = [len(c) for c in candidates]
    owners = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)[owners]
    cache = getattr(out, "cache", None) or out.past_key_values
    cache.reorder_cache(owners)
    flat = [c for cs in candidates for c in cs]
    cand = torch.zeros((len(flat), max(map(len, flat))), dtype=torch.long)
    own = torch.zeros_like(cand)
    for i, c in enumerate(flat):
        cand[i, :len(c)], own[i, :len(c)] = torch.tensor(c), 1
    positions = mask.sum(-1)[owners, None] + torch.arange(cand.shape[1])
    kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    logits = model(input_ids=cand, attention_mask=torch.cat([mask[owners], own], 1),
                   position_ids=positions, use_cache=False, **{kwarg: cache}).logits
    rest = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, cand[:, 1:, None]).squeeze(-1)
    return first.gather(-1, cand[:, :1]).squeeze(-1) + (rest * own[:, 1:]).sum(-1)


def per_candidate(model, prompts, candidates) -> torch.Tensor:
    rows = [(p, c) for p, cs in zip(prompts, candidates) for c in cs]
    ids, mask = left_pad([p + c for p, c in rows], 0)
    logits = model(input_ids=ids, attention_mask=mask,
                   position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=False).logits
    logp = torch.log_softmax(logits[:, :-1].float(), -1)
    scores = []
    for r, (_, c) in enumerate(rows):
        at = torch.arange(ids.shape[1] - len(c) - 1, ids.shape[1] - 1)
        scores.append(logp[r, at, torch.tensor(c)].sum())
    return torch.stack(scores)


SCORERS = {"packed": packed, "kv_copy": kv_copy, "per_candidate": per_candidate}


def time_scorer(model, scorer, prompts, candidates) -> dict[str, float]:
    t0 = time.perf_counter()
    with torch.no_grad():
        scorer(model, prompts, candidates)
    t1 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    scorer(model, prompts, candidates).logsumexp(0).backward()
    t2 = time.perf_counter()
    return {"act_ms": (t1 - t0) * 1e3 / TURNS, "update_ms": (t2 - t1) * 1e3 / TURNS}


def main() -> None:
    torch.set_num_threads(threads.total_threads())
    model, rng = tiny_lm(), random.Random(0)
    prompts, candidates = turns(rng)
    with torch.no_grad():
        reference = per_candidate(model, prompts, candidates)
        agreement = {name: float((scorer(model, prompts, candidates) - reference).abs().max())
                     for name, scorer in SCORERS.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SCORERS}
    for scorer in SCORERS.values():  # warm-up
        time_scorer(model, scorer, prompts, candidates)
    for _ in range(ROUNDS):
        for name, scorer in SCORERS.items():
            runs[name].append(time_scorer(model, scorer, prompts, candidates))
    report = {name: {key: round(statistics.median(r[key] for r in rs), 1) for key in rs[0]}
              for name, rs in runs.items()}
    for name in report:
        report[name]["max_abs_score_diff"] = agreement[name]
        for key in ("act_ms", "update_ms"):
            report[name][f"{key[:-3]}_vs_packed"] = round(
                report[name][key] / report["packed"][key], 2)
    emit(benchmark="candidate_scoring", cpu=cpu_model(), threads=threads.total_threads(),
         turns=TURNS, candidates=CANDIDATES, scorers=report)


if __name__ == "__main__":
    main()
