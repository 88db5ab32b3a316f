"""FUSE: an NNI one-shot strategy over whole candidate networks, registered as ``fuse`` (see :mod:`.strategy`).

The package is split by role, as NNI's own ``nni.nas.oneshot.pytorch`` is; each module imports only those above it:

- :mod:`.config`: :class:`FuseConfig`, :func:`pool_size`, the phase names;
- :mod:`.data`: :class:`TensorBatches`, the per-phase train dataloader, :func:`fuse_evaluator`;
- :mod:`.supermodule`: :class:`FuseMixedLayer` (the supernet module) and the BatchNorm switch of the α phases;
- :mod:`.lightning`: :class:`FuseLightningModule` (the search loop);
- :mod:`.strategy`: :class:`FUSE`, its checkpoint callback and the trajectory CSV.
"""
from .config import FuseConfig, pool_size
from .data import TensorBatches, fuse_evaluator
from .lightning import FuseLightningModule
from .strategy import FUSE
from .supermodule import FuseMixedLayer

__all__ = ["FUSE", "FuseConfig", "FuseLightningModule", "FuseMixedLayer", "TensorBatches", "fuse_evaluator",
           "pool_size"]
