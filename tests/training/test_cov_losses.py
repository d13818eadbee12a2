"""Clip-Cov and KL-Cov (Cui et al. 2025) against values and gradients computed with numpy."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from earlyexp.training.rl import losses as L

# 2 sequences x 4 positions; the last position of row 1 is padding
OLD = np.array([[-1.0, -2.0, -0.5, -1.5], [-0.2, -3.0, -1.0, -9.0]])
NEW = OLD + np.array([[0.1, -0.05, 0.4, 0.0], [0.02, 0.3, -0.1, 5.0]])
ADV = np.array([1.5, -1.0])
MASK = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])


def tensors():
    logp = torch.tensor(NEW, requires_grad=True)
    return logp, torch.tensor(OLD), torch.tensor(ADV), torch.tensor(MASK)


def cov_by_hand() -> np.ndarray:
    kept = MASK > 0
    adv = np.broadcast_to(ADV[:, None], NEW.shape)
    c = (NEW - NEW[kept].mean()) * (adv - adv[kept].mean())
    return np.where(kept, c, 0.0)


def test_covariance_terms_by_hand():
    logp, _, adv, mask = tensors()
    got = L.covariance_terms(logp, adv, mask)
    assert not got.requires_grad
    np.testing.assert_allclose(got.numpy(), cov_by_hand(), rtol=1e-12)
    per_token = L.covariance_terms(logp, adv[:, None].expand(2, 4), mask)  # (B, C) advantages
    np.testing.assert_allclose(per_token.numpy(), cov_by_hand(), rtol=1e-12)


def test_kl_cov_loss_and_gradient_by_hand():
    logp, old, adv, mask = tensors()
    loss, stats = L.kl_cov_policy_loss(logp, old, adv, mask, kl_cov_ratio=0.3, kl_cov_coef=0.5)
    # reference: k = max(1, floor(0.3 * 7)) = 2 tokens with the largest c_t get the penalty
    kept = MASK > 0
    c = np.where(kept, cov_by_hand(), -np.inf).ravel()
    top = np.argsort(-c)[:2]
    pen = np.zeros(NEW.size)
    pen[top] = 1.0
    pen = pen.reshape(NEW.shape)
    delta, a = NEW - OLD, ADV[:, None]
    rho = np.exp(delta)
    expected = ((-a * rho + 0.5 * np.abs(delta) * pen) * MASK).sum() / MASK.sum()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12)
    loss.backward()
    grad = (-a * rho + 0.5 * np.sign(delta) * pen) * MASK / MASK.sum()
    np.testing.assert_allclose(logp.grad.numpy(), grad, rtol=1e-10, atol=1e-15)
    assert float(stats["kl_cov_frac"]) == pytest.approx(2 / 7)
    assert float(stats["kl_cov_abs_kl"]) == pytest.approx((np.abs(delta) * MASK).sum() / 7)
    assert float(stats["approx_kl"]) == pytest.approx(((rho - 1 - delta) * MASK).sum() / 7)
    assert float(stats["clipfrac"]) == 0.0
    # the paper's tiny ratio still penalises one token; a coefficient of 0 is the plain surrogate
    _, one = L.kl_cov_policy_loss(*tensors(), kl_cov_ratio=2e-4)
    assert float(one["kl_cov_frac"]) == pytest.approx(1 / 7)
    plain, _ = L.kl_cov_policy_loss(*tensors(), kl_cov_ratio=0.3, kl_cov_coef=0.0)
    assert float(plain.detach()) == pytest.approx((-a * rho * MASK).sum() / 7)


def test_clip_cov_cuts_the_gradient_of_every_candidate_when_the_ratio_allows():
    logp, old, adv, mask = tensors()
    c = cov_by_hand()
    lo, hi = 0.02, 10.0                         # bounds that admit some tokens and not others
    delta, a = NEW - OLD, ADV[:, None]
    rho = np.exp(delta)
    unclipped, clipped = -a * rho, -a * np.clip(rho, 0.8, 1.28)
    binding = clipped > unclipped
    candidates = (c > lo) & (c < hi) & (MASK > 0) & ~binding
    assert 0 < candidates.sum() < 7 and (binding & (MASK > 0)).any()
    loss, stats = L.clip_cov_policy_loss(logp, old, adv, mask, 0.2, 0.28, clip_cov_ratio=1.0,
                                         cov_low=lo, cov_high=hi)
    keep = (~candidates).astype(float)
    expected = (np.maximum(unclipped, clipped) * keep * MASK).sum() / 7
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12)
    loss.backward()
    # gradient flows only through unclipped, unselected tokens: d(-A rho)/d logp = -A rho
    grad = np.where(~binding & (keep > 0), -a * rho, 0.0) * MASK / 7
    np.testing.assert_allclose(logp.grad.numpy(), grad, rtol=1e-10, atol=1e-15)
    assert float(stats["cov_clipfrac"]) == pytest.approx(candidates.sum() / 7)
    assert float(stats["cov_mean"]) == pytest.approx(c[MASK > 0].mean())
    # the usual PPO diagnostics come along, unchanged
    _, ppo_stats = L.clipped_policy_loss(*tensors(), 0.2, 0.28)
    for key, value in ppo_stats.items():
        assert float(stats[key]) == pytest.approx(float(value))


def test_clip_cov_draws_n_random_candidates_reproducibly():
    rng = np.random.default_rng(0)
    old = torch.tensor(rng.normal(-1, 0.3, (8, 50)))
    logp = (old + torch.tensor(rng.normal(0, 0.01, (8, 50)))).requires_grad_(True)
    adv = torch.tensor(rng.normal(0, 1, 8))
    mask = torch.ones(8, 50)
    c = L.covariance_terms(logp, adv, mask)
    eligible = ((c > 0.01) & (c < 5.0)).sum().item()

    def cut(seed):
        g = torch.Generator().manual_seed(seed)
        _, stats = L.clip_cov_policy_loss(logp, old, adv, mask, 0.2, 0.28, 0.01, 0.01, 5.0, g)
        return float(stats["cov_clipfrac"]) * 400

    assert eligible > 4 and cut(1) == pytest.approx(4)   # max(1, floor(0.01 * 400)) = 4
    l1, _ = L.clip_cov_policy_loss(logp, old, adv, mask, 0.2, 0.28, 0.01, 0.01, 5.0,
                                   torch.Generator().manual_seed(7))
    l2, _ = L.clip_cov_policy_loss(logp, old, adv, mask, 0.2, 0.28, 0.01, 0.01, 5.0,
                                   torch.Generator().manual_seed(7))
    assert float(l1.detach()) == float(l2.detach())
    with pytest.raises(ValueError, match="cov_low < cov_high"):
        L.clip_cov_policy_loss(logp, old, adv, mask, 0.2, 0.28, 0.01, 5.0, 1.0)


def test_registry_reads_the_config_keys():
    cfg = SimpleNamespace(clip_low=0.2, clip_high=0.28, clip_cov_ratio=1.0, clip_cov_low=0.02,
                          clip_cov_high=10.0, kl_cov_ratio=0.3, kl_cov_coef=0.5)
    assert set(L.POLICY_LOSSES) == {"clip", "clip_cov", "kl_cov"}
    for name, direct in (("clip", lambda *t: L.clipped_policy_loss(*t, 0.2, 0.28)),
                         ("clip_cov", lambda *t: L.clip_cov_policy_loss(*t, 0.2, 0.28, 1.0,
                                                                        0.02, 10.0)),
                         ("kl_cov", lambda *t: L.kl_cov_policy_loss(*t, 0.3, 0.5))):
        via_registry, _ = L.POLICY_LOSSES[name](*tensors(), cfg)
        assert float(via_registry.detach()) == pytest.approx(float(direct(*tensors())[0].detach()))
