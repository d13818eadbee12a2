"""ScienceWorld: the 30 tasks of the real `scienceworld` package (needs Java), see README.md."""
from earlyexp.envs.registration import register

register(
    "scienceworld",
    "earlyexp.envs.scienceworld.env:ScienceWorldEnv",
    gym_name="ScienceWorld",
    description="ScienceWorld's 30 science tasks on the package's Java simulator, gold-path expert",
    kwargs={"admissible": "on_path", "snapshot_replicas": 1, "max_steps": 100},
    smoke_kwargs={"task_names": ["find-living-thing", "chemistry-mix"], "variations_per_task": 3,
                  "admissible": "on_path", "snapshot_replicas": 1, "max_steps": 40},
)
