"""household: ALFWorld-style embodied household tasks on a procedural simulator.

Only registers the entry point; the simulator is imported when an env is made.
"""
from earlyexp.envs.registration import register

register(
    "household",
    "earlyexp.envs.household.env:HouseholdEnv",
    gym_name="Household",
    description="ALFWorld-style household tasks: 6 task types, receptacles, clean/heat/cool/examine",
    kwargs={"num_train": 3553, "num_test": 140, "num_ood": 134, "seed": 0, "max_steps": 50},
    smoke_kwargs={"num_train": 12, "num_test": 6, "num_ood": 6},
)
