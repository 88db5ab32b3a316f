"""Stage 5: search strategies. :class:`FUSE` is an NNI one-shot strategy over whole candidate networks."""
from .fuse import FUSE, FuseLightningModule, FuseMixedLayer, TensorBatches, fuse_evaluator, pool_size

__all__ = ["FUSE", "FuseLightningModule", "FuseMixedLayer", "TensorBatches", "fuse_evaluator", "pool_size"]
