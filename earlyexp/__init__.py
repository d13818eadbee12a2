"""early-experience: agents that learn from the future states their own actions cause.

The framework lives in four sub-packages, imported as ``earlyexp.<part>``:
``envs`` (text environments) <- ``agents`` (policies, prompts, models) <-
``experience`` (records, branching, datasets, diversity) <- ``training``
(warm-start, RL, evaluation, report, CLI).
"""

__version__ = "0.1.0"
