"""TextWorld games generated locally (see README.md in this folder)."""
from earlyexp.envs.registration import register

register(
    "textworld",
    "earlyexp.envs.textworld.env:TextWorldEnv",
    gym_name="TextWorld",
    description="Real TextWorld games (tw-cooking by default) generated in-process and cached",
    kwargs={
        "challenge": "tw-cooking",
        "settings": {"recipe": 1, "take": 1, "go": 6, "open": True, "split": "train"},
        "ood_settings": {"recipe": 2, "take": 2, "split": "test"},
        "num_train": 400, "num_test": 100, "num_ood": 50, "seed": 0, "max_steps": 30,
    },
    smoke_kwargs={
        "challenge": "tw-cooking",
        "settings": {"recipe": 1, "take": 1, "go": 6, "open": True, "split": "train"},
        "ood_settings": {"recipe": 2, "take": 2, "split": "test"},
        "num_train": 3, "num_test": 3, "num_ood": 3, "seed": 0, "max_steps": 30,
    },
)
