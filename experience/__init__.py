"""Experience: records, storage, branching, collection, reflectors, datasets, diversity.

    from earlyexp.experience import ExperienceStore
    store = ExperienceStore("runs/experience/textworld")
    transitions = store.transitions()
"""
from earlyexp.experience.records import Reflection, Step, Trajectory, Transition
from earlyexp.experience.storage import ExperienceStore, ExperienceWriter, TaskResult

__all__ = ["ExperienceStore", "ExperienceWriter", "Reflection", "Step", "TaskResult",
           "Trajectory", "Transition"]
