"""Reinforcement learning from a warm start: GRPO and PPO, step-wise multi-turn.

    from earlyexp.training.rl import RLConfig, train_rl
    result = train_rl(RLConfig(env=env_cfg, init="runs/warmstart/textworld/il", algo="grpo"))

`config.py` holds every hyperparameter; `grpo.py` and `ppo.py` each read top to
bottom as one algorithm; `advantages.py` and `losses.py` are their pure maths;
`rollout.py` turns batched episodes into token samples; `trainer.py` is the loop
both share; `distributed.py` wraps accelerate; `cli.py` is `earlyexp rl`.
"""
from earlyexp.training.rl.config import RLConfig
from earlyexp.errors import ResumeMismatchError
from earlyexp.training.rl.errors import NonFiniteLossError, RewardRangeError
from earlyexp.training.rl.trainer import ALGORITHMS, RLResult, latest_checkpoint, train_rl

__all__ = ["ALGORITHMS", "NonFiniteLossError", "RLConfig", "RLResult", "ResumeMismatchError",
           "RewardRangeError", "latest_checkpoint", "train_rl"]
