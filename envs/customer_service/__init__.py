"""τ-bench-style retail customer service over a generated SQLite shop (see README.md here)."""

from earlyexp.envs.registration import register

register(
    "customer_service",
    "earlyexp.envs.customer_service.env:CustomerServiceEnv",
    gym_name="CustomerService",
    description="Retail support: SQLite shop, tools called in Python syntax, written policy, "
    "scripted user; reward by database-state match",
    kwargs={
        "seed": 0,
        "num_users": 300,
        "num_train": 300,
        "num_test": 100,
        "num_ood": 100,
        "ood_templates": ["exchange", "modify_payment"],
        "second_request_rate": 0.25,
        "max_steps": 40,
    },
    smoke_kwargs={
        "seed": 0,
        "num_users": 40,
        "num_train": 6,
        "num_test": 4,
        "num_ood": 4,
        "max_steps": 40,
    },
)
