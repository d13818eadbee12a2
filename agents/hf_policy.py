"""The transformers backend of `Policy`: batched generation and scoring on CPU or CUDA.

    policy = load_policy("runs/tiny/il")          # any local causal-LM checkpoint
    out = policy.generate(prompts, n=4, temperature=1.0, max_new_tokens=16)
    scored = policy.score_candidates(prompts, candidates)   # `rank` mode

Generation pads on the left, stops at a newline or EOS and returns, for
every completion, its text (up to the newline), its token ids (including the
stop token, so that RL also learns when to stop), the log-prob and entropy of
each token under the tempered distribution it was sampled from, and the prompt
ids it saw. Every prompt is cut by the one rule of `agents/context.py`.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from earlyexp.agents.context import encode_candidates, encode_prompts
from earlyexp.agents.policy import CandidateScores, Generation, cut_completion
from earlyexp.agents.scoring import candidate_scores, left_pad, pack_candidates
from earlyexp.errors import EarlyExpError


class CheckpointError(EarlyExpError, ValueError):
    """Raised when a path is not a loadable causal-LM checkpoint with a tokenizer."""


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_policy(path: str | Path, device: str = "auto", batch_size: int = 32,
                lora: dict | None = None) -> "HFPolicy":
    """Load a local Hugging Face checkpoint directory as a policy (clear errors if it is not one)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path)
    if not (path / "config.json").exists():
        raise CheckpointError(
            f"{path} is not a Hugging Face checkpoint (no config.json). Pass model.path=<dir> "
            "with a causal LM saved by save_pretrained, or leave it empty for the tiny default.")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} has no usable tokenizer ({e}); save one with "
                              "tokenizer.save_pretrained next to the model.") from e
    try:
        model = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} does not hold a causal language model: {e}") from e
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    return HFPolicy(model, tokenizer, resolve_device(device), batch_size)


class HFPolicy:
    """A `Policy` over a transformers causal LM (see the module docstring)."""

    exact_logprobs = True   # its log-probs are the trainer's own: RL may reuse them

    def __init__(self, model, tokenizer, device: torch.device | None = None,
                 batch_size: int = 32):
        self.device = device or resolve_device()
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        self.max_positions = getattr(model.config, "max_position_embeddings", 2048)
        self.stop_ids = self._stop_ids()

    # ------------------------------------------------------------------ token ids
    def prompt_ids(self, prompts: list[str], completion_tokens: list[int]) -> list[list[int]]:
        """Each prompt's ids, cut by the one rule (`agents/context.py`) so that
        `completion_tokens[i]` more tokens fit in the context."""
        return encode_prompts(self.tokenizer, prompts, self.max_positions, completion_tokens)

    def action_ids(self, completions: list[str]) -> list[list[int]]:
        """Each candidate completion's ids with EOS, as rank mode scores it."""
        return encode_candidates(self.tokenizer, completions)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
                 max_new_tokens: int = 32, stop_after: str | None = None
                 ) -> list[list[Generation]]:
        """`n` completions per prompt; `temperature=0` is greedy. Log-probs and entropies
        are those of the distribution sampled from, `softmax(logits / T)`. A completion is
        one line, or with `stop_after` runs to the first newline after that text."""
        self.model.eval()
        rows = self.prompt_ids(prompts, [max_new_tokens] * len(prompts))
        per_chunk = max(1, self.batch_size // n)
        results: list[list[Generation]] = []
        for start in range(0, len(rows), per_chunk):
            results += self._generate_chunk(rows[start:start + per_chunk], n, temperature,
                                            max_new_tokens, stop_after)
        return results

    def _generate_chunk(self, rows, n, temperature, max_new_tokens, stop_after=None):
        from transformers import GenerationConfig

        ids, mask = left_pad(rows, self.tokenizer.pad_token_id, self.device)
        # A fresh GenerationConfig: a checkpoint's own defaults (top_k=50, repetition
        # penalty, ...) would make the sampled distribution differ from softmax(logits / T).
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, num_return_sequences=n, do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None, top_k=0 if temperature > 0 else None,
            top_p=1.0 if temperature > 0 else None,
            # with stop_after, a newline may not end it: the cut is made in _to_generation
            eos_token_id=self.stop_ids if stop_after is None else [self.tokenizer.eos_token_id],
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True, output_logits=True)
        out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        new_tokens = out.sequences[:, ids.shape[1]:]                            # (B·n, T)
        logits = torch.stack(out.logits, dim=1).float()                         # (B·n, T, V)
        logprobs = torch.log_softmax(logits / (temperature if temperature > 0 else 1.0), -1)
        entropies = -(logprobs.exp() * logprobs).sum(-1)                        # (B·n, T)
        token_logprobs = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        generations = [self._to_generation(t, lp, h, rows[i // n], stop_after)
                       for i, (t, lp, h) in
                       enumerate(zip(new_tokens.tolist(), token_logprobs.tolist(),
                                     entropies.tolist()))]
        return [generations[i * n:(i + 1) * n] for i in range(len(rows))]

    def _to_generation(self, ids, logprobs, entropies, prompt_ids, stop_after=None
                       ) -> Generation:
        end, text = cut_completion(self.tokenizer, ids, self.stop_ids, stop_after)
        return Generation(text, ids[:end], logprobs[:end], entropies[:end], list(prompt_ids))

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score_candidates(self, prompts: list[str], candidates: list[list[str]]
                         ) -> list[CandidateScores]:
        """Summed log-prob of every candidate completion (+ EOS) of each prompt.

        Each prompt is cut once for all its candidates (room for its longest one), runs
        through the model once, and its cache is shared by its candidates
        (`agents/scoring.py`, the same code RL trains with).
        """
        self.model.eval()
        options = [self.action_ids(cs) for cs in candidates]
        rows = self.prompt_ids(prompts, [max((len(o) for o in opts), default=1)
                                         for opts in options])
        results: list[CandidateScores] = []
        per_chunk = max(1, self.batch_size // 4)
        for start in range(0, len(rows), per_chunk):
            chunk = slice(start, start + per_chunk)
            results += self._score_chunk(rows[chunk], options[chunk])
        return results

    def _score_chunk(self, rows, options) -> list[CandidateScores]:
        scored = [i for i, opts in enumerate(options) if opts]
        totals: list[list[float]] = [[] for _ in rows]
        if scored:
            batch = pack_candidates([rows[i] for i in scored], [options[i] for i in scored],
                                    self.tokenizer.pad_token_id, self.device)
            scores, _ = candidate_scores(self.model, batch)
            for i, part in zip(scored, torch.split(scores, batch.counts)):
                totals[i] = part.tolist()
        return [CandidateScores(r, o, t) for r, o, t in zip(rows, options, totals)]

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        """Summed log-prob of each completion (+ EOS) given its prompt (pairs)."""
        return [s.scores[0] for s in self.score_candidates(prompts, [[c] for c in completions])]

    # ------------------------------------------------------------------ helpers
    def _stop_ids(self) -> list[int]:
        """EOS and every token whose text contains a newline (any tokenizer family)."""
        pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
        return sorted({self.tokenizer.eos_token_id} | {i for i, p in enumerate(pieces) if "\n" in p})

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def softmax_sample(scores: list[float], temperature: float, rng) -> tuple[int, float, float]:
    """Index drawn from softmax(scores / T), its log-prob and the distribution's entropy
    (nats). T == 0 is the argmax (log-prob 0, entropy 0: a deterministic choice)."""
    if temperature <= 0:
        best = max(range(len(scores)), key=scores.__getitem__)
        return best, 0.0, 0.0
    scaled = [s / temperature for s in scores]
    top = max(scaled)
    log_z = top + math.log(sum(math.exp(s - top) for s in scaled))
    logps = [s - log_z for s in scaled]
    probs = [math.exp(lp) for lp in logps]
    index = rng.choices(range(len(scores)), weights=probs)[0]
    return index, logps[index], -sum(p * lp for p, lp in zip(probs, logps))
