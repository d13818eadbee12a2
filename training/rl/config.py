"""`RLConfig`: every hyperparameter of GRPO and PPO, typed, with its help string.

Composed by Hydra from `configs/rl.yaml` (shared defaults) and `configs/rl/{grpo,ppo}.yaml`
(the algorithm's hyperparameters), then checked here before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from earlyexp.errors import ConfigError
from earlyexp.experience.collect import EnvConfig

ALGOS = ("grpo", "ppo")
MODES = ("rank", "generate")
BACKENDS = ("hf", "vllm")
POLICY_LOSSES = ("clip", "clip_cov", "kl_cov")   # training/rl/losses.py POLICY_LOSSES
ADVANTAGE_SCALING = ("group", "none")   # group: (R - mean) / std (GRPO); none: R - mean (Dr. GRPO)

# Keys that may differ when a run resumes: they change how long or where it runs, not what
# it learns. Any other difference is refused (`ResumeMismatchError`).
RESUMABLE_KEYS = ("iterations", "checkpoint_every", "resume", "resume_rng", "device", "num_envs",
                  "log_episodes")


@dataclass
class RLConfig:
    """Configuration of `earlyexp rl` and of `train_rl` (configs/rl.yaml + configs/rl/<algo>.yaml)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    init: str = ""                    # warm-start checkpoint dir (IL, IWM, SR or the raw model)
    algo: str = "grpo"                # grpo | ppo
    # --- rollouts --------------------------------------------------------------------
    iterations: int = 20              # rollout -> update cycles
    tasks_per_iteration: int = 8      # groups per iteration (each: one task and seed)
    group_size: int = 4               # rollouts per group (same task, same seed)
    split: str = "train"              # task split rollouts are drawn from
    num_tasks: int | None = None      # task pool: first N tasks of the split; null = all
    mode: str = "rank"                # rank (score admissible actions) | generate (free text)
    temperature: float = 1.0          # sampling temperature of rollouts (> 0)
    max_new_tokens: int = 24          # generate mode: tokens per action
    reflect_first: bool = False       # generate mode: prompt ends "Reflection:", the completion
                                      # is a reflection then "Action: ..." (an SR checkpoint)
    num_envs: int = 32                # live episodes per batched turn
    backend: str = "hf"               # hf | vllm: who generates the rollouts
    vllm_gpu_memory_utilization: float = 0.3
    # --- optimisation ----------------------------------------------------------------
    learning_rate: float = 1e-4
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    ppo_epochs: int = 1               # passes over each iteration's batch
    minibatch_size: int = 64          # turns per gradient step
    # --- policy loss -----------------------------------------------------------------
    clip_low: float = 0.2             # ratio clipped below at 1 - clip_low
    clip_high: float = 0.28           # ratio clipped above at 1 + clip_high (clip-higher)
    kl_coef: float = 0.0              # k3 KL to the frozen init checkpoint; 0 = no ref model
    entropy_coef: float = 0.0         # entropy bonus on completion tokens
    policy_loss: str = "clip"         # clip (PPO) | clip_cov | kl_cov (Cui et al. 2025)
    clip_cov_ratio: float = 2e-4      # clip_cov: share of tokens whose gradient is cut
    clip_cov_low: float = 1.0         # clip_cov: covariance band the cut tokens come from
    clip_cov_high: float = 5.0
    kl_cov_ratio: float = 2e-4        # kl_cov: share of top-covariance tokens penalised
    kl_cov_coef: float = 1.0          # kl_cov: weight of |log π - log π_old| on them
    cov_top_fraction: float = 2e-3    # logging: Cov(log π, A) over this top share of tokens
    # --- GRPO ------------------------------------------------------------------------
    scale_advantages: str = "group"   # group: divide by the group std | none: Dr. GRPO
    filter_zero_variance: bool = False  # drop groups whose returns are all equal from the loss
    dynamic_sampling: bool = False    # DAPO: play fresh groups until every group has a signal
    max_sampling_rounds: int = 4      # dynamic sampling: at most this many rounds of groups
    advantage_eps: float = 1e-4       # added to the group std
    # --- PPO -------------------------------------------------------------------------
    gamma: float = 1.0                # discount over turns
    lam: float = 0.95                 # GAE lambda over turns
    vf_coef: float = 0.5              # value loss weight
    vf_clip: float = 0.2              # value clipping range around the rollout's values
    whiten_advantages: bool = True    # normalise GAE advantages over the iteration's batch
    # --- bookkeeping -----------------------------------------------------------------
    seed: int = 0
    checkpoint_every: int = 5         # iterations between checkpoints (the last one always)
    out_dir: str = "runs/rl"
    resume: bool = True               # continue from the last checkpoint in out_dir
    resume_rng: bool = True           # false: resume even without the saved RNG state (logged)
    device: str = "auto"              # auto | cpu | cuda
    log_episodes: bool = True         # write every iteration's action lists to episodes.jsonl

    def __post_init__(self):
        _choice("algo", self.algo, ALGOS)
        _choice("mode", self.mode, MODES)
        if self.reflect_first and self.mode != "generate":
            raise ConfigError("reflect_first", True, "needs mode=generate (rank mode scores "
                              "the admissible actions, with no room to reflect)")
        _choice("backend", self.backend, BACKENDS)
        _choice("scale_advantages", self.scale_advantages, ADVANTAGE_SCALING)
        _choice("policy_loss", self.policy_loss, POLICY_LOSSES)
        for key in ("clip_cov_ratio", "kl_cov_ratio", "cov_top_fraction"):
            if not 0 < getattr(self, key) <= 1:
                raise ConfigError(key, getattr(self, key), "must be in (0, 1]")
        if not self.clip_cov_low < self.clip_cov_high:
            raise ConfigError("clip_cov_low", (self.clip_cov_low, self.clip_cov_high),
                              "must be below clip_cov_high")
        if self.kl_cov_coef < 0:
            raise ConfigError("kl_cov_coef", self.kl_cov_coef, "must be >= 0")
        for key in ("iterations", "tasks_per_iteration", "ppo_epochs", "minibatch_size",
                    "num_envs", "checkpoint_every", "max_new_tokens"):
            if getattr(self, key) < 1:
                raise ConfigError(key, getattr(self, key), "must be >= 1")
        if self.algo == "grpo" and self.group_size < 2:
            raise ConfigError("group_size", self.group_size,
                              "GRPO normalises returns within a group and needs at least 2 "
                              "rollouts per task; set group_size=2 or more")
        if self.group_size < 1:
            raise ConfigError("group_size", self.group_size, "must be >= 1")
        if self.max_sampling_rounds < 1:
            raise ConfigError("max_sampling_rounds", self.max_sampling_rounds, "must be >= 1")
        if self.dynamic_sampling and self.algo != "grpo":
            raise ConfigError("dynamic_sampling", self.dynamic_sampling,
                              "resamples groups whose returns are all equal, a GRPO notion; "
                              "use it with algo=grpo or set dynamic_sampling=false")
        if self.num_tasks is not None and self.num_tasks < 1:
            raise ConfigError("num_tasks", self.num_tasks, "must be >= 1 or null (all tasks)")
        if self.temperature <= 0:
            raise ConfigError("temperature", self.temperature,
                              "RL samples its rollouts; use a temperature > 0 (1.0 is on-policy)")
        for key in ("learning_rate", "adam_eps", "max_grad_norm", "advantage_eps"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, getattr(self, key), "must be > 0")
        for key in ("clip_low", "clip_high", "vf_clip"):
            if getattr(self, key) <= 0:
                raise ConfigError(key, getattr(self, key), "must be > 0")
        if self.clip_low >= 1:
            raise ConfigError("clip_low", self.clip_low, "must be < 1 (the ratio floor 1 - clip_low > 0)")
        for key in ("kl_coef", "entropy_coef", "vf_coef", "weight_decay"):
            if getattr(self, key) < 0:
                raise ConfigError(key, getattr(self, key), "must be >= 0")
        for key in ("gamma", "lam"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(key, getattr(self, key), "must be in [0, 1]")
        if not 0 < self.vllm_gpu_memory_utilization < 1:
            raise ConfigError("vllm_gpu_memory_utilization", self.vllm_gpu_memory_utilization,
                              "must be in (0, 1)")
        if not self.init:
            raise ConfigError("init", self.init,
                              "RL starts from a checkpoint: pass init=<dir> (an IL, IWM or SR "
                              "warm-start, or any local Hugging Face causal LM)")

    @property
    def rollouts_per_iteration(self) -> int:
        return self.tasks_per_iteration * self.group_size


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        from earlyexp.errors import closest
        raise ConfigError(key, value, f"must be one of {list(choices)}.{closest(value, choices)}")
