"""The vLLM backend of `Policy`, for RL rollouts on a GPU (`backend=vllm`).

    policy = VLLMPolicy("runs/warmstart/textworld/il")       # needs CUDA and `pip install '.[vllm]'`
    out = policy.generate(prompts, n=4, temperature=1.0, max_new_tokens=16)
    scored = policy.score_candidates(prompts, candidates)    # rank mode
    policy.load_weights(trainer_model.named_parameters())    # after each RL update, no disk

It behaves like `HFPolicy`: prompts are cut by the same rule (`agents/context.py`) and
the ids sent to the engine are returned with every result; a completion stops at a
newline or EOS and its token ids include the stop token. Its log-probs are the
engine's own (`exact_logprobs = False`): RL recomputes behaviour log-probs with the
trainer on the same ids, so a kernel or precision mismatch cannot bias the update.
`score_candidates` sums each candidate's prompt log-probs (`prompt_logprobs`) over
prompt + candidate sequences; prefix caching shares the prompt between candidates.

Weights go from the trainer to the engine in memory each iteration through the
model's own `load_weights` (Hugging Face parameter names), reached directly where the
engine runs in this process, else through `LLM.collective_rpc`. vLLM is imported
lazily: without it, or without a GPU, construction fails with a clear error.
"""
from __future__ import annotations

import os
from typing import Iterable

import torch

from earlyexp.agents.context import encode_candidates, encode_prompts
from earlyexp.agents.policy import CandidateScores, Generation, cut_completion
from earlyexp.errors import EarlyExpError


class VLLMUnavailableError(EarlyExpError, RuntimeError):
    """Raised when the vLLM backend is asked for without vllm installed or without a GPU."""


def _require_vllm():
    if not torch.cuda.is_available():
        raise VLLMUnavailableError(
            "backend=vllm needs a CUDA GPU and none is visible (torch.cuda.is_available() is "
            "False). Use backend=hf on this machine.")
    try:
        import vllm
    except ImportError as e:
        raise VLLMUnavailableError(
            "backend=vllm needs the vllm package, which is not installed: run "
            "`pip install '.[vllm]'` (or `pip install vllm`), or use backend=hf.") from e
    return vllm


class VLLMPolicy:
    """A `Policy` served by an in-process vLLM engine (see the module docstring)."""

    exact_logprobs = False   # the engine's log-probs are not the trainer's: RL recomputes them

    def __init__(self, path: str, gpu_memory_utilization: float = 0.3, seed: int = 0,
                 max_model_len: int | None = None, dtype: str = "auto"):
        # Keep the engine in this process so that its model object is reachable for
        # in-memory weight updates (vLLM V1 otherwise runs it in a child process).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        vllm = _require_vllm()
        from transformers import AutoTokenizer

        self.path = str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.llm = vllm.LLM(model=self.path, tokenizer=self.path, dtype=dtype, seed=seed,
                            gpu_memory_utilization=gpu_memory_utilization,
                            max_model_len=max_model_len, enable_prefix_caching=True)
        self._vllm = vllm
        self.max_positions = max_model_len or self.llm.llm_engine.model_config.max_model_len
        self.stop_ids = self._stop_ids()

    # ------------------------------------------------------------------ generation
    def generate(self, prompts: list[str], n: int = 1, temperature: float = 1.0,
                 max_new_tokens: int = 32, stop_after: str | None = None
                 ) -> list[list[Generation]]:
        # with stop_after, a newline may not end it: the cut is made in _to_generation
        stops = self.stop_ids if stop_after is None else [self.tokenizer.eos_token_id]
        params = self._vllm.SamplingParams(
            n=n, temperature=max(temperature, 0.0), top_p=1.0, max_tokens=max_new_tokens,
            stop_token_ids=stops, logprobs=0, skip_special_tokens=True,
            include_stop_str_in_output=True)
        rows = self.prompt_ids(prompts, [max_new_tokens] * len(prompts))
        outputs = self.llm.generate([{"prompt_token_ids": r} for r in rows], params,
                                    use_tqdm=False)
        return [[self._to_generation(c, row, stop_after) for c in out.outputs]
                for out, row in zip(outputs, rows)]

    def _to_generation(self, completion, prompt_ids: list[int], stop_after=None) -> Generation:
        ids = list(completion.token_ids)
        logprobs = [float(step[t].logprob) for t, step in zip(ids, completion.logprobs or [])]
        end, text = cut_completion(self.tokenizer, ids, self.stop_ids, stop_after)
        return Generation(text, ids[:end], logprobs[:end], prompt_ids=list(prompt_ids))

    # ------------------------------------------------------------------ scoring
    def score_candidates(self, prompts: list[str], candidates: list[list[str]]
                         ) -> list[CandidateScores]:
        """Summed log-prob of every candidate (+ EOS) of each prompt, like HFPolicy's."""
        options = [encode_candidates(self.tokenizer, cs) for cs in candidates]
        rows = self.prompt_ids(prompts, [max((len(o) for o in opts), default=1)
                                         for opts in options])
        pairs = [(r, o) for r, opts in zip(rows, options) for o in opts]
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate([{"prompt_token_ids": p + c} for p, c in pairs], params,
                                    use_tqdm=False)
        flat = [sum(float(step[t].logprob) for t, step in zip(c, out.prompt_logprobs[len(p):]))
                for (p, c), out in zip(pairs, outputs)]
        results, start = [], 0
        for row, opts in zip(rows, options):
            results.append(CandidateScores(row, opts, flat[start:start + len(opts)]))
            start += len(opts)
        return results

    def score(self, prompts: list[str], completions: list[str]) -> list[float]:
        """Summed log-prob of each completion (+ EOS) given its prompt (pairs)."""
        return [s.scores[0] for s in self.score_candidates(prompts, [[c] for c in completions])]

    def prompt_ids(self, prompts: list[str], completion_tokens: list[int]) -> list[list[int]]:
        """Each prompt's ids, cut by the one rule so `completion_tokens[i]` more fit."""
        return encode_prompts(self.tokenizer, prompts, self.max_positions, completion_tokens)

    # ------------------------------------------------------------------ weight sync
    def load_weights(self, named_parameters: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Push the trainer's current weights (HF names) into the engine, in memory."""
        weights = [(name.removeprefix("module."), p.detach()) for name, p in named_parameters]
        model = self._engine_model()
        if model is not None:
            model.load_weights(weights)
        else:  # engine in another process: ship the tensors to every worker
            self.llm.collective_rpc(_load_weights_on_worker, args=(weights,))
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()  # cached KV blocks belong to the old weights

    def _engine_model(self):
        executor = getattr(self.llm.llm_engine, "model_executor", None)
        worker = getattr(executor, "driver_worker", None)
        for path in (("model_runner", "model"), ("worker", "model_runner", "model")):
            obj = worker
            for attr in path:
                obj = getattr(obj, attr, None)
            if obj is not None:
                return obj
        return None

    # ------------------------------------------------------------------ helpers
    def _stop_ids(self) -> list[int]:
        pieces = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
        return sorted({self.tokenizer.eos_token_id} | {i for i, p in enumerate(pieces) if "\n" in p})


def _load_weights_on_worker(worker, weights) -> None:
    """Runs inside a vLLM worker (`collective_rpc`): load HF-named weights into its model."""
    worker.model_runner.model.load_weights(weights)
