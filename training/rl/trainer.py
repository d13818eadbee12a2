"""The RL loop shared by GRPO and PPO: rollouts -> update -> log -> checkpoint.

    result = train_rl(RLConfig(env=..., init="runs/warmstart/textworld/il", algo="grpo"))
    result.checkpoint        # out_dir/final: a plain Hugging Face checkpoint + rl.json
    result.history[-1]       # {"iteration", "metrics", "groups"} of the last iteration

Each iteration: draw `tasks_per_iteration` (task, seed) groups from the split's task
pool, play `group_size` episodes of each (batched, `run_episodes`), recompute the
behaviour log-probs (and PPO's values, and the reference log-probs when
`kl_coef > 0`) on the exact token ids, let the algorithm turn returns into
advantages, run `ppo_epochs` passes of minibatch updates, log, and checkpoint every
`checkpoint_every` iterations. The algorithm-specific maths lives in `grpo.py` and
`ppo.py`, chosen from `ALGORITHMS`.

Checkpoints (`out_dir/checkpoints/iter-NNNNNN/`: `model/`, `trainer_state.pt`,
`rng-<rank>.pt`, `config.json`) are written to a temporary directory and renamed, with
`out_dir/checkpoints/latest` updated last, so a killed run resumes from the last
complete one with the same weights, optimizer state and RNG streams, and reproduces
the next iteration bit for bit on CPU. A resume under a different config is refused,
naming the keys (`RESUMABLE_KEYS` may differ). A non-finite loss, statistic or
gradient norm stops the run before the update is applied; the last good checkpoint
stays. A reward outside the environment's `reward_range` stops it too.
"""
from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from earlyexp import threads
from earlyexp.errors import ConfigError
from earlyexp.experience.search_metrics import declared_search_query
from earlyexp.training.rl.checkpoint import (  # noqa: F401  (re-exported)
    CHECKPOINTS, FINAL, LATEST, _load_trainer_state, export_final, latest_checkpoint, resume_point,
    rewind_logs, save_checkpoint)
from earlyexp.training.rl.config import RLConfig
from earlyexp.training.rl.distributed import Distributed
from earlyexp.training.rl.errors import NonFiniteLossError
from earlyexp.training.rl.grpo import GRPO
from earlyexp.training.rl.metrics import (
    EnvDeclarations, collapse_metrics, covariance_metrics, entropy_metrics, reasoning_metrics,
    rollout_metrics, update_sparsity,
)
from earlyexp.training.rl.model import ActorCritic, collate
from earlyexp.training.rl.ppo import PPO
from earlyexp.training.rl.rollout import (
    Rollouts, TurnSample, collect, merge, sample_jobs, select_groups, to_samples,
)

ALGORITHMS = {"grpo": GRPO, "ppo": PPO}
log = logging.getLogger(__name__)


class MetricsLogger(Protocol):
    def log(self, metrics: dict[str, Any], step: int, stage: str) -> None: ...


@dataclass
class RLResult:
    """What `train_rl` returns: the final checkpoint and one record per iteration."""

    checkpoint: Path                 # out_dir/final, loadable with load_policy
    out_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    policy: Any = field(default=None, repr=False)   # the trained HFPolicy, still in memory

    @property
    def success_curve(self) -> list[float]:
        return [h["metrics"]["success"] for h in self.history]


# --------------------------------------------------------------------------- entry point
def train_rl(cfg: RLConfig, tracker: MetricsLogger | None = None, stage: str = "rl") -> RLResult:
    """Train `cfg.algo` from `cfg.init` (or resume `cfg.out_dir`); see the module docstring."""
    from earlyexp.agents.hf_policy import load_policy
    from earlyexp.training.config import to_dict

    dist = Distributed(cfg.device)
    if cfg.tasks_per_iteration < dist.world_size:
        raise ConfigError("tasks_per_iteration", cfg.tasks_per_iteration,
                          f"must be >= the number of processes ({dist.world_size}): groups are "
                          "split across processes")
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_dict = to_dict(cfg)
    resume_from = resume_point(out_dir, cfg, config_dict)
    _seed_everything(cfg.seed + dist.rank)

    policy = load_policy(resume_from / "model" if resume_from else cfg.init, str(dist.device))
    algo = ALGORITHMS[cfg.algo](cfg)
    module = ActorCritic(policy.model, value_head=algo.uses_values,
                          temperature=cfg.temperature).to(dist.device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.learning_rate, eps=cfg.adam_eps,
                                  weight_decay=cfg.weight_decay)
    ref = _reference(cfg, dist.device) if cfg.kl_coef > 0 else None
    history: list[dict[str, Any]] = []
    start = 0
    if resume_from:  # last, so that nothing draws from the restored RNG streams before use
        start, history = _load_trainer_state(resume_from, module, optimizer, dist.rank,
                                             cfg.resume_rng)
    wrapped, optimizer = dist.prepare(module, optimizer)

    probe = cfg.env.make()
    try:
        pool = probe.tasks(cfg.split)
        reward_range = tuple(float(x) for x in probe.reward_range)
        declarations = EnvDeclarations(declared_search_query(probe), probe.action_template)
    finally:
        probe.close()
    init_state = _initial_state(cfg, module, resume_from)
    pool = pool[: cfg.num_tasks] if cfg.num_tasks else pool
    rollout_policy = policy
    if cfg.backend == "vllm":
        from earlyexp.agents.vllm_policy import VLLMPolicy
        rollout_policy = VLLMPolicy(str(resume_from / "model" if resume_from else cfg.init),
                                    gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                                    seed=cfg.seed + dist.rank)

    own_tracker = tracker is None and dist.is_main
    if own_tracker:
        tracker = _default_tracker(out_dir, cfg, config_dict)
    if dist.is_main:  # a killed run may have logged iterations after its last checkpoint
        rewind_logs(out_dir, tracker, stage, start)
    last_checkpoint = str(resume_from) if resume_from else None
    try:
        for iteration in range(start + 1, cfg.iterations + 1):
            threads.rebalance()  # another run may have started or ended (earlyexp/threads.py)
            record = run_iteration(cfg, iteration, algo, policy, rollout_policy, module, wrapped,
                                   optimizer, ref, pool, reward_range, dist, last_checkpoint,
                                   declarations)
            history.append(record)
            record["metrics"].update(collapse_metrics(history, cfg.rollouts_per_iteration))
            if iteration % cfg.checkpoint_every == 0 or iteration == cfg.iterations:
                record["metrics"].update(update_sparsity(init_state, module))
            if dist.is_main:
                tracker.log(record["metrics"], step=iteration, stage=stage)
                if cfg.log_episodes:
                    with open(out_dir / "episodes.jsonl", "a", encoding="utf-8") as f:
                        f.write(json.dumps({"iteration": iteration,
                                            "groups": record["groups"]}) + "\n")
            if iteration % cfg.checkpoint_every == 0 or iteration == cfg.iterations:
                last_checkpoint = str(save_checkpoint(out_dir, iteration, module, policy.tokenizer,
                                                      optimizer, history, config_dict, dist))
            if rollout_policy is not policy:
                rollout_policy.load_weights(module.lm.named_parameters())
        final = export_final(out_dir, module, policy.tokenizer, history, config_dict, dist)
    finally:
        if own_tracker:
            tracker.close()
    return RLResult(final, out_dir, history, policy)


# --------------------------------------------------------------------------- one iteration
def run_iteration(cfg: RLConfig, iteration: int, algo, policy, rollout_policy, module, wrapped,
                  optimizer, ref, pool: list[str], reward_range, dist: Distributed,
                  last_checkpoint: str | None,
                  declarations: EnvDeclarations | None = None) -> dict[str, Any]:
    declarations = declarations or EnvDeclarations()
    t_start = time.perf_counter()
    # 1. rollouts (with dynamic sampling: more groups until enough carry a signal)
    played, rollouts, sampling = play(cfg, iteration, rollout_policy, pool, reward_range, dist)
    samples = to_samples(rollouts)
    t_rollout = time.perf_counter()

    # 2. behaviour log-probs (+ PPO's values) and reference log-probs on the recorded ids
    pad_id = policy.tokenizer.pad_token_id
    behaviour = behaviour_policy(cfg, module, samples, pad_id, algo.uses_values,
                                 reuse=getattr(rollout_policy, "exact_logprobs", False))
    bootstrap = (final_state_values(cfg, module, policy, rollouts) if algo.uses_values else {})
    ref_logp = (score_samples(ref, samples, pad_id, cfg.minibatch_size)["logp"]
                if ref is not None else None)
    # 3. advantages
    adv = algo.advantages(rollouts, samples, behaviour["values"], bootstrap)
    # 4. update (skipped when no sample carries a gradient)
    stats = update(cfg, iteration, algo, samples, behaviour, ref_logp, adv, pad_id,
                   wrapped, optimizer, dist, last_checkpoint)
    t_end = time.perf_counter()

    groups_out = dist.gather_objects(played.group_records())
    metrics = {"success": sum(s for g in groups_out for s in g["success"])
               / max(1, sum(len(g["success"]) for g in groups_out)),
               **rollout_metrics(groups_out, played, dist, cfg.group_size, declarations),
               **adv.metrics, **stats, **sampling, **entropy_metrics(samples, behaviour, dist),
               **reasoning_metrics(samples, policy.tokenizer),
               **covariance_metrics(samples, behaviour, adv.advantages, cfg.cov_top_fraction)}
    metrics.update({
        "time/iteration_s": t_end - t_start, "time/rollout_s": t_rollout - t_start,
        "time/generate_s": played.timings["generate_s"], "time/env_s": played.timings["env_s"],
        "time/update_s": t_end - t_rollout,
    })
    return {"iteration": iteration, "metrics": metrics, "groups": groups_out}


def play(cfg: RLConfig, iteration: int, rollout_policy, pool: list[str], reward_range,
         dist: Distributed) -> tuple[Rollouts, Rollouts, dict[str, float]]:
    """This rank's share of the iteration's groups: (everything played, the groups to train
    on, sampling statistics). Every rank draws the same jobs and plays its own groups.

    With `dynamic_sampling` (DAPO) groups whose returns are all equal carry no GRPO
    signal: further rounds of fresh groups are played until this rank holds its share
    of groups with a signal or `max_sampling_rounds` is reached.
    """
    from earlyexp.agents.actors import LMAgent

    n = cfg.group_size
    share = len(range(dist.rank, cfg.tasks_per_iteration, dist.world_size))
    rounds = cfg.max_sampling_rounds if cfg.dynamic_sampling else 1
    played, kept = [], []
    for round_ in range(rounds):
        tag = f"{iteration}" if round_ == 0 else f"{iteration}:{round_}"
        jobs = sample_jobs(pool, cfg.tasks_per_iteration, n, random.Random(f"jobs:{cfg.seed}:{tag}"))
        groups = [jobs[g * n:(g + 1) * n] for g in range(cfg.tasks_per_iteration)]
        my_jobs = [job for group in groups[dist.rank::dist.world_size] for job in group]
        seed = _derived_seed(cfg.seed, iteration, dist.rank, *([round_] if round_ else []))
        agent = LMAgent(rollout_policy, cfg.mode, cfg.env.prompt_format(), cfg.temperature,
                        cfg.max_new_tokens, seed=seed, name=f"rl-{cfg.algo}",
                        reflect_first=cfg.reflect_first)
        part = collect(agent, cfg.env, my_jobs, n, cfg.num_envs, reward_range)
        played.append(part)
        if not cfg.dynamic_sampling:
            return part, part, {}
        signal = [g for g, members in enumerate(part.groups)
                  if len({part.episodes[i].episode_return for i in members}) > 1]
        kept.append(select_groups(part, signal[:share - sum(len(k.groups) for k in kept)]))
        if sum(len(k.groups) for k in kept) >= share:
            break
    everything, train = merge(played), merge(kept)
    return everything, train, {"rl/sampling_rounds": float(len(played)),
                               "rl/groups_with_signal": dist.reduce(len(train.groups))}


def behaviour_policy(cfg: RLConfig, module, samples: list[TurnSample], pad_id: int,
                     with_values: bool, reuse: bool) -> dict[str, Any]:
    """log π_old of every sample (a list of (length,) tensors), values (S,) or None, and
    per-sample entropies.

    Where the rollout backend reports the trainer's own numbers (`reuse`: HF, same
    weights, same ids, same temperature) they are taken as they are: one forward pass
    over the batch saved. Otherwise (vLLM, or PPO, which needs the values anyway) they
    are recomputed under the current weights.
    """
    if reuse and not with_values:
        return {"logp": [torch.tensor(s.behaviour_logp) for s in samples], "values": None,
                "entropy": [torch.tensor(s.behaviour_entropy) for s in samples]}
    return score_samples(module, samples, pad_id, cfg.minibatch_size, with_values)


@torch.no_grad()
def score_samples(module, samples: list[TurnSample], pad_id: int, batch_size: int,
                  with_values: bool = False) -> dict[str, Any]:
    """Per-sample log-probs and entropies (lists of (length,) tensors) and values (S,) or
    None, under `module` as it is now (eval mode, no gradients)."""
    module.eval()
    logps: list[torch.Tensor] = []
    entropies: list[torch.Tensor] = []
    values: list[torch.Tensor] = []
    device = next(module.parameters()).device
    for start in range(0, len(samples), batch_size):
        index = list(range(start, min(start + batch_size, len(samples))))
        mb = collate(samples, index, pad_id, device)
        logp, entropy, value = module(mb, with_entropy=True)
        for row, i in enumerate(index):
            logps.append(logp[row, mb.width - samples[i].length:].float().cpu())
            entropies.append(entropy[row, mb.width - samples[i].length:].float().cpu())
        if with_values:
            values.append(value.float().cpu())
    return {"logp": logps, "entropy": entropies,
            "values": torch.cat(values) if with_values else None}


def final_state_values(cfg: RLConfig, module, policy, rollouts: Rollouts) -> dict[int, float]:
    """V(s_T) of every episode the step limit cut short (PPO bootstraps from it), by
    episode index; the state is rendered and cut as the agent would have in it."""
    from earlyexp.agents.actors import LMAgent

    cut = [i for i, e in enumerate(rollouts.episodes) if e.truncated and e.final_state]
    if not cut:
        return {}
    states = [rollouts.episodes[i].final_state for i in cut]
    agent = LMAgent(policy, cfg.mode, cfg.env.prompt_format(), max_new_tokens=cfg.max_new_tokens,
                    reflect_first=cfg.reflect_first)
    room = [cfg.max_new_tokens if cfg.mode == "generate" or not s.admissible_actions else
            max(len(ids) for ids in policy.action_ids([f" {a}" for a in s.admissible_actions]))
            for s in states]
    rows = policy.prompt_ids(agent.prompts(states), room)
    module.eval()
    values = module.state_values(rows, policy.tokenizer.pad_token_id)
    return dict(zip(cut, values.float().cpu().tolist()))


def update(cfg: RLConfig, iteration: int, algo, samples, behaviour, ref_logp, adv, pad_id: int,
           wrapped, optimizer, dist: Distributed, last_checkpoint: str | None) -> dict[str, float]:
    """`ppo_epochs` passes of minibatch steps; returns the mean of every loss statistic.

    The module stays in eval mode: dropout off in the update as in behaviour scoring,
    so that the ratio is exactly 1 on-policy whatever the checkpoint's dropout.
    """
    index = [i for i in range(len(samples)) if adv.weight[i] > 0]
    if dist.reduce(float(algo.has_signal(adv, index))) == 0:
        log.info("iteration %d: no sample carries a gradient (every advantage is 0 and no "
                 "KL or entropy term); the update is skipped", iteration)
        return {"rl/skipped_update": 1.0}
    index = index or list(range(len(samples)))  # this rank keeps weight-0 samples to stay in step
    # every rank must take the same number of steps (DDP): agree on it
    steps = math.ceil(len(index) / cfg.minibatch_size)
    steps = int(min(dist.reduce(steps, "max"), dist.reduce(len(index), "min")))
    per_token = {"old_logp": behaviour["logp"], "ref_logp": ref_logp}
    per_sample = {"advantages": adv.advantages, "returns": adv.returns,
                  "old_values": behaviour["values"], "weight": adv.weight}
    totals: dict[str, float] = {}
    count = 0
    wrapped.eval()
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(len(index)).tolist()
        for chunk in np.array_split(np.array([index[i] for i in order]), steps):
            mb = collate(samples, chunk.tolist(), pad_id, dist.device, per_token, per_sample)
            logp, entropy, values = wrapped(mb, with_entropy=cfg.entropy_coef > 0)
            loss, stats = algo.loss(mb, logp, entropy, values)
            bad = _first_non_finite({"loss": loss, **stats})
            if bad:  # poison the gradient so every rank sees it and stops together
                loss = loss + float("nan")
            optimizer.zero_grad(set_to_none=True)
            dist.backward(loss)
            grad_norm = dist.clip_grad_norm(wrapped.parameters(), cfg.max_grad_norm)
            if bad or not torch.isfinite(grad_norm):
                name, value = bad or ("grad_norm", float(grad_norm))
                raise NonFiniteLossError(iteration, name, value, last_checkpoint)
            optimizer.step()
            for key, value in {**stats, "grad_norm": grad_norm, "loss": loss}.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach())
            count += 1
    return {_log_key(k): v / count for k, v in totals.items()}


# --------------------------------------------------------------------------- helpers
def _reference(cfg: RLConfig, device) -> ActorCritic:
    """The frozen init checkpoint, for the KL term."""
    from transformers import AutoModelForCausalLM

    ref = ActorCritic(AutoModelForCausalLM.from_pretrained(cfg.init),
                      temperature=cfg.temperature).to(device)
    ref.eval().requires_grad_(False)
    return ref


def _initial_state(cfg: RLConfig, module, resume_from: Path | None) -> dict[str, torch.Tensor]:
    """The warm-start's weights on the CPU, to measure how much of the model RL changed."""
    if resume_from is None:
        return {k: v.detach().cpu().clone() for k, v in module.lm.state_dict().items()}
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(cfg.init).state_dict()


def _default_tracker(out_dir: Path, cfg: RLConfig, config_dict: dict):
    from earlyexp.training.tracking import Tracker, make_run_name

    return Tracker(out_dir, make_run_name(cfg.env.name, cfg.algo, cfg.seed), config_dict,
                   echo=False)


def _first_non_finite(values: dict[str, torch.Tensor]) -> tuple[str, float] | None:
    for key, value in values.items():
        if not torch.isfinite(value).all():
            return _log_key(key), float(value)
    return None


_KEYS = {"clip_low": "clip_ratio/low_mean", "clip_high": "clip_ratio/high_mean",
         "value_clipfrac": "losses/value_clipfrac", "ratio_mean": "losses/ratio_mean"}


def _log_key(key: str) -> str:
    return _KEYS.get(key, f"losses/{key}")


def _derived_seed(*parts: int) -> int:
    return random.Random(":".join(map(str, parts))).randrange(2**31 - 1)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


