"""TravelPlanner-style itinerary planning in a generated sandbox (see README.md in this folder)."""
from earlyexp.envs.registration import register

register(
    "travel",
    "earlyexp.envs.travel.env:TravelEnv",
    gym_name="Travel",
    description="TravelPlanner-style multi-day trip planning: search tools, plan slots, "
                "commonsense and hard-constraint checks",
    kwargs={"num_train": 400, "num_test": 100, "num_ood": 50, "seed": 0, "max_steps": 80},
    smoke_kwargs={"num_train": 4, "num_test": 3, "num_ood": 2, "seed": 0, "max_steps": 80},
)
