"""FUSE's data: in-memory mini-batches, the per-phase train dataloader, and the evaluator over them.

:class:`TensorBatches` batches tensors in a seeded order, ``_PhaseBatches`` hands Lightning each epoch the split its
phase needs, and :func:`fuse_evaluator` is the NNI ``Classification`` evaluator FUSE runs in (train and validation
splits only).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import torch
from nni.nas.evaluator.pytorch.lightning import Lightning

from ...core.errors import TanasError
from .config import WEIGHTS, _mix_seed

__all__ = ["TensorBatches", "fuse_evaluator"]


class TensorBatches:
    """Mini-batches of in-memory tensors, reshuffled per epoch from ``(seed, epoch)``.

    Why not ``DataLoader(TensorDataset)``: it indexes and collates one example at a time, which costs more than the forward
    pass of a small network on 2 CPU cores; here a batch is one tensor index. The order depends only on the seed and the
    epoch set by :meth:`set_epoch` (Lightning calls it before every epoch), so a run resumed from a checkpoint sees exactly
    the batches an uninterrupted run sees.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, shuffle: bool = True, seed: int = 0):
        if len(x) != len(y):
            raise TanasError(f"data: {len(x)} inputs but {len(y)} labels")
        if len(x) == 0:
            raise TanasError("data: a split FUSE needs (train or val) is empty")
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch))
            order = torch.randperm(len(self.x), generator=g)
        else:
            order = torch.arange(len(self.x))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.x[idx], self.y[idx]


class _PhaseBatches:
    """The train dataloader FUSE gives Lightning: each epoch yields the batches of the split its phase needs.

    Lightning creates the epoch's iterator (and prefetches a batch) before ``on_train_epoch_start``, and when it resumes
    from an end-of-epoch checkpoint it does so while ``trainer.current_epoch`` still names the finished epoch. The epoch
    about to run is ``fit_loop.epoch_progress.current.processed`` in both cases (the value Lightning itself gives
    samplers' ``set_epoch``). Batches carry their phase and epoch so that the Lightning module can check that weights
    never train on validation data, α never sees training data, and no batch belongs to another epoch.
    """

    def __init__(self, strategy: Any, train: Iterable, val: Iterable):
        # strategy: the FUSE strategy (its `_trainer` and `phase_of_epoch`); typed loosely because
        # .strategy imports this module.
        self.strategy, self.train, self.val = strategy, train, val

    def __iter__(self):
        trainer = self.strategy._trainer
        epoch = trainer.fit_loop.epoch_progress.current.processed if trainer is not None else 0
        phase = self.strategy.phase_of_epoch(epoch)
        loader = self.train if phase["phase"] == WEIGHTS else self.val
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for batch in loader:
            yield {"phase": phase["phase"], "epoch": epoch, "batch": batch}



def fuse_evaluator(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                   num_classes: int, learning_rate: float = 3e-3, weight_decay: float = 5e-4, batch_size: int = 128,
                   seed: int = 0, logger: Any = False, accelerator: str = "auto") -> Lightning:
    """An NNI ``Classification`` evaluator over in-memory tensors, set up for FUSE (and any one-shot strategy).

    Only the train and validation splits go in, so nothing the search decides can depend on the test split. The weights
    train with AdamW (``learning_rate``, ``weight_decay``). ``logger`` is any Lightning logger (e.g. ``CSVLogger``) or
    False.
    """
    from nni.nas.evaluator.pytorch import Classification

    train = TensorBatches(x_train, y_train, batch_size, shuffle=True, seed=seed)
    # The validation batches keep one order, so that FUSE's later α epochs reuse the candidates' logits (see
    # FuseMixedLayer._frozen_forward).
    val = TensorBatches(x_val, y_val, batch_size, shuffle=False, seed=seed + 1)
    return Classification(learning_rate=learning_rate, weight_decay=weight_decay, optimizer=torch.optim.AdamW,
                          train_dataloaders=train, val_dataloaders=val, num_classes=num_classes,
                          max_epochs=1, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, num_sanity_val_steps=0, accelerator=accelerator,
                          log_every_n_steps=10)
