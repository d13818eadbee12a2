"""The one rule for fitting a prompt and its completion into the model's context.

Every path that turns a prompt into token ids — generation, candidate scoring,
RL training, the vLLM backend — cuts the prompt with `fit_prompt`, so the ids an
action was chosen under are the ids it is trained under. A decision records the
ids it was produced from (`Decision.prompt_ids`) and later stages reuse them
instead of re-encoding the text.

    room = prompt_room(max_positions, completion_tokens)
    ids  = fit_prompt(prompt_ids, room)          # keeps the end: "... Action:"

The cut keeps the *end* of the prompt because the prompt ends with "Action:"; the
renderer (`agents/prompts.py`) is what keeps the goal within this room, so the cut
here is a safety net that a well-sized prompt never reaches.
"""
from __future__ import annotations

MIN_PROMPT_TOKENS = 8


def prompt_room(max_positions: int, completion_tokens: int) -> int:
    """Tokens a prompt may use when `completion_tokens` must follow it in the context."""
    return max(MIN_PROMPT_TOKENS, max_positions - completion_tokens)


def fit_prompt(prompt_ids: list[int], room: int) -> list[int]:
    """The last `room` tokens of `prompt_ids` (all of them when they fit)."""
    return list(prompt_ids[-room:]) if len(prompt_ids) > room else list(prompt_ids)


def encode_prompts(tokenizer, prompts: list[str], max_positions: int,
                   completion_tokens: list[int]) -> list[list[int]]:
    """Each prompt's ids, cut so that `completion_tokens[i]` more tokens fit (every backend)."""
    encoded = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    return [fit_prompt(ids, prompt_room(max_positions, n))
            for ids, n in zip(encoded, completion_tokens)]


def encode_candidates(tokenizer, completions: list[str]) -> list[list[int]]:
    """Each candidate completion's ids with EOS, as rank mode scores it (every backend)."""
    if not completions:
        return []
    eos = tokenizer.eos_token_id
    return [ids + [eos] for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]]
