"""BFCL multi-turn function calling on the real data and backends of `bfcl-eval` (see README.md)."""
from earlyexp.envs.registration import register

register(
    "bfcl",
    "earlyexp.envs.bfcl.env:BfclEnv",
    gym_name="Bfcl",
    description="BFCL v4 multi-turn function calling: executable backends, state-based checker",
    kwargs={"split_seed": 0, "test_fraction": 0.25, "strict_irrelevance": False, "max_steps": 80},
    smoke_kwargs={"limit": 3, "max_steps": 40},
)
