"""RL end to end on CPU: GRPO and PPO iterations, learning on a toy env, resume, bad input."""
from __future__ import annotations

import json

import pytest
import torch

import earlyexp.envs as envs
from earlyexp.agents.hf_policy import load_policy
from earlyexp.agents.prompts import State, render
from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model
from earlyexp.envs.testing import CorridorEnv, DoorsEnv
from earlyexp.errors import ConfigError
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.rl import (
    NonFiniteLossError, RLConfig, ResumeMismatchError, RewardRangeError, latest_checkpoint,
    train_rl,
)
from earlyexp.training.rl.grpo import GRPO
from earlyexp.training.tracking import read_metrics


TINY = TinyModelConfig(vocab_size=400, hidden_size=64, num_layers=2, num_heads=2,
                       intermediate_size=128, max_positions=384)


def tiny_model_for(env, out):
    """A randomly initialised tiny model whose tokenizer is trained on `env`'s prompts
    (rendered along expert play, each followed by every admissible action)."""
    texts = []
    for task in env.tasks("train"):
        obs, info = env.reset(options={"task_id": task})
        state, done = State(info["goal"], obs, [], info["admissible_actions"]), False
        while not done:
            prompt = render(state)
            texts += [f"{prompt} {a}" for a in info["admissible_actions"]]
            action = info["expert_action"]
            obs, _, terminated, truncated, info = env.step(action)
            state, done = state.advance(action, obs, info["admissible_actions"]), terminated or truncated
    return create_tiny_model(texts * 2, out, TINY)


@pytest.fixture(scope="module")
def doors_model(tmp_path_factory):
    envs.register("doors", "earlyexp.envs.testing:DoorsEnv", override=True)
    return tiny_model_for(DoorsEnv(num_doors=3), tmp_path_factory.mktemp("doors_model"))


@pytest.fixture(scope="module")
def corridor_model(tmp_path_factory):
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    return tiny_model_for(CorridorEnv(num_tasks=12), tmp_path_factory.mktemp("corridor_model"))


SHORT_CORRIDOR = EnvConfig("corridor", {"num_tasks": 12, "max_steps": 8})
DOORS = EnvConfig("doors", {"num_doors": 3, "treasure": "green"})


def rl_config(init, env, out, **overrides) -> RLConfig:
    settings = dict(env=env, init=str(init), iterations=1, tasks_per_iteration=2, group_size=3,
                    minibatch_size=16, learning_rate=1e-3, out_dir=str(out), num_envs=6,
                    checkpoint_every=1)
    return RLConfig(**{**settings, **overrides})


def params(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_grpo_iteration_runs_on_cpu_and_writes_a_loadable_checkpoint(
        corridor_model, tmp_path):
    # temperature 2 for diverse groups; the entropy bonus makes the update move weights even
    # if every group happened to agree
    # out_dir does not exist yet: the trainer creates it (episodes.jsonl is written first)
    result = train_rl(rl_config(corridor_model, SHORT_CORRIDOR, tmp_path / "new" / "run",
                                temperature=2.0,
                                entropy_coef=0.01, minibatch_size=64))
    (record,) = result.history
    metrics = record["metrics"]
    for key in ("success", "return_mean", "entropy", "losses/policy_loss", "losses/approx_kl",
                "losses/clipfrac", "clip_ratio/low_mean", "clip_ratio/high_mean",
                "losses/grad_norm", "rl/zero_variance_groups", "time/generate_s", "time/env_s",
                "time/update_s", "unique_trajectory_ratio", "policy_entropy/choice",
                "policy_entropy", "pass@1", "pass@2", "pass@3", "template_entropy", "vendi",
                "logp_adv_cov", "logp_adv_cov/top", "collapse/ok", "params/changed"):
        assert key in metrics, key
    # one step on exactly the rollout policy: the acting-time log-probs match the update's
    # up to float32 summation order (acting and the update batch different prompts)
    assert metrics["losses/approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["losses/clipfrac"] == 0.0
    assert metrics["losses/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
    groups = record["groups"]
    assert len(groups) == 2 and all(len(g["actions"]) == 3 for g in groups)
    assert len({(g["task_id"], g["seed"]) for g in groups}) == 2
    assert metrics["rl/zero_variance_groups"] == sum(len(set(g["return"])) == 1 for g in groups)
    assert metrics["success"] == sum(s for g in groups for s in g["success"]) / 6
    assert max(len(a) for g in groups for a in g["actions"]) > 1      # multi-turn episodes
    out = tmp_path / "new" / "run"
    assert result.checkpoint == out / "final"
    assert json.loads((result.checkpoint / "rl.json").read_text())["iterations"] == 1
    trained, init = load_policy(result.checkpoint), load_policy(corridor_model)
    assert not torch.equal(params(trained.model), params(init.model))
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1]
    assert (out / "episodes.jsonl").exists()


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_rl_after_a_bf16_trainer_in_the_same_process_still_updates_on_policy(
        corridor_model, tmp_path, algo):
    # The pipeline warm-starts (TRL, bf16 where native) and then runs RL in one process;
    # accelerate keeps the trainer's mixed precision process-wide, and RL's update used to
    # inherit it: bf16 log-probs against float32 rollouts (ratio != 1 on-policy; PPO's
    # values crashed). Here an Accelerator leaves bf16 behind as the warm-start's did.
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(reset_partial_state=False)  # whatever ran before this test
    Accelerator(cpu=True, mixed_precision="bf16")
    result = train_rl(rl_config(corridor_model, SHORT_CORRIDOR, tmp_path, algo=algo,
                                temperature=2.0, entropy_coef=0.01, minibatch_size=64))
    metrics = result.history[0]["metrics"]
    # float32 on both sides differs by summation order only (~1e-7 in a log-prob); the
    # bf16 update measured approx_kl 5e-8 and ratio 1 + 1.5e-5 on this peaked model
    assert metrics["losses/approx_kl"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["losses/ratio_mean"] == pytest.approx(1.0, abs=2e-6)


def test_ppo_with_kl_and_entropy_terms_and_generate_mode(corridor_model, tmp_path):
    cfg = rl_config(corridor_model, SHORT_CORRIDOR, tmp_path, algo="ppo", group_size=2,
                    mode="generate", max_new_tokens=6, kl_coef=0.05, entropy_coef=0.01,
                    ppo_epochs=2, minibatch_size=8)
    metrics = train_rl(cfg).history[0]["metrics"]
    for key in ("losses/value_loss", "losses/value_clipfrac", "charts/explained_variance",
                "losses/kl_ref", "losses/entropy_bonus"):
        assert key in metrics, key
    assert metrics["losses/kl_ref"] >= 0
    assert (tmp_path / "final" / "value_head.pt").exists()


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_rl_raises_success_on_a_learnable_toy_env(doors_model, tmp_path, algo):
    cfg = RLConfig(env=DOORS, init=str(doors_model), algo=algo, iterations=8, tasks_per_iteration=8,
                   group_size=4, learning_rate=1e-3, minibatch_size=32, ppo_epochs=2,
                   out_dir=str(tmp_path), checkpoint_every=100, seed=1)
    curve = train_rl(cfg).success_curve
    assert curve[0] < 0.6                      # a random policy: about one door in three
    assert sum(curve[-3:]) / 3 >= 0.9, curve


def test_resume_reproduces_the_next_iteration_bit_for_bit(corridor_model, tmp_path):
    def cfg(out, iterations):
        return rl_config(corridor_model, SHORT_CORRIDOR, out, iterations=iterations,
                         temperature=2.0, ppo_epochs=2, minibatch_size=8, entropy_coef=0.01)
    straight = train_rl(cfg(tmp_path / "a", 2))
    train_rl(cfg(tmp_path / "b", 1))
    resumed = train_rl(cfg(tmp_path / "b", 2))
    assert [h["iteration"] for h in resumed.history] == [1, 2]
    assert torch.equal(params(straight.policy.model), params(resumed.policy.model))
    assert not torch.equal(params(straight.policy.model), params(load_policy(
        tmp_path / "b" / "checkpoints" / "iter-000001" / "model").model))  # iteration 2 moved
    assert straight.history[1]["groups"] == resumed.history[1]["groups"]
    same = {k: v for k, v in straight.history[1]["metrics"].items() if not k.startswith("time/")}
    assert same == {k: v for k, v in resumed.history[1]["metrics"].items()
                    if not k.startswith("time/")}


def test_resume_against_a_different_config_is_refused_naming_the_keys(doors_model, tmp_path):
    train_rl(rl_config(doors_model, DOORS, tmp_path))
    with pytest.raises(ResumeMismatchError) as info:
        train_rl(rl_config(doors_model, DOORS, tmp_path, iterations=2, learning_rate=5e-4,
                           clip_high=0.3))
    assert set(info.value.differences) == {"learning_rate", "clip_high"}
    assert "learning_rate" in str(info.value) and "clip_high" in str(info.value)
    with pytest.raises(ConfigError, match="resume=true"):
        train_rl(rl_config(doors_model, DOORS, tmp_path, resume=False))
    assert len(train_rl(rl_config(doors_model, DOORS, tmp_path, iterations=2)).history) == 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
        doors_model, tmp_path, monkeypatch):
    real_loss = GRPO.loss

    def loss(self, mb, logp, entropy, values):
        value, stats = real_loss(self, mb, logp, entropy, values)
        if self.cfg_iteration[0] >= 2:
            stats["approx_kl"] = torch.tensor(float("inf"))
        return value, stats

    import earlyexp.training.rl.trainer as trainer
    real_iteration = trainer.run_iteration

    def run_iteration(cfg, iteration, algo, *args):
        algo.cfg_iteration = [iteration]
        return real_iteration(cfg, iteration, algo, *args)

    monkeypatch.setattr(GRPO, "loss", loss)
    monkeypatch.setattr(trainer, "run_iteration", run_iteration)
    with pytest.raises(NonFiniteLossError) as info:
        train_rl(rl_config(doors_model, DOORS, tmp_path, iterations=3))
    assert info.value.iteration == 2 and info.value.statistic == "losses/approx_kl"
    assert latest_checkpoint(tmp_path).name == "iter-000001"
    assert not (tmp_path / "final").exists()
    load_policy(latest_checkpoint(tmp_path) / "model")   # the good checkpoint still loads


def test_groups_that_all_fail_have_zero_advantage_and_change_nothing(
        corridor_model, tmp_path):
    never = EnvConfig("corridor", {"num_tasks": 12, "max_steps": 1})  # one step: nobody wins
    init = params(load_policy(corridor_model).model)
    for filtered in (False, True):
        result = train_rl(rl_config(corridor_model, never, tmp_path / str(filtered),
                                    filter_zero_variance=filtered))
        metrics = result.history[0]["metrics"]
        assert metrics["success"] == 0 and metrics["rl/zero_variance_groups"] == 2
        # no sample carries a gradient: no forward/backward pass is run at all
        assert metrics["rl/skipped_update"] == 1 and "losses/policy_loss" not in metrics
        assert metrics["rl/filtered_groups"] == (2 if filtered else 0)
        assert torch.equal(params(result.policy.model), init)


def test_reward_outside_the_declared_range_is_a_clear_error(doors_model, tmp_path, monkeypatch):
    monkeypatch.setattr(DoorsEnv, "reward_range", (0.0, 0.5))
    env = EnvConfig("doors", {"num_doors": 2, "treasure": "red"})
    cfg = RLConfig(env=env, init=str(doors_model), iterations=1, tasks_per_iteration=4,
                   group_size=4, out_dir=str(tmp_path))
    with pytest.raises(RewardRangeError, match=r"outside its declared reward_range \[0.0, 0.5\]"):
        train_rl(cfg)
    assert latest_checkpoint(tmp_path) is None


def test_cli_runs_rl_from_a_checkpoint(doors_model, tmp_path):
    from rich.console import Console

    from earlyexp.training.rl.cli import run_rl

    console = Console(record=True, width=120)
    code = run_rl(console, [f"init={doors_model}", "env.name=doors", "~env.kwargs",
                            "+env.kwargs={num_doors: 2}",
                            "algo=ppo", "iterations=1", "tasks_per_iteration=2", "group_size=2",
                            f"out_dir={tmp_path}"])
    assert code == 0
    assert "checkpoint:" in console.export_text()
    assert json.loads((tmp_path / "final" / "rl.json").read_text())["algo"] == "ppo"
