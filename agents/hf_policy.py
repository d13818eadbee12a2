"""The transformers backend of `Policy`: batched generation and scoring on CPU or CUDA.

    policy = load_policy("runs/tiny/il")          # any local causal-LM checkpoint
    out = policy.generate(prompts, n=4, temperature=1.0, max_new_tokens=16)
    scores = policy.score(prompts, completions)    # summed log-probs, for `rank` mode

Generation pads on the left, stops at a newline or EOS and returns, for
every completion, its text (up to the newline), its token ids (including the
stop token, so that RL also learns when to stop) and the log-prob of each
token under the model's untempered distribution (what RL's ratio needs).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from earlyexp.agents.policy import Generation
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

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
                 max_new_tokens: int = 32) -> list[list[Generation]]:
        """`n` completions per prompt; `temperature=0` is greedy."""
        self.model.eval()
        per_chunk = max(1, self.batch_size // n)
        results: list[list[Generation]] = []
        for start in range(0, len(prompts), per_chunk):
            results += self._generate_chunk(prompts[start:start + per_chunk], n, temperature,
                                            max_new_tokens)
        return results

    def _generate_chunk(self, prompts, n, temperature, max_new_tokens):
        enc = self._encode_prompts(prompts, max_new_tokens)
        sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} \
            if temperature > 0 else {"do_sample": False}
        out = self.model.generate(
            **enc, max_new_tokens=max_new_tokens, num_return_sequences=n,
            eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True, output_logits=True, **sampling,
        )
        new_tokens = out.sequences[:, enc["input_ids"].shape[1]:]
        logprobs = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)
        token_logprobs = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        generations = [self._to_generation(ids, lps)
                       for ids, lps in zip(new_tokens.tolist(), token_logprobs.tolist())]
        return [generations[i * n:(i + 1) * n] for i in range(len(prompts))]

    def _to_generation(self, ids: list[int], logprobs: list[float]) -> Generation:
        end = next((i + 1 for i, t in enumerate(ids) if t in self.stop_ids), len(ids))
        ids, logprobs = ids[:end], logprobs[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(text.split("\n", 1)[0], ids, logprobs)

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        """Summed log-prob of each completion given its prompt (pairs, batched)."""
        self.model.eval()
        scores: list[float] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            ids, mask, completion_mask = self.encode_pairs(prompts[chunk], completions[chunk])
            token_logprobs = self.token_logprobs(ids, mask)
            scores += (token_logprobs * completion_mask).sum(-1).tolist()
        return scores

    @torch.no_grad()
    def score_candidates(self, prompts: list[str], candidates: list[list[str]]
                         ) -> list[list[float]]:
        """Summed log-prob of every candidate completion of each prompt.

        Same numbers as `score` on the (prompt, candidate) pairs, but each
        prompt runs through the model once: its key/value cache is copied to
        its candidates, which then only pay for their own few tokens. This is
        what makes `rank` mode affordable on CPU.
        """
        self.model.eval()
        scores: list[list[float]] = []
        per_chunk = max(1, self.batch_size // 4)
        for start in range(0, len(prompts), per_chunk):
            scores += self._score_chunk(prompts[start:start + per_chunk],
                                        candidates[start:start + per_chunk])
        return scores

    def _score_chunk(self, prompts, candidates):
        eos = self.tokenizer.eos_token_id
        options = [[self.tokenizer(c, add_special_tokens=False)["input_ids"] + [eos] for c in cs]
                   for cs in candidates]
        longest = max((len(o) for opts in options for o in opts), default=1)
        enc = self._encode_prompts(prompts, longest)
        mask = enc["attention_mask"]
        out = self.model(**enc, position_ids=(mask.cumsum(-1) - 1).clamp(min=0), use_cache=True)
        owners = torch.tensor([i for i, opts in enumerate(options) for _ in opts],
                              device=self.device)
        flat = [o for opts in options for o in opts]
        if not flat:
            return [[] for _ in prompts]
        first_logprobs = torch.log_softmax(out.logits[:, -1].float(), -1)[owners]  # (N, V)
        cache = out.past_key_values
        cache.reorder_cache(owners)                       # copy each prompt's cache per candidate
        width = max(len(o) for o in flat)
        ids = torch.full((len(flat), width), self.tokenizer.pad_token_id, device=self.device)
        own_mask = torch.zeros((len(flat), width), dtype=torch.long, device=self.device)
        for i, o in enumerate(flat):
            ids[i, :len(o)] = torch.tensor(o)
            own_mask[i, :len(o)] = 1
        full_mask = torch.cat([mask[owners], own_mask], dim=1)
        positions = mask[owners].sum(-1, keepdim=True) + torch.arange(width, device=self.device)
        logits = self.model(input_ids=ids, attention_mask=full_mask, position_ids=positions,
                            past_key_values=cache, use_cache=False).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), -1)  # predicts tokens 1..width-1
        rest = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * own_mask[:, 1:]
        first = first_logprobs.gather(-1, ids[:, :1]).squeeze(-1)
        totals = (first + rest.sum(-1)).tolist()
        result, start = [], 0
        for opts in options:
            result.append(totals[start:start + len(opts)])
            start += len(opts)
        return result

    def encode_pairs(self, prompts: list[str], completions: list[str]):
        """Right-aligned prompt+completion ids, attention mask and completion mask (B, L)."""
        rows = []
        for prompt, completion in zip(prompts, completions):
            c_ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
            c_ids = c_ids + [self.tokenizer.eos_token_id]
            p_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            p_ids = p_ids[-max(1, self.max_positions - len(c_ids)):]
            rows.append((p_ids, c_ids))
        return self.pad_pairs(rows)

    def pad_pairs(self, rows: list[tuple[list[int], list[int]]]):
        """Left-pad (prompt ids, completion ids) pairs into tensors on the policy's device."""
        width = max(len(p) + len(c) for p, c in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        completion_mask = torch.zeros((len(rows), width), dtype=torch.float)
        for i, (p, c) in enumerate(rows):
            seq = p + c
            ids[i, width - len(seq):] = torch.tensor(seq)
            mask[i, width - len(seq):] = 1
            completion_mask[i, width - len(c):] = 1
        return ids.to(self.device), mask.to(self.device), completion_mask.to(self.device)

    def token_logprobs(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-prob of every token given its prefix, (B, L); position 0 gets 0.
        Runs with gradients when called under grad mode (RL uses it for the update)."""
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        picked = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        return torch.nn.functional.pad(picked, (1, 0))

    # ------------------------------------------------------------------ helpers
    def _encode_prompts(self, prompts: list[str], max_new_tokens: int):
        room = max(8, self.max_positions - max_new_tokens)
        self.tokenizer.truncation_side = "left"  # keep the end of the prompt: "Action:"
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, truncation=True,
                             max_length=room, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids",
                                                                      "attention_mask")}

    def _stop_ids(self) -> list[int]:
        """EOS and every token whose text contains a newline (any tokenizer family)."""
        pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
        return sorted({self.tokenizer.eos_token_id} | {i for i, p in enumerate(pieces) if "\n" in p})

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def softmax_sample(scores: list[float], temperature: float, rng) -> tuple[int, float]:
    """Index drawn from softmax(scores / T) (argmax when T == 0) and its log-prob."""
    if temperature <= 0:
        best = max(range(len(scores)), key=scores.__getitem__)
        return best, 0.0
    scaled = [s / temperature for s in scores]
    top = max(scaled)
    log_z = top + math.log(sum(math.exp(s - top) for s in scaled))
    probs = [math.exp(s - log_z) for s in scaled]
    index = rng.choices(range(len(scores)), weights=probs)[0]
    return index, scaled[index] - log_z
