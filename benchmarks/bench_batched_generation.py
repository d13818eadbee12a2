"""Actions per second: one `generate` call for 16 live episodes vs 16 separate calls.

Same tiny model, same prompts, greedy, measured in one process; the ratio is
what batching buys evaluation and RL rollouts on CPU.
"""
from __future__ import annotations

import tempfile
import time

import torch

from common import corridor_text, emit

from earlyexp.agents.hf_policy import load_policy
from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model

EPISODES, TOKENS, REPEATS = 16, 12, 5


def main() -> None:
    torch.manual_seed(0)
    texts = corridor_text()
    with tempfile.TemporaryDirectory() as tmp:
        policy = load_policy(create_tiny_model(texts, tmp, TinyModelConfig(vocab_size=512)))
        prompts = [t.rsplit(" ", 1)[0] for t in texts[:EPISODES]]
        batched = single = 0.0
        for repeat in range(REPEATS + 1):  # round 0 warms up both paths (shape caches)
            start = time.perf_counter()
            policy.generate(prompts, temperature=0, max_new_tokens=TOKENS)
            middle = time.perf_counter()
            for prompt in prompts:
                policy.generate([prompt], temperature=0, max_new_tokens=TOKENS)
            if repeat:
                batched += middle - start
                single += time.perf_counter() - middle
    actions = EPISODES * REPEATS
    emit(benchmark="batched_generation", episodes=EPISODES, max_new_tokens=TOKENS,
         params=policy.num_parameters(), batched_actions_per_s=round(actions / batched, 2),
         single_actions_per_s=round(actions / single, 2), ratio=round(single / batched, 2))


if __name__ == "__main__":
    main()
