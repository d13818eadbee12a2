"""Training: warm-start SFT, RL, evaluation, tracking, report, pipeline and the CLI."""
