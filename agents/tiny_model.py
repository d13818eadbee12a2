"""The embedded default model: a small Llama built from a config, with a BPE tokenizer
trained on the environment's own text.

No model hub is reachable here, so the default policy is created locally and
saved as an ordinary Hugging Face checkpoint directory; `AutoTokenizer` and
`AutoModelForCausalLM` load it like any other, and any local checkpoint path
can replace it.

    from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model
    path = create_tiny_model(texts, "runs/tiny", TinyModelConfig())
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from earlyexp.errors import ConfigError

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


@dataclass
class TinyModelConfig:
    """Size of the embedded default model (defaults: about 3.5M parameters)."""

    vocab_size: int = 2048
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_positions: int = 1024
    seed: int = 0

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ConfigError("model.hidden_size", self.hidden_size,
                              f"must be divisible by model.num_heads={self.num_heads}")
        if self.vocab_size < 300:
            raise ConfigError("model.vocab_size", self.vocab_size,
                              "must be at least 300 (256 byte symbols plus merges)")


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on `texts`, as a `PreTrainedTokenizerFast`.

    Newlines are split off as their own tokens so that "stop at newline"
    means "stop at one token id", and actions never merge with what follows.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\n", behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK,
        padding_side="left", model_max_length=1 << 20,
    )


def create_tiny_model(texts: Iterable[str], out_dir: str | Path,
                      cfg: TinyModelConfig | None = None,
                      built_from: list[str] | None = None) -> Path:
    """Train the tokenizer on `texts`, build a randomly initialised Llama, save both.
    `built_from` names the datasets the texts came from (recorded in tiny_model.json)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cfg = cfg or TinyModelConfig()
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {**asdict(cfg), "built_from": built_from or []}
    (out / "tiny_model.json").write_text(json.dumps(record, indent=1))
    return out
