"""The collapse fit (and its refusals), Cov(log π, A) statistics and parameter change."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from earlyexp.experience import collapse as c


# --- the fit ----------------------------------------------------------------------
def test_fit_recovers_known_a_and_b_and_predicts_the_second_half():
    h = np.linspace(2.0, 0.1, 12)                       # entropy falls over 12 iterations
    fit = c.fit_collapse(h, -0.05 * np.exp(h) + 0.9)
    assert fit.ok and fit.n == 12
    assert fit.a == pytest.approx(0.05) and fit.b == pytest.approx(0.9)
    assert fit.ceiling == pytest.approx(0.85)
    assert fit.rmse == pytest.approx(0.0, abs=1e-12) and fit.r2 == pytest.approx(1.0)
    assert fit.holdout_n == 6 and fit.holdout_rmse == pytest.approx(0.0, abs=1e-9)
    fields = ("ok", "n", "a", "b", "ceiling", "rmse", "r2", "holdout_rmse", "holdout_n")
    assert set(fit.to_metrics()) == {f"collapse/{k}" for k in fields}

    rng = np.random.default_rng(0)
    noisy_r = -0.05 * np.exp(h) + 0.9 + rng.normal(0, 0.01, h.size)
    noisy = c.fit_collapse(np.append(h, np.nan), np.append(noisy_r, 0.5))  # NaN point dropped
    slope, intercept = np.polyfit(np.exp(h), noisy_r, 1)
    assert noisy.n == 12
    assert noisy.a == pytest.approx(-slope) and noisy.b == pytest.approx(intercept)
    resid = noisy_r - (slope * np.exp(h) + intercept)
    assert noisy.rmse == pytest.approx(np.sqrt(np.mean(resid ** 2)))
    assert noisy.r2 == pytest.approx(1 - (resid ** 2).sum() / ((noisy_r - noisy_r.mean()) ** 2).sum())
    assert noisy.predict([0.0])[0] == pytest.approx(noisy.ceiling)
    # Cui et al.'s check: fit the first half, predict the second
    s1, i1 = np.polyfit(np.exp(h[:6]), noisy_r[:6], 1)
    expected = np.sqrt(np.mean((noisy_r[6:] - (s1 * np.exp(h[6:]) + i1)) ** 2))
    assert noisy.holdout_rmse == pytest.approx(expected)


def test_degenerate_data_is_refused_not_fitted_with_r2_one():
    # success 0 throughout, entropy wiggling in the 5th decimal: the report
    h = 1.2 + 1e-5 * np.random.default_rng(1).normal(size=8)
    fit = c.fit_collapse(h, np.zeros(8), episodes=32)
    assert not fit.ok and fit.r2 is None and fit.a is None
    assert "success does not vary (all 0)" in fit.reason
    assert "entropy spans only" in fit.reason and "not identifiable" in fit.reason
    assert fit.to_metrics() == {"collapse/ok": 0.0, "collapse/n": 8.0}
    with pytest.raises(ValueError, match="no fit"):
        fit.predict(0.0)


def test_fit_refuses_too_few_points_and_spread_within_noise():
    few = c.fit_collapse([0.5, 0.7, 0.9], [0.1, 0.2, 0.3])
    assert not few.ok and "at least 4" in few.reason and few.n == 3
    flat = c.fit_collapse([0.3] * 5, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert not flat.ok and "entropy does not vary" in flat.reason
    # success creeping from 0.25 to 0.31 on 32 episodes each: binomial noise ~0.08 > spread
    h = np.linspace(1.5, 0.5, 8)
    r = np.linspace(0.25, 0.31, 8)
    noise = np.sqrt(np.mean(r * (1 - r) / 32))
    within = c.fit_collapse(h, r, episodes=32)
    assert not within.ok and "success varies by" in within.reason
    assert f"noise {noise:.3g}" in within.reason
    assert c.fit_collapse(h, r).ok  # a smooth trend has no noise of its own
    # success jumping between 0.25 and 0.31: its second differences say it is all noise
    jumping = c.fit_collapse(h, np.array([0.25, 0.31] * 4))
    assert not jumping.ok and "success varies by" in jumping.reason
    # given standard errors take precedence over estimates
    assert not c.fit_collapse(h, -0.1 * np.exp(h) + 0.8, entropy_se=[1.0] * 8).ok
    # six points fit, but their first half (3) cannot: the check says so
    six = c.fit_collapse(h[:6], -0.1 * np.exp(h[:6]) + 0.8)
    assert six.ok and six.holdout_rmse is None and "first 3 points" in six.holdout_reason
    assert "collapse/holdout_rmse" not in six.to_metrics()
    with pytest.raises(ValueError, match="one success per entropy"):
        c.fit_collapse([0.1, 0.2], [0.3])


def test_series_noise_ignores_a_linear_trend():
    assert c.series_noise(np.arange(10.0)) == pytest.approx(0.0)
    x = np.random.default_rng(2).normal(0, 0.5, 4000) + np.linspace(0, 100, 4000)
    assert c.series_noise(x) == pytest.approx(0.5, rel=0.05)
    assert c.series_noise([1.0, 2.0]) == 0.0
    assert c.series_noise([9.0], standard_errors=[0.3, 0.4]) == pytest.approx(np.sqrt(0.125))


# --- covariance of log-probability and advantage ------------------------------------------
def test_covariance_stats_against_numpy():
    rng = np.random.default_rng(3)
    lp = rng.normal(-1.0, 0.7, (6, 9))
    adv = rng.normal(0.0, 1.0, 6)                      # one advantage per sequence
    mask = (rng.random((6, 9)) > 0.2).astype(float)
    a = np.broadcast_to(adv[:, None], lp.shape)[mask > 0]
    x = lp[mask > 0]
    terms = (x - x.mean()) * (a - a.mean())
    k = max(1, int(0.1 * terms.size))
    top = np.sort(terms)[::-1][:k]
    out = c.logprob_advantage_covariance_stats(torch.tensor(lp, requires_grad=True),
                                               torch.tensor(adv), torch.tensor(mask), 0.1)
    assert out["logp_adv_cov"] == pytest.approx(terms.mean())
    assert out["logp_adv_cov"] == pytest.approx(c.logprob_advantage_covariance(lp, adv, mask))
    assert out["logp_adv_cov/top"] == pytest.approx(top.mean())
    assert out["logp_adv_cov/top_share"] == pytest.approx(top.sum() / np.abs(terms).sum())
    tiny = c.logprob_advantage_covariance_stats([1.0], [2.0])
    assert tiny == {"logp_adv_cov": 0.0, "logp_adv_cov/top": 0.0, "logp_adv_cov/top_share": 0.0}
    # the paper's small fraction still selects one token
    assert c.logprob_advantage_covariance_stats(lp, adv, mask, 0.0002)["logp_adv_cov/top"] == \
        pytest.approx(terms.max())
    with pytest.raises(ValueError, match="top_fraction"):
        c.logprob_advantage_covariance_stats(lp, adv, mask, 0.0)


# --- parameters changed ----------------------------------------------------------------
def test_parameter_change_on_a_small_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16,
                                         num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, tie_word_embeddings=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sizes = {k: v.numel() for k, v in before.items()}
    with torch.no_grad():
        model.model.embed_tokens.weight[0] += 1.0                     # 8 entries
        model.model.layers[0].self_attn.q_proj.weight[:2] += 0.1      # 16 entries
        model.model.layers[0].mlp.up_proj.weight.mul_(1 + 1e-7)       # within tolerance
        model.lm_head.weight[:, 0] -= 0.5                             # 32 entries
    change = c.parameter_change(before, model.state_dict())
    assert change.total == sum(sizes.values()) and change.changed == 8 + 16 + 32
    assert change.by_type["embedding"] == (8, 32 * 8)
    assert change.by_type["attention"][0] == 16 and change.by_type["mlp"][0] == 0
    assert change.by_type["norm"] == (0, 3 * 8) and change.by_type["head"] == (32, 32 * 8)
    metrics = change.to_metrics()
    assert metrics["params/changed"] == pytest.approx(56 / change.total)
    assert metrics["params/changed/head"] == pytest.approx(1 / 8)
    assert c.parameter_change(before, before).changed == 0
    with pytest.raises(ValueError, match="only before"):
        c.parameter_change(before, {k: v for k, v in before.items() if "norm" not in k})
