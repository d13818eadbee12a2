"""GRPO / GAE advantages and the RL losses against values computed by hand."""
from __future__ import annotations

import math

import pytest
import torch

from earlyexp.training.rl.advantages import gae, group_advantages
from earlyexp.training.rl.losses import (
    clipped_policy_loss, clipped_value_loss, k3_kl, masked_mean, policy_objective,
)

RETURNS = torch.tensor([[1.0, 0.0, 0.0, 1.0],     # mean .5, sample std sqrt(1/3)
                        [0.0, 0.0, 0.0, 0.0],     # every episode failed: zero variance
                        [3.0, 1.0, 1.0, 1.0]])    # mean 1.5, sample std 1


def test_grpo_normalises_within_each_group():
    adv, zero_var = group_advantages(RETURNS, "group", eps=0.0)
    a = 0.5 / math.sqrt(1 / 3)
    expected = torch.tensor([[a, -a, -a, a], [0, 0, 0, 0], [1.5, -0.5, -0.5, -0.5]])
    torch.testing.assert_close(adv, expected)
    assert zero_var.tolist() == [False, True, False]


def test_dr_grpo_does_not_divide_by_the_std():
    adv, _ = group_advantages(RETURNS, "none")
    expected = torch.tensor([[0.5, -0.5, -0.5, 0.5], [0, 0, 0, 0], [1.5, -0.5, -0.5, -0.5]])
    torch.testing.assert_close(adv, expected)


def test_group_of_equal_nonzero_returns_has_zero_advantage_not_nan():
    adv, zero_var = group_advantages(torch.tensor([[0.7, 0.7, 0.7]]), "group", eps=0.0)
    assert zero_var.tolist() == [True] and adv.tolist() == [[0.0, 0.0, 0.0]]


def test_group_advantages_reject_a_single_rollout_per_group():
    with pytest.raises(ValueError, match="group_size >= 2"):
        group_advantages(torch.tensor([[1.0], [0.0]]))


def test_gae_matches_the_hand_computed_recursion():
    # δ = [0 + .9·.6 - .5, 0 + .9·.8 - .6, 1 + 0 - .8] = [.04, .12, .2];  γλ = .72
    adv, ret = gae(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.5, 0.6, 0.8]), 0.9, 0.8)
    a2 = 0.2
    a1 = 0.12 + 0.72 * a2
    a0 = 0.04 + 0.72 * a1
    torch.testing.assert_close(adv, torch.tensor([a0, a1, a2]))
    torch.testing.assert_close(ret, torch.tensor([a0 + 0.5, a1 + 0.6, a2 + 0.8]))


def test_gae_with_unit_gamma_and_lambda_is_return_to_go_minus_value():
    rewards, values = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.2, 0.1, 0.4])
    adv, ret = gae(rewards, values, 1.0, 1.0)
    torch.testing.assert_close(adv, torch.tensor([1.5, 1.5, 1.0]) - values)
    torch.testing.assert_close(ret, torch.tensor([1.5, 1.5, 1.0]))


def _ratios(ratios):
    old = torch.zeros(1, len(ratios))
    logp = torch.log(torch.tensor([ratios])).requires_grad_(True)
    return logp, old


def test_clip_higher_clips_each_side_at_its_own_bound():
    logp, old = _ratios([1.5, 0.5, 1.25, 0.9])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss, stats = clipped_policy_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.28)
    # min(ρA, clip(ρ)A): 1.5 -> 1.28 (high clip), .5·-1 -> .8·-1 (low clip), 1.25 kept, -.9 kept
    assert loss.item() == pytest.approx(-(1.28 - 0.8 + 1.25 - 0.9) / 4)
    assert stats["clipfrac"].item() == 0.5
    assert stats["clip_low"].item() == 0.25 and stats["clip_high"].item() == 0.25
    loss.backward()
    # clipped tokens get no gradient; the others get -ρA / 4
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, -1.25 / 4, 0.9 / 4]]))
    # with a symmetric 0.2 the ratio 1.25 is clipped too
    sym, sym_stats = clipped_policy_loss(logp.detach(), old, adv, mask, 0.2, 0.2)
    assert sym.item() == pytest.approx(-(1.2 - 0.8 + 1.2 - 0.9) / 4)
    assert sym_stats["clipfrac"].item() == 0.75


def test_clipping_never_hides_a_worse_outcome():
    # ρ = 1.5 with A < 0: the unclipped term is the pessimistic one and keeps its gradient
    logp, old = _ratios([1.5])
    loss, stats = clipped_policy_loss(logp, old, torch.tensor([-1.0]), torch.ones(1, 1), 0.2, 0.28)
    assert loss.item() == pytest.approx(1.5) and stats["clipfrac"].item() == 0.0
    loss.backward()
    assert logp.grad.item() == pytest.approx(1.5)


def test_masked_tokens_do_not_count():
    logp, old = _ratios([2.0, 1.0])
    loss, _ = clipped_policy_loss(logp, old, torch.tensor([1.0]), torch.tensor([[0.0, 1.0]]),
                                  0.2, 0.2)
    assert loss.item() == pytest.approx(-1.0)
    assert masked_mean(torch.ones(2), torch.zeros(2)).item() == 0.0


def test_k3_kl_is_zero_at_the_reference_and_matches_its_formula():
    logp = torch.log(torch.tensor([0.5, 0.2, 0.9])).requires_grad_(True)
    kl = k3_kl(logp, logp.detach())
    assert kl.abs().max().item() == 0.0
    kl.sum().backward()
    assert logp.grad.abs().max().item() == 0.0       # and it exerts no force there
    ref = torch.log(torch.tensor([0.25]))
    value = k3_kl(torch.log(torch.tensor([0.5])), ref).item()
    assert value == pytest.approx(0.5 - math.log(0.5) - 1)   # e^d - d - 1, d = log .25 - log .5
    assert (k3_kl(torch.randn(100), torch.randn(100)) >= 0).all()


def test_clipped_value_loss_by_hand():
    values = torch.tensor([0.9, 0.0])
    old = torch.tensor([0.5, 0.5])
    returns = torch.tensor([1.0, 1.0])
    loss, stats = clipped_value_loss(values, old, returns, clip=0.2)
    # turn 1: V_clip = .7, max(.1², .3²) = .09 (clipped);  turn 2: V_clip = .3, max(1, .49) = 1
    assert loss.item() == pytest.approx(0.5 * (0.09 + 1.0) / 2)
    assert stats["value_clipfrac"].item() == 0.5


def test_policy_objective_adds_kl_and_entropy_terms():
    logp = torch.log(torch.tensor([[0.5, 0.5]]))
    ref = torch.log(torch.tensor([[0.25, 0.25]]))
    entropy = torch.tensor([[1.0, 3.0]])
    mask = torch.ones(1, 2)
    base, _ = policy_objective(logp, logp, torch.tensor([1.0]), mask, 0.2, 0.2)
    assert base.item() == pytest.approx(-1.0)
    full, stats = policy_objective(logp, logp, torch.tensor([1.0]), mask, 0.2, 0.2,
                                   ref, 0.1, entropy, 0.01)
    kl = 0.5 - math.log(0.5) - 1
    assert full.item() == pytest.approx(-1.0 + 0.1 * kl - 0.01 * 2.0)
    assert stats["kl_ref"].item() == pytest.approx(kl)
    assert stats["entropy_bonus"].item() == pytest.approx(2.0)
