"""FUSE: an NNI one-shot strategy over whole candidate networks (see :mod:`.strategy`)."""
from .strategy import FUSE, FuseConfig, FuseLightningModule, FuseMixedLayer, TensorBatches, fuse_evaluator, pool_size

__all__ = ["FUSE", "FuseConfig", "FuseLightningModule", "FuseMixedLayer", "TensorBatches", "fuse_evaluator",
           "pool_size"]
