"""Batched evaluation, the expert and random bounds, and generation consistency."""
from __future__ import annotations

from earlyexp.agents.actors import Decision, ExpertAgent, LMAgent, RandomAgent
from earlyexp.agents.hf_policy import load_policy
from earlyexp.training.evaluate import EvalConfig, evaluate


def test_expert_is_perfect_and_random_is_far_below(corridor_env):
    cfg = EvalConfig(split="test", num_envs=5)
    assert evaluate(ExpertAgent(), corridor_env, cfg).success_rate == 1.0
    assert evaluate(RandomAgent(0), corridor_env, cfg).success_rate <= 0.25


def test_checkpoint_reloads_and_acts_in_both_modes(il_checkpoint, corridor_env):
    policy = load_policy(il_checkpoint)
    cfg = EvalConfig(split="train", num_tasks=4, num_envs=4)
    for mode in ("rank", "generate"):
        result = evaluate(LMAgent(policy, mode, corridor_env.prompt_format()), corridor_env, cfg)
        assert len(result.episodes) == 4 and all(e.length >= 1 for e in result.episodes)


def test_batched_and_single_greedy_generation_agree(il_checkpoint):
    """Text, token ids and log-probs: padding a prompt into a batch changes nothing."""
    policy = load_policy(il_checkpoint)
    prompts = [f"Goal: Find the key and open the door.\nObservation: You are in room {i} of a "
               f"corridor of {n} rooms.\nAction:" for i, n in [(0, 5), (3, 5), (1, 9), (4, 5)]]
    batched = [g[0] for g in policy.generate(prompts, temperature=0, max_new_tokens=6)]
    single = [policy.generate([p], temperature=0, max_new_tokens=6)[0][0] for p in prompts]
    for b, s in zip(batched, single):
        assert (b.text, b.token_ids, b.prompt_ids) == (s.text, s.token_ids, s.prompt_ids)
        assert max(abs(x - y) for x, y in zip(b.logprobs, s.logprobs)) < 1e-4


def test_unparseable_generation_is_an_invalid_action(corridor_env):
    class Mute:
        name = "mute"

        def act(self, states, infos):
            return [Decision(None) for _ in states]

    result = evaluate(Mute(), corridor_env, EvalConfig(split="test", num_tasks=2, num_envs=2))
    assert all(e.invalid_actions == e.length > 0 for e in result.episodes)
