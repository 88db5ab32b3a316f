"""Stage 5: search strategies over the spaces of :mod:`tanas_nni.space`.

:class:`FUSE` is an NNI one-shot strategy over whole candidate networks (registered as ``fuse``); :class:`TaskAware`
puts a task-aware space in front of any NNI strategy. Strategies are looked up by name through :mod:`.registry`.
"""
from .fuse import FUSE, FuseConfig, FuseLightningModule, FuseMixedLayer, TensorBatches, fuse_evaluator, pool_size
from .running import nas_experiment
from .registry import STRATEGIES, get_strategy, register_strategy, strategy_names
from .seeded import SeededRandomOneShot
from .task_aware import TaskAware, task_num_classes

__all__ = ["FUSE", "FuseConfig", "FuseLightningModule", "FuseMixedLayer", "TensorBatches", "fuse_evaluator",
           "pool_size", "SeededRandomOneShot", "STRATEGIES", "get_strategy", "register_strategy", "strategy_names", "TaskAware",
           "task_num_classes", "nas_experiment"]
