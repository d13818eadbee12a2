"""Errors RL raises on purpose (all `EarlyExpError`s, with the offending values kept)."""
from __future__ import annotations

from earlyexp.errors import EarlyExpError


class RewardRangeError(EarlyExpError, ValueError):
    """Raised when an environment returns a reward outside its declared `reward_range`."""

    def __init__(self, env: str, task_id: str, seed: int, turn: int, reward: float,
                 reward_range: tuple[float, float]):
        self.env, self.task_id, self.seed, self.turn = env, task_id, seed, turn
        self.reward, self.reward_range = reward, tuple(reward_range)
        super().__init__(
            f"Environment {env!r} returned reward {reward!r} at turn {turn} of task {task_id!r} "
            f"(seed {seed}), outside its declared reward_range {list(self.reward_range)}. RL "
            "normalises and clips by that range, so a reward outside it is a bug in the "
            "environment or a wrong declaration: fix the reward or widen `reward_range` on the "
            "environment class.")


class NonFiniteLossError(EarlyExpError, FloatingPointError):
    """Raised when a loss, a statistic or the gradient norm of an update is NaN or infinite."""

    def __init__(self, iteration: int, statistic: str, value: float, checkpoint: str | None):
        self.iteration, self.statistic, self.value, self.checkpoint = (
            iteration, statistic, value, checkpoint)
        kept = (f"the last good checkpoint {checkpoint} is kept and a re-run resumes from it"
                if checkpoint else "no checkpoint had been written yet")
        super().__init__(
            f"Iteration {iteration}: `{statistic}` is {value} (not finite); that step was not "
            f"applied and the run stopped; {kept}. Lower learning_rate or max_grad_norm, "
            "or check this iteration's rewards and prompts.")
