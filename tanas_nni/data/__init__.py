"""Stage 1: datasets and tasks."""
from .datasets import ImagePools, load_dataset, register_dataset, resolve_data_dir, dataset_names
from .tasks import SplitSizes, TaskData, TaskSpec, canonical_task_id, load_task, task_folder

__all__ = ["ImagePools", "load_dataset", "register_dataset", "resolve_data_dir", "dataset_names",
           "SplitSizes", "TaskData", "TaskSpec", "load_task", "canonical_task_id", "task_folder"]
