"""tanas-nni: Task-Aware Neural Architecture Search as a plugin for NNI 3.0.

The package follows the pipeline: ``data`` (datasets, tasks) -> ``dictionary`` (trained base tasks) -> ``distance`` (task
distances) -> ``space`` (standard and task-aware search spaces) -> ``strategy`` (FUSE) -> ``experiment`` (nnictl trials,
comparison, reports).
"""
__version__ = "0.1.0"
