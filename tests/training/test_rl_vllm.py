"""The vLLM backend: a clear error without it; on a GPU, generation, scoring and the
in-memory weight push agree with the transformers backend."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from earlyexp.agents.vllm_policy import VLLMPolicy, VLLMUnavailableError

HAS_GPU = torch.cuda.is_available()
HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_GPU and HAS_VLLM, reason="vLLM is usable here")
def test_without_gpu_or_vllm_the_backend_explains_itself(tmp_path):
    with pytest.raises(VLLMUnavailableError, match="backend=hf"):
        VLLMPolicy(str(tmp_path))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from earlyexp.envs.testing import DoorsEnv
    from tests.training.test_rl_training import tiny_model_for
    return tiny_model_for(DoorsEnv(), tmp_path_factory.mktemp("vllm_model"))


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_GPU and HAS_VLLM), reason="needs CUDA and vllm")
def test_vllm_scores_match_hf_and_follow_pushed_weights(model_dir):
    from earlyexp.agents.hf_policy import load_policy

    hf = load_policy(model_dir, "cuda")
    vllm = VLLMPolicy(str(model_dir), gpu_memory_utilization=0.2, dtype="float32")
    prompt = "Goal: Open the door that hides the treasure.\nObservation: hall\nAction:"
    actions = [" open red door", " open blue door", " open green door"]
    torch.testing.assert_close(torch.tensor(vllm.score([prompt] * 3, actions)),
                               torch.tensor(hf.score([prompt] * 3, actions)), atol=1e-3, rtol=1e-3)
    with torch.no_grad():
        for p in hf.model.parameters():
            p.mul_(1.5)
    vllm.load_weights(hf.model.named_parameters())
    torch.testing.assert_close(torch.tensor(vllm.score([prompt] * 3, actions)),
                               torch.tensor(hf.score([prompt] * 3, actions)), atol=1e-3, rtol=1e-3)
    (gens,) = vllm.generate([prompt], n=4, temperature=1.0, max_new_tokens=8)
    assert len(gens) == 4 and all(g.token_ids and len(g.logprobs) == len(g.token_ids)
                                  for g in gens)


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_GPU and HAS_VLLM), reason="needs CUDA and vllm")
def test_vllm_ranks_candidates_on_the_same_ids_as_hf(model_dir):
    from earlyexp.agents.hf_policy import load_policy

    hf = load_policy(model_dir, "cuda")
    vllm = VLLMPolicy(str(model_dir), gpu_memory_utilization=0.2, dtype="float32")
    prompt = "Goal: Open the door that hides the treasure.\n" + "Observation: hall\n" * 200 + "Action:"
    actions = [[" open red door", " open blue door", " open green door"]]
    (a,), (b,) = vllm.score_candidates([prompt], actions), hf.score_candidates([prompt], actions)
    assert a.prompt_ids == b.prompt_ids and a.candidate_ids == b.candidate_ids
    torch.testing.assert_close(torch.tensor(a.scores), torch.tensor(b.scores), atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_GPU and HAS_VLLM), reason="needs CUDA and vllm")
@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_grpo_iteration_with_vllm_rollouts(model_dir, tmp_path, mode):
    import earlyexp.envs as envs
    from earlyexp.experience.collect import EnvConfig
    from earlyexp.training.rl import RLConfig, train_rl

    envs.register("doors", "earlyexp.envs.testing:DoorsEnv", override=True)
    cfg = RLConfig(env=EnvConfig("doors", {"treasure": "green"}), init=str(model_dir),
                   backend="vllm", mode=mode, iterations=2, out_dir=str(tmp_path),
                   learning_rate=1e-3, minibatch_size=256, temperature=1.5,
                   vllm_gpu_memory_utilization=0.2)
    history = train_rl(cfg).history
    assert len(history) == 2
    for record in history:
        metrics = record["metrics"]
        assert f"policy_entropy/{'choice' if mode == 'rank' else 'token'}" in metrics
        if "losses/ratio_mean" in metrics:   # one minibatch: behaviour recomputed, on-policy
            assert metrics["losses/ratio_mean"] == pytest.approx(1.0, abs=1e-4)
