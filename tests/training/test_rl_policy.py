"""RL optimises the policy that acts — each check against a reference written here.

The references are plain full-sequence forward passes of the Hugging Face model and
numpy arithmetic, never the project's scorer or trainer compared with themselves:

- rank mode: every candidate's score, the categorical log_softmax(score / T) over the
  candidates, its gradient (e_a - p) / T, and the ids an action was chosen under;
- generate mode at T != 1: behaviour and trained log-probs both log_softmax(logits / T);
- dropout in a checkpoint does not break ratio = 1 on-policy;
- PPO bootstraps V at truncation and not at termination;
- zero-signal iterations skip the update; dynamic sampling;
- learnability where LM likelihood and the candidate softmax disagree, and in generate
  mode, of the phrase the model is least likely to write.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import earlyexp.envs as envs
from earlyexp.agents.actors import Decision, LMAgent
from earlyexp.agents.hf_policy import load_policy
from earlyexp.agents.prompts import State, render
from earlyexp.agents.scoring import choice_log_probs
from earlyexp.agents.tiny_model import TinyModelConfig, create_tiny_model
from earlyexp.envs.testing import CorridorEnv, PhrasesEnv
from earlyexp.experience.collect import EnvConfig
from earlyexp.training.evaluate import Episode, Turn, run_episodes
from earlyexp.training.rl import RLConfig, train_rl
from earlyexp.training.rl.losses import clipped_policy_loss
from earlyexp.training.rl.model import ActorCritic, collate
from earlyexp.training.rl.ppo import PPO
from earlyexp.training.rl.rollout import Rollouts, to_samples

SHORT_CONTEXT = TinyModelConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, max_positions=48)
PHRASES = EnvConfig("phrases", {"num_tasks": 16})


def env_texts(env) -> list[str]:
    texts = []
    for task in env.tasks("train")[:8]:
        obs, info = env.reset(options={"task_id": task})
        prompt = render(State(info["goal"], obs, [], info["admissible_actions"]))
        texts += [f"{prompt} {a}" for a in info["admissible_actions"]]
    return texts * 3


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    """A random tiny model with a 48-token context: prompts here are longer than that."""
    envs.register("phrases", "earlyexp.envs.testing:PhrasesEnv", override=True)
    texts = env_texts(PhrasesEnv()) + env_texts(CorridorEnv(num_tasks=4))
    return create_tiny_model(texts, tmp_path_factory.mktemp("short"), SHORT_CONTEXT)


@pytest.fixture(scope="module")
def phrases_model(tmp_path_factory):
    """A tiny model fitted to *uniformly random* play of the phrases env: it knows every
    phrase, none is preferred, and the long one is the least likely string."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    envs.register("phrases", "earlyexp.envs.testing:PhrasesEnv", override=True)
    config = TinyModelConfig(vocab_size=300, hidden_size=64, num_layers=2, num_heads=2,
                             intermediate_size=128, max_positions=256)
    path = create_tiny_model(env_texts(PhrasesEnv()), tmp_path_factory.mktemp("phr"), config)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    rows = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in env_texts(PhrasesEnv())]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    for _ in range(60):
        batch = [rows[i] for i in torch.randint(len(rows), (16,)).tolist()]
        width = max(map(len, batch))
        ids = torch.tensor([r + [tokenizer.eos_token_id] * (width - len(r)) for r in batch])
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in batch])
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(path)
    return path


LONG_PROMPT = ("Goal: Open the gate.\n" + "Observation: You wait by the north tower gate.\n"
               "Action: look\n" * 6 + "Observation: The gate is shut.\nAction:")
CANDIDATES = [" say open", " say please open now",
              " say open the old iron gate of the north tower at once"]


def reference_scores(policy, prompt: str, candidates: list[str]) -> tuple[list[int], np.ndarray]:
    """The rule written out: the prompt keeps its last (context - longest candidate) tokens;
    each candidate's score is the sum of its tokens' log-probs (EOS included) in one
    plain forward pass over prompt + candidate."""
    tok, model = policy.tokenizer, policy.model
    options = [tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
               for c in candidates]
    room = policy.max_positions - max(len(o) for o in options)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"][-room:]
    scores = []
    for option in options:
        with torch.no_grad():
            logits = model(torch.tensor([prompt_ids + option])).logits[0].double()
        logp = torch.log_softmax(logits, -1).numpy()
        scores.append(sum(logp[len(prompt_ids) - 1 + j, t] for j, t in enumerate(option)))
    return prompt_ids, np.array(scores)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


# --------------------------------------------------------------------------- rank mode
def test_candidate_scores_and_prompt_ids_match_a_plain_forward_with_a_long_prompt(short_model):
    policy = load_policy(short_model)
    assert len(policy.tokenizer(LONG_PROMPT)["input_ids"]) > policy.max_positions
    prompt_ids, expected = reference_scores(policy, LONG_PROMPT, CANDIDATES)
    (scored,) = policy.score_candidates([LONG_PROMPT], [CANDIDATES])
    assert scored.prompt_ids == prompt_ids
    np.testing.assert_allclose(scored.scores, expected, atol=1e-4)
    # a candidate's score does not depend on which prompts share its batch
    other = "Goal: g\nObservation: a room\nAction:"
    together = policy.score_candidates([other, LONG_PROMPT], [[" look"], CANDIDATES[:1]])
    alone = policy.score_candidates([LONG_PROMPT], [CANDIDATES[:1]])
    assert together[1].prompt_ids == alone[0].prompt_ids
    assert together[1].scores[0] == pytest.approx(alone[0].scores[0], abs=1e-5)


def test_a_ranked_action_is_trained_on_the_ids_it_was_chosen_under(short_model):
    policy = load_policy(short_model)
    actions = [c.removeprefix(" ") for c in CANDIDATES]
    state = State("Open the gate.", "The gate is shut. " * 12, [], actions)
    agent = LMAgent(policy, "rank", temperature=1.0, seed=3)
    (decision,) = agent.act([state], [{}])
    prompt_ids, _ = reference_scores(policy, decision.prompt, CANDIDATES)
    assert decision.prompt_ids == prompt_ids
    episode = Episode("t", 0, [decision.action], turns=[Turn(decision, 1.0, True, "")])
    (sample,) = to_samples(Rollouts([episode], [[0]]))
    assert sample.prompt_ids == prompt_ids and sample.candidate_ids == decision.candidate_ids
    assert CANDIDATES[sample.chosen] == f" {decision.action}"


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_rank_log_prob_and_gradient_are_those_of_the_candidate_softmax(short_model, temperature):
    """log π(a) = log softmax(score / T)[a] and ∇ log π(a) = Σ_c (e_a - p)_c / T · ∇score_c,
    with every ∇score_c from its own plain forward pass."""
    policy = load_policy(short_model)
    chosen = 1
    (scored,) = policy.score_candidates([LONG_PROMPT], [CANDIDATES])
    decision = Decision(CANDIDATES[chosen].strip(), LONG_PROMPT, CANDIDATES[chosen],
                        scored.prompt_ids, logprobs=[0.0], candidates=CANDIDATES,
                        scores=scored.scores, candidate_ids=scored.candidate_ids, chosen=chosen)
    (sample,) = to_samples(Rollouts([Episode("t", 0, turns=[Turn(decision, 1.0, True, "")])],
                                    [[0]]))
    module = ActorCritic(policy.model, temperature=temperature)
    module.zero_grad()
    logp, entropy, _ = module(collate([sample], [0], policy.tokenizer.pad_token_id, "cpu"),
                              with_entropy=True)
    logp[0, -1].backward()
    trained = torch.cat([p.grad.flatten() for p in policy.model.parameters()]).double()

    _, scores = reference_scores(policy, LONG_PROMPT, CANDIDATES)
    p = softmax(scores / temperature)
    assert float(logp[0, -1]) == pytest.approx(np.log(p[chosen]), abs=1e-4)
    assert float(entropy[0, -1]) == pytest.approx(-(p * np.log(p)).sum(), abs=1e-4)
    coefficients = (np.eye(3)[chosen] - p) / temperature
    expected = torch.zeros_like(trained)
    for c, coefficient in zip(sample.candidate_ids, coefficients):
        policy.model.zero_grad()
        ids = torch.tensor([sample.prompt_ids + c])
        logits = policy.model(ids).logits[0]
        start = len(sample.prompt_ids) - 1
        score = torch.log_softmax(logits[start:start + len(c)].float(), -1)[
            torch.arange(len(c)), torch.tensor(c)].sum()
        score.backward()
        expected += coefficient * torch.cat([q.grad.flatten() for q in
                                             policy.model.parameters()]).double()
    assert policy.tokenizer.eos_token_id == sample.candidate_ids[0][-1]
    torch.testing.assert_close(trained, expected, atol=2e-5, rtol=1e-3)


def test_a_uniform_score_shift_changes_nothing_the_policy_does():
    """Raising every candidate's score by the same amount leaves π unchanged: ratio 1,
    no clipping, zero gradient with respect to the shift."""
    scores = torch.tensor([-3.0, -7.5, -12.0])
    shift = torch.tensor(0.5, requires_grad=True)
    old = choice_log_probs(scores, [3], 1.0)[0][1]
    new = choice_log_probs(scores + shift, [3], 1.0)[0][1]
    p = softmax(scores.numpy().astype(np.float64))
    assert float(new) == pytest.approx(np.log(p[1]), abs=1e-6)
    loss, stats = clipped_policy_loss(new.view(1, 1), old.view(1, 1).detach(),
                                      torch.tensor([1.0]), torch.ones(1, 1), 0.2, 0.28)
    loss.backward()
    assert float(stats["ratio_mean"]) == pytest.approx(1.0, abs=1e-6)
    assert float(stats["clipfrac"]) == 0.0 and abs(float(shift.grad)) < 1e-6


# --------------------------------------------------------------------------- generate mode
@pytest.mark.parametrize("temperature", [0.7, 2.0])
def test_tempered_generation_is_trained_at_its_own_temperature(short_model, temperature):
    policy = load_policy(short_model)
    torch.manual_seed(0)
    agent = LMAgent(policy, "generate", temperature=temperature, max_new_tokens=5)
    states = [State("Open the gate.", p, [], None) for p in ("shut " * 40, "The gate is shut.")]
    decisions = agent.act(states, [{}, {}])
    episodes = [Episode("t", i, turns=[Turn(d, 0.0, True, "")]) for i, d in enumerate(decisions)]
    samples = to_samples(Rollouts(episodes, [[0, 1]]))
    module = ActorCritic(policy.model, temperature=temperature).eval()
    with torch.no_grad():
        logp, entropy, _ = module(collate(samples, [0, 1], policy.tokenizer.pad_token_id, "cpu"),
                                  with_entropy=True)
    for row, (sample, decision) in enumerate(zip(samples, decisions)):
        n = len(sample.completion_ids)
        assert len(sample.prompt_ids) <= policy.max_positions - 5   # room for 5 new tokens
        ratio = torch.exp(logp[row, -n:] - torch.tensor(decision.logprobs))
        torch.testing.assert_close(ratio, torch.ones(n), atol=1e-4, rtol=0)
        # reference: log_softmax(logits / T) of the sampled tokens, one plain forward pass
        with torch.no_grad():
            ids = torch.tensor([sample.prompt_ids + sample.completion_ids])
            logits = policy.model(ids).logits[0, len(sample.prompt_ids) - 1:-1].double()
        ref = torch.log_softmax(logits / temperature, -1)
        expected = ref[torch.arange(n), torch.tensor(sample.completion_ids)]
        np.testing.assert_allclose(decision.logprobs, expected.numpy(), atol=1e-4)
        np.testing.assert_allclose(decision.entropies,
                                   (-(ref.exp() * ref).sum(-1)).numpy(), atol=1e-4)
        np.testing.assert_allclose(entropy[row, -n:].numpy(), decision.entropies, atol=1e-4)


@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_a_checkpoint_with_dropout_still_has_ratio_one_on_policy(short_model, tmp_path, mode):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(short_model, attention_dropout=0.3)
    model.save_pretrained(tmp_path / "dropout")
    AutoTokenizer.from_pretrained(short_model).save_pretrained(tmp_path / "dropout")
    for algo in ("grpo", "ppo"):
        cfg = RLConfig(env=PHRASES, init=str(tmp_path / "dropout"), algo=algo, mode=mode,
                       iterations=1, tasks_per_iteration=4, group_size=4, minibatch_size=256,
                       temperature=3.0, max_new_tokens=6, entropy_coef=0.01,
                       out_dir=str(tmp_path / f"{algo}-{mode}"), checkpoint_every=10)
        metrics = train_rl(cfg).history[0]["metrics"]
        # one minibatch, one epoch: the update's first (and only) step is on-policy
        assert metrics["losses/ratio_mean"] == pytest.approx(1.0, abs=1e-4), algo
        assert metrics["losses/approx_kl"] == pytest.approx(0.0, abs=1e-6), algo


# --------------------------------------------------------------------------- PPO
def test_ppo_bootstraps_truncated_episodes_and_not_terminated_ones():
    gamma, lam = 0.9, 0.8
    cfg = RLConfig(init="x", algo="ppo", gamma=gamma, lam=lam, whiten_advantages=False)

    def episode(rewards, truncated):
        turns = [Turn(Decision("a", prompt_ids=[1], token_ids=[2], logprobs=[0.0]), r, True, "")
                 for r in rewards]
        return Episode("t", 0, ["a"] * len(rewards), turns=turns, truncated=truncated,
                       terminated=not truncated)

    rollouts = Rollouts([episode([0.0, 0.5], True), episode([0.0, 1.0], False)], [[0, 1]])
    samples = to_samples(rollouts)
    values = torch.tensor([0.2, 0.4, 0.3, 0.6])
    bootstrap = {0: 0.7}                      # V(s_T) of the truncated episode
    adv = PPO(cfg).advantages(rollouts, samples, values, bootstrap)

    def by_hand(rewards, v, last):
        out, running = [], 0.0
        for t in reversed(range(len(rewards))):
            next_v = v[t + 1] if t + 1 < len(v) else last
            running = rewards[t] + gamma * next_v - v[t] + gamma * lam * running
            out.insert(0, running)
        return out

    expected = by_hand([0.0, 0.5], [0.2, 0.4], 0.7) + by_hand([0.0, 1.0], [0.3, 0.6], 0.0)
    np.testing.assert_allclose(adv.advantages.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(adv.returns.numpy(), np.array(expected) + values.numpy(), atol=1e-6)


def test_episodes_say_whether_they_were_truncated_or_terminated():
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    envs.register("phrases", "earlyexp.envs.testing:PhrasesEnv", override=True)

    class Left:
        name = "left"

        def act(self, states, infos):
            return [Decision("left") for _ in states]

    cut = run_episodes(Left(), lambda: envs.make("corridor", max_steps=2), [("train-0", 0)],
                       keep_turns=True)[0]
    assert cut.truncated and not cut.terminated and cut.final_state is not None
    assert cut.final_state.history[-1]["action"] == "left" and len(cut.final_state.history) == 2

    class Long:
        name = "long"

        def act(self, states, infos):
            return [Decision(f"say {PhrasesEnv.PHRASES[-1]}") for _ in states]

    ended = run_episodes(Long(), lambda: envs.make("phrases"), [("train-0", 0)], keep_turns=True)[0]
    assert ended.terminated and not ended.truncated and ended.final_state is None


def test_ppo_run_uses_the_value_of_the_state_a_truncated_episode_stopped_in(
        phrases_model, tmp_path, monkeypatch):
    import earlyexp.training.rl.trainer as trainer

    seen = {}
    real = trainer.final_state_values

    def spy(cfg, module, policy, rollouts):
        seen["values"] = real(cfg, module, policy, rollouts)
        seen["truncated"] = [i for i, e in enumerate(rollouts.episodes) if e.truncated]
        return seen["values"]

    monkeypatch.setattr(trainer, "final_state_values", spy)
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    cfg = RLConfig(env=EnvConfig("corridor", {"num_tasks": 4, "max_steps": 2}),
                   init=str(phrases_model), algo="ppo", iterations=1, tasks_per_iteration=2,
                   group_size=2, out_dir=str(tmp_path), checkpoint_every=10)
    train_rl(cfg)
    assert seen["truncated"] and sorted(seen["values"]) == seen["truncated"]


# --------------------------------------------------------------------------- signal
def test_dynamic_sampling_plays_more_groups_until_they_carry_a_signal(phrases_model, tmp_path):
    envs.register("corridor", "earlyexp.envs.testing:CorridorEnv", override=True)
    never = EnvConfig("corridor", {"num_tasks": 6, "max_steps": 1})   # nobody can win
    cfg = RLConfig(env=never, init=str(phrases_model), iterations=1, tasks_per_iteration=2,
                   group_size=2, dynamic_sampling=True, max_sampling_rounds=3,
                   out_dir=str(tmp_path / "never"), checkpoint_every=10)
    metrics = train_rl(cfg).history[0]["metrics"]
    assert metrics["rl/sampling_rounds"] == 3 and metrics["rl/groups_with_signal"] == 0
    assert metrics["rl/skipped_update"] == 1 and metrics["rl/episodes"] == 12

    cfg = RLConfig(env=PHRASES, init=str(phrases_model), iterations=1, tasks_per_iteration=4,
                   group_size=4, temperature=1.0, dynamic_sampling=True, max_sampling_rounds=6,
                   out_dir=str(tmp_path / "phrases"), checkpoint_every=10, seed=2)
    record = train_rl(cfg).history[0]
    metrics = record["metrics"]
    assert 1 <= metrics["rl/sampling_rounds"] <= 6
    assert metrics["rl/groups_with_signal"] <= 4
    assert metrics["rl/episodes"] == 16 * metrics["rl/sampling_rounds"]


# --------------------------------------------------------------------------- learnability
@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_rank_mode_learns_when_likelihood_and_candidate_softmax_disagree(
        phrases_model, tmp_path, algo):
    """The winning phrase is the longest: after random play every phrase is about as
    likely as a choice, but its LM likelihood is a product over many more tokens. The
    categorical policy over the candidates must learn to pick it."""
    cfg = RLConfig(env=PHRASES, init=str(phrases_model), algo=algo, iterations=10,
                   tasks_per_iteration=8, group_size=4, temperature=1.0, learning_rate=1e-3,
                   minibatch_size=32, ppo_epochs=2, out_dir=str(tmp_path), checkpoint_every=100,
                   seed=1)
    curve = train_rl(cfg).success_curve
    assert curve[0] < 0.5, curve
    assert sum(curve[-3:]) / 3 >= 0.9, curve


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_generate_mode_learns_to_write_the_unlikely_phrase(phrases_model, tmp_path, algo):
    """Free text: the model writes its own action, and the winning one is the phrase it is
    least likely to write (measured: 0–6% of rollouts at first). RL on the generated tokens'
    log-probs must make it the usual one — a sign or alignment error in the generate path
    would leave success where it started or push it to 0."""
    cfg = RLConfig(env=PHRASES, init=str(phrases_model), algo=algo, mode="generate",
                   iterations=12, tasks_per_iteration=8, group_size=4, temperature=1.0,
                   max_new_tokens=16, learning_rate=1e-3, minibatch_size=32, ppo_epochs=2,
                   out_dir=str(tmp_path), checkpoint_every=100, seed=1)
    curve = train_rl(cfg).success_curve
    assert sum(curve[:2]) / 2 <= 0.15, curve
    assert sum(curve[-3:]) / 3 >= 0.35, curve


def test_choice_softmax_reference_is_sane():
    rng = random.Random(0)
    scores = [rng.uniform(-20, 0) for _ in range(5)]
    got = choice_log_probs(torch.tensor(scores, dtype=torch.float64), [5], 3.0)[0].numpy()
    np.testing.assert_allclose(np.exp(got), softmax(np.array(scores) / 3.0), atol=1e-12)


# --------------------------------------------------------------------------- tracker
def test_a_search_agent_iteration_logs_every_tracker_metric(tmp_path):
    """searchqa in rank mode with Clip-Cov: search metrics come from the family's declared
    `search_query`, pass@k climbs the ladder to the group size, the collapse fit is refused
    (one point) and update sparsity is measured at the checkpoint."""
    from earlyexp.envs.registration import spec

    env = envs.make("searchqa", **spec("searchqa").smoke_kwargs)
    texts = []
    for task in env.tasks("train")[:6]:
        obs, info = env.reset(options={"task_id": task})
        prompt = render(State(info["goal"], obs, [], info["admissible_actions"]))
        texts += [f"{prompt} {a}" for a in info["admissible_actions"]]
    env.close()
    init = create_tiny_model(texts, tmp_path / "model", TinyModelConfig(
        vocab_size=400, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
        max_positions=512))
    cfg = RLConfig(env=EnvConfig("searchqa", spec("searchqa").smoke_kwargs), init=str(init),
                   iterations=1, tasks_per_iteration=2, group_size=4, temperature=2.0,
                   policy_loss="clip_cov", clip_cov_ratio=0.5, entropy_coef=0.01,
                   out_dir=str(tmp_path / "run"), checkpoint_every=1)
    metrics = train_rl(cfg).history[0]["metrics"]
    for key in ("search_calls_per_episode", "unique_query_ratio", "query_distinct_1",
                "query_vendi", "query_question_overlap", "template_entropy", "pass@1", "pass@2",
                "pass@4", "policy_entropy/choice", "logp_adv_cov", "logp_adv_cov/top",
                "losses/cov_clipfrac", "params/changed", "params/changed/attention"):
        assert key in metrics, key
    assert metrics["collapse/ok"] == 0.0 and "collapse/r2" not in metrics
    assert metrics["search_calls_per_episode"] > 0 and 0 < metrics["params/changed"] <= 1


@pytest.mark.parametrize("mode", ["rank", "generate"])
def test_an_agent_fits_long_states_into_its_context_without_losing_the_goal(phrases_model,
                                                                           mode):
    """The renderer fits the prompt into the policy's room, so the token cut never fires
    and the goal survives a state far longer than the 256-token context."""
    policy = load_policy(phrases_model)
    actions = [c.removeprefix(" ") for c in CANDIDATES]
    history = [{"observation": "You wait by the north tower gate.", "action": "look"}] * 12
    state = State("Open the gate.", "The gate is shut. " * 200, history, actions)
    assert len(policy.tokenizer(render(state))["input_ids"]) > 4 * policy.max_positions
    (decision,) = LMAgent(policy, mode, temperature=1.0, max_new_tokens=5).act([state], [{}])
    assert decision.prompt.startswith("Goal: Open the gate.")
    assert decision.prompt.rstrip().endswith("Action:")
    encoded = policy.tokenizer(decision.prompt, add_special_tokens=False)["input_ids"]
    assert encoded == decision.prompt_ids            # fitted by the renderer, not cut
    longest = max(len(c) for c in policy.action_ids(CANDIDATES)) if mode == "rank" else 5
    assert len(decision.prompt_ids) + max(longest, 5) <= policy.max_positions
