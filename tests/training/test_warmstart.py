"""Warm-start training: datasets, budgets, losses and checkpoints."""
from __future__ import annotations

import json

import pytest

from earlyexp.errors import ConfigError, EmptyDatasetError
from earlyexp.experience.datasets import il_dataset, iwm_dataset, reflect_all, sr_dataset
from earlyexp.experience.reflection import TemplateReflector
from earlyexp.experience.storage import ExperienceStore
from earlyexp.training.warmstart import DataConfig, METHOD_STAGES, datasets_for, warmstart

from .conftest import warmstart_config


def test_il_loss_falls_and_checkpoint_is_complete(il_checkpoint):
    summary = json.loads((il_checkpoint / "warmstart.json").read_text())
    losses = summary["stages"][0]["losses"]
    assert summary["method"] == "il" and summary["steps"] == 60
    assert losses[-1] < 0.7 * losses[0], losses
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        assert (il_checkpoint / name).exists()


def test_iwm_completions_are_the_recorded_next_observations(corridor_env, corridor_experience):
    transitions = ExperienceStore(corridor_experience).transitions()
    fmt = corridor_env.prompt_format()
    ds = iwm_dataset(transitions, fmt)
    assert len(ds) == len(transitions)  # expert moves and every alternative
    for row, t in zip(ds, transitions):
        assert row["completion"] == f" {t.next_obs}"
        assert row["prompt"].endswith(f"{t.action}\nNext observation:")
    assert len(iwm_dataset(transitions, fmt, k=1)) < len(ds)
    with pytest.raises(ConfigError, match="stored K=3"):
        iwm_dataset(transitions, fmt, k=5)


def test_sr_targets_end_with_expert_action_and_name_alternatives(corridor_env,
                                                                 corridor_experience):
    transitions = ExperienceStore(corridor_experience).transitions()
    reflections = reflect_all(transitions, TemplateReflector())
    ds = sr_dataset(reflections, corridor_env.prompt_format())
    assert len(ds) == sum(t.is_expert for t in transitions)
    for row, r in zip(ds, reflections):
        assert row["completion"].endswith(f"\nAction: {r.expert_action}")
        for alt in r.alternatives:
            assert f"'{alt['action']}' -> " in row["completion"]
        assert row["prompt"].endswith("Reflection:")


def test_iwm_keeps_the_update_budget_of_il(corridor_env, corridor_experience, tmp_path):
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path, "iwm", steps=50)
    cfg.budget = "equal_updates"  # budget=paper is tested in test_methods.py
    stages = METHOD_STAGES["iwm"](datasets_for(cfg), cfg)
    assert [s.name for s in stages] == ["iwm", "il"]
    assert sum(s.steps for s in stages) == 50 and stages[0].steps <= 25


def test_expert_fraction_and_empty_data(corridor_env, corridor_experience, tmp_path):
    with pytest.raises(ConfigError, match="expert_fraction"):
        DataConfig(expert_fraction=0)
    transitions = ExperienceStore(corridor_experience).transitions()
    half = warmstart_config(corridor_env, corridor_experience, tmp_path)
    half.data.expert_fraction = 0.5
    assert len(datasets_for(half)["il"]()) < len(il_dataset(transitions,
                                                            corridor_env.prompt_format()))
    with pytest.raises(EmptyDatasetError, match="IL dataset is empty"):
        il_dataset([t for t in transitions if not t.is_expert], corridor_env.prompt_format())


def test_not_a_checkpoint_is_a_clear_error(tmp_path, corridor_env, corridor_experience):
    from earlyexp.agents.hf_policy import CheckpointError, load_policy
    with pytest.raises(CheckpointError, match="no config.json"):
        load_policy(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_policy(tmp_path)
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path / "out")
    cfg.model.path = str(tmp_path / "nowhere")
    with pytest.raises(Exception, match="nowhere"):
        warmstart(cfg)


def test_datasets_do_not_depend_on_shard_order(corridor_env, corridor_experience, tmp_path):
    from earlyexp.experience.datasets import select_tasks
    transitions = ExperienceStore(corridor_experience).transitions()
    forward = select_tasks(transitions, 1.0, 0)
    backward = select_tasks(list(reversed(transitions)), 1.0, 0)
    assert forward == backward


@pytest.mark.parametrize("prompt_loss", [False, True])
def test_prompt_loss_decides_which_tokens_the_loss_covers(il_checkpoint, corridor_env,
                                                          corridor_experience, tmp_path,
                                                          prompt_loss):
    """The first logged loss (before any update) equals the mean next-token NLL computed
    here by hand over the completion's tokens only, or over every token with
    `train.prompt_loss`: the two hand values differ, so the wrong mask fails."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from earlyexp.training.methods.base import Stage
    from earlyexp.training.warmstart import train_stage, training_precision

    tokenizer = AutoTokenizer.from_pretrained(il_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(il_checkpoint)
    rows = {"prompt": ["You are in room 3. Goal: reach room 5.\nAction:",
                       "You are in room 1. Goal: reach room 2.\nAction:"],
            "completion": [" go east", " go west"]}

    def hand_nll(completion_only: bool) -> float:
        total, count = 0.0, 0
        for prompt, completion in zip(rows["prompt"], rows["completion"]):
            n_prompt = len(tokenizer(prompt)["input_ids"])
            ids = tokenizer(prompt + completion)["input_ids"] + [tokenizer.eos_token_id]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
            for position in range(1, len(ids)):
                if completion_only and position < n_prompt:
                    continue
                total -= logp[position - 1, ids[position]].item()
                count += 1
        return total / count

    expected, other = hand_nll(not prompt_loss), hand_nll(prompt_loss)
    assert abs(expected - other) > 0.05  # the test separates the two masks
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path)
    cfg.train.prompt_loss = prompt_loss
    cfg.train.batch_size, cfg.train.logging_steps, cfg.train.learning_rate = 2, 1, 1e-12
    cfg.data.max_length = model.config.max_position_embeddings  # as warmstart() sets it
    report = train_stage(model, tokenizer, Stage("il", Dataset.from_dict(rows), 1), cfg,
                         tmp_path, training_precision(cfg))
    assert report["losses"][0] == pytest.approx(expected, rel=1e-3)


def test_only_the_rows_the_trainer_draws_are_fitted_and_tokenised(
        il_checkpoint, corridor_env, corridor_experience, tmp_path, monkeypatch):
    """A stage with more rows than `steps × batch_size` (IWM under equal_updates) fits and
    tokenises only a uniform draw of that many distinct rows; a smaller one, all of them."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from earlyexp.training import warmstart as ws
    from earlyexp.training.methods.base import Stage

    fitted = []
    real_fit = ws.fit_to_length
    monkeypatch.setattr(ws, "fit_to_length",
                        lambda d, *a: fitted.append(list(d["prompt"])) or real_fit(d, *a))
    tokenizer = AutoTokenizer.from_pretrained(il_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(il_checkpoint)
    rows = Dataset.from_dict({"prompt": [f"You are in room {i}.\nAction:" for i in range(40)],
                              "completion": [" go east"] * 40})
    cfg = warmstart_config(corridor_env, corridor_experience, tmp_path)
    cfg.train.batch_size, cfg.train.logging_steps = 4, 1
    cfg.data.max_length = model.config.max_position_embeddings
    for steps in (2, 2, 12):
        ws.train_stage(model, tokenizer, Stage("iwm", rows, steps), cfg, tmp_path,
                       ws.training_precision(cfg))
    first, again, whole = fitted
    assert len(first) == len(set(first)) == 8 and set(first) <= set(rows["prompt"])
    assert first == again                      # the draw follows train.seed
    assert sorted(whole) == sorted(rows["prompt"])  # 48 draws > 40 rows: every row
