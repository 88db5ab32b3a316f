"""FUSE: whole candidate networks mixed by softmax weights learned on the validation split.

FUSE is an NNI one-shot strategy (:class:`~nni.nas.oneshot.pytorch.strategy.OneShotStrategy`). It searches a space whose
only choice is one ``LayerChoice`` over whole networks (see :func:`tanas_nni.space.whole_network_space`): the mutation hook
replaces that choice by :class:`FuseMixedLayer`, whose output is ``Σ_c softmax(α)_c · logits_c(x)`` over the candidates of
the current round, and :class:`FuseLightningModule` runs the search inside one Lightning ``fit``:

* the search is a sequence of **rounds**; round 0 takes the first ``candidates_per_round`` candidates of the choice, every
  later round the incumbent (the previous round's winner) plus the next ``candidates_per_round - 1`` candidates, in the
  order the space lists them (a task-aware space lists the nearest tasks' own architectures first);
* a round is ``cycles`` alternations of a **weight phase** (``weight_epochs`` epochs on the train split; α frozen, the
  evaluator's optimizer trains the candidates through the mixture's loss) and an **α phase** (``alpha_epochs`` epochs on the
  validation split; the candidates run under ``torch.no_grad`` so that no weight gradient is computed, BatchNorm uses batch
  statistics and leaves its running statistics alone; only α is in autograd, through the softmax mixture of the detached
  logits, computed once per batch in a phase and reused by its later epochs);
* at the end of a round the argmax-α candidate wins and becomes the incumbent;
* every Lightning epoch is one phase-epoch, so Lightning's own checkpointing (``last.ckpt`` in ``checkpoint_dir`` after each
  epoch) makes the search resumable after a process kill; data order, weight re-initialisation and α are functions of
  (seed, epoch, round), so a resumed search ends bit-identical to an uninterrupted one.

The test split never reaches FUSE: it sees the evaluator's train and validation dataloaders only.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import nni.nas.strategy  # noqa: F401  (must precede nni.nas.oneshot imports, see DESIGN "NNI 3.0 facts")
import torch
import torch.nn.functional as F
from nni.mutable import Categorical
from nni.nas.evaluator.pytorch.lightning import Lightning, LightningModule
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule
from nni.nas.oneshot.pytorch.strategy import MutationHook, OneShotStrategy, no_default_hook
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.space import RawFormatModelSpace
from torch import nn

from ...core.config import check_range
from ...core.errors import TanasError
from ...core.progress import Event, PhaseEnd, ProgressFn, Resumed, RoundEnd, RoundStart
from ...training import check_finite
from ..registry import register_strategy

__all__ = ["FUSE", "FuseConfig", "FuseMixedLayer", "FuseLightningModule", "TensorBatches", "fuse_evaluator", "pool_size"]

_logger = logging.getLogger(__name__)

WEIGHTS, ALPHA = "weights", "alpha"


@dataclass
class FuseConfig:
    """FUSE's budget and learning rates, as a config section (``fuse:``); :meth:`FUSE.from_config` builds the strategy.

    Defaults: 4 candidates per round, 3 rounds (10 candidates in all), 2 cycles of (1 weight epoch, 5 α epochs) per
    round, weights AdamW lr 3e-3 (weight decay 5e-4), α Adam lr 0.05, every round's candidates re-initialised.
    """

    candidates_per_round: int = 4
    rounds: int = 3
    cycles: int = 2
    weight_epochs: int = 1
    alpha_epochs: int = 5
    weight_lr: float = 3e-3
    weight_decay: float = 5e-4
    alpha_lr: float = 0.05
    batch_size: int = 128
    reset_weights: bool = True

    def __post_init__(self):
        check_range("candidates_per_round", self.candidates_per_round, 2)
        check_range("rounds", self.rounds, 1)
        check_range("cycles", self.cycles, 1)
        check_range("weight_epochs", self.weight_epochs, 1)
        check_range("alpha_epochs", self.alpha_epochs, 1)
        check_range("weight_lr", self.weight_lr, 0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0)
        check_range("alpha_lr", self.alpha_lr, 0, lo_open=True)
        check_range("batch_size", self.batch_size, 1)

    def pool(self) -> int:
        """How many candidates the rounds consume."""
        return pool_size(self.candidates_per_round, self.rounds)

    def weight_epochs_total(self) -> int:
        return self.rounds * self.cycles * self.weight_epochs

    def epochs_total(self) -> int:
        return self.rounds * self.cycles * (self.weight_epochs + self.alpha_epochs)


def pool_size(candidates_per_round: int, rounds: int) -> int:
    """How many candidates ``rounds`` rounds of ``candidates_per_round`` consume (the incumbent is reused)."""
    return candidates_per_round + (rounds - 1) * (candidates_per_round - 1)


def _mix_seed(*parts: int) -> int:
    """A deterministic 63-bit seed from integers (for per-epoch data order and per-round re-initialisation)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h


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

    def __init__(self, strategy: "FUSE", train: Iterable, val: Iterable):
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


class FuseMixedLayer(LayerChoice, BaseSuperNetModule):
    """The supernet module: a softmax(α)-weighted sum of whole candidate networks' logits.

    Only the candidates marked active (those of the current round) take part; the others are neither run nor mixed.

    Parameters
    ----------
    paths
        The whole candidate networks.
    alpha
        The architecture weights, one per candidate (shared with the strategy).
    label
        The label of the ``LayerChoice`` it replaces.
    """

    _arch_parameter_names: list[str] = ["_arch_alpha"]

    def __init__(self, paths: list[nn.Module] | dict[str, nn.Module], alpha: nn.Parameter, label: str):
        super().__init__(paths, label=label)
        if len(alpha) != len(self.names):
            raise ValueError(f"alpha has {len(alpha)} entries for {len(self.names)} candidates")
        self._arch_alpha = alpha
        self.register_buffer("active", torch.ones(len(self.names), dtype=torch.bool))
        # True during α phases: candidates run without autograd, only α gets a gradient.
        self.freeze_candidates = False
        # Frozen candidates' logits of the current α phase, {(batch key, candidate): (input, logits)}; see forward.
        self.cache_key: int | None = None
        self._frozen_logits: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def clear_frozen_logits(self) -> None:
        self._frozen_logits.clear()

    def active_indices(self) -> list[int]:
        return [int(i) for i in torch.nonzero(self.active).flatten()]

    def probs(self) -> torch.Tensor:
        """softmax(α) over the active candidates (0 for inactive ones)."""
        logits = self._arch_alpha.masked_fill(~self.active, float("-inf"))
        return torch.softmax(logits, dim=-1)

    def resample(self, memo):
        return {}  # every active candidate runs on every batch: nothing to sample

    def export(self, memo):
        if self.label in memo:
            return {}
        return {self.label: self.names[int(torch.argmax(self.probs()).item())]}

    def export_probs(self, memo):
        if self.label in memo:
            return {}
        return {self.label: dict(zip(self.names, self.probs().detach().cpu().tolist()))}

    @classmethod
    def mutate(cls, module, name, memo, mutate_kwargs):
        if type(module) is LayerChoice:  # exactly LayerChoice, as NNI's own differentiable layer does
            if module.label not in memo:
                raise KeyError(f"LayerChoice {module.label} not found in memo")
            return cls(module.candidates, memo[module.label], module.label)
        return None

    def forward(self, *args, **kwargs):
        p = self.probs()
        out = None
        for i in self.active_indices():
            net = self[self.names[i]]
            if self.freeze_candidates:
                logits = self._frozen_forward(i, net, args, kwargs)
            else:
                logits = net(*args, **kwargs)
            term = p[i] * logits
            out = term if out is None else out + term
        if out is None:
            raise RuntimeError("FUSE: no active candidate")
        return out

    def _frozen_forward(self, i: int, net: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor:
        """A frozen candidate's logits, computed once per batch of an α phase and reused by its later α epochs.

        Why a cache: in an α phase the weights do not change and BatchNorm normalises with the batch's own statistics,
        so a candidate's logits on a batch are a function of that batch alone; every α epoch after the first would
        recompute the same numbers. Reusing them makes extra α epochs nearly free, so α can be trained to a decision
        for the cost of one forward pass per candidate. The input is compared with the cached one, so a batch that
        differs (another order, another split) is recomputed, never mixed up.
        """
        key = None if self.cache_key is None or kwargs or len(args) != 1 else (self.cache_key, i)
        if key is not None and key in self._frozen_logits:
            x_seen, logits = self._frozen_logits[key]
            if x_seen.shape == args[0].shape and torch.equal(x_seen, args[0]):
                return logits
        with torch.no_grad():
            logits = net(*args, **kwargs)
        if key is not None:
            self._frozen_logits[key] = (args[0].detach(), logits)
        return logits

    def arch_parameters(self):
        for name, p in self.named_parameters():
            if name in self._arch_parameter_names:
                yield p

    def candidate_parameters(self, index: int) -> list[nn.Parameter]:
        return list(self[self.names[index]].parameters())


def _batch_statistics_only(net: nn.Module, on: bool) -> None:
    """In α phases BatchNorm normalises with the batch's statistics and leaves its running statistics alone.

    Why not eval mode: after a short weight phase the running statistics lag far behind the weights (momentum 0.1), and α
    would then judge networks by how stale their statistics are. Why not plain train mode: it would update the running
    statistics, i.e. change the candidates in a phase that must not. ``track_running_stats = False`` in train mode makes
    torch use batch statistics without reading or writing the buffers.
    """
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if on:
                if not hasattr(m, "_fuse_tracked"):
                    m._fuse_tracked = m.track_running_stats  # type: ignore[attr-defined]
                m.track_running_stats = False
            elif hasattr(m, "_fuse_tracked"):
                m.track_running_stats = m._fuse_tracked  # type: ignore[attr-defined]
                del m._fuse_tracked
    net.train()


class FuseLightningModule(BaseOneShotLightningModule):
    """The search loop of :class:`FUSE` as a Lightning module (one Lightning epoch = one epoch of one phase).

    It wraps the evaluator's Lightning module (which brings the loss and the weight optimizer) like NNI's
    ``DartsLightningModule`` does, and adds α's optimizer. Round bookkeeping (active candidates, incumbent, winners, α
    trajectory) lives here and travels in Lightning checkpoints (:meth:`on_save_checkpoint`).
    """

    def __init__(self, training_module: LightningModule, strategy: "FUSE"):
        super().__init__(training_module)
        self._strategy = [strategy]  # in a list so that nn.Module does not register it
        self.fuse_state: dict[str, Any] = {"rounds": [], "trajectory": [], "incumbent": None}
        self._mixed_layer: list[FuseMixedLayer] | None = None

    @property
    def strategy(self) -> "FUSE":
        return self._strategy[0]

    def mixed_layer(self) -> FuseMixedLayer:
        # Looked up once: walking every candidate's modules on each batch would cost more than a cached α step.
        if self._mixed_layer is None:
            layers = [m for m in self.supernet_modules() if isinstance(m, FuseMixedLayer)]
            if len(layers) != 1:
                raise RuntimeError(f"FUSE expects one mixed layer, found {len(layers)}")
            self._mixed_layer = [layers[0]]  # in a list so that nn.Module does not register it a second time
        return self._mixed_layer[0]

    # --- optimizers -------------------------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.mixed_layer().arch_parameters())

    def configure_architecture_optimizers(self):
        return torch.optim.Adam(self.arch_parameters(), lr=self.strategy.alpha_lr, betas=(0.5, 0.999))

    def postprocess_weight_optimizers(self, optimizers):
        blacklist = {id(p) for p in self.arch_parameters()}

        def strip(opt):
            if isinstance(opt, torch.optim.Optimizer):
                for group in opt.param_groups:
                    group["params"] = [p for p in group["params"] if id(p) not in blacklist]
                return opt
            if isinstance(opt, (list, tuple)):
                return type(opt)(strip(o) for o in opt)
            if isinstance(opt, dict):
                return {k: strip(v) for k, v in opt.items()}
            return opt

        return strip(optimizers)

    def _weight_optimizer(self) -> torch.optim.Optimizer:
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        weight = [o for o in opts if not getattr(o.optimizer if hasattr(o, "optimizer") else o, "is_arch_optimizer", False)]
        return weight[0].optimizer if hasattr(weight[0], "optimizer") else weight[0]

    def _arch_optimizer(self) -> torch.optim.Optimizer:
        opt = self.architecture_optimizers()
        return opt.optimizer if hasattr(opt, "optimizer") else opt  # type: ignore[union-attr]

    # --- rounds -----------------------------------------------------------------------------------------------------
    def _start_round(self, round_index: int) -> None:
        """Activate the round's candidates, reset α (uniform) and, if configured, their weights and optimizer state."""
        layer = self.mixed_layer()
        s = self.strategy
        n = len(layer.names)
        if round_index == 0:
            members = list(range(min(s.candidates_per_round, n)))
        else:
            start = pool_size(s.candidates_per_round, round_index)
            new = list(range(start, min(start + s.candidates_per_round - 1, n)))
            members = [self.fuse_state["incumbent"]] + new
        with torch.no_grad():
            layer.active.zero_()
            layer.active[members] = True
            layer._arch_alpha.zero_()
        arch_opt = self._arch_optimizer()
        arch_opt.state.clear()  # fresh Adam moments for α each round
        if s.reset_weights:
            weight_opt = self._weight_optimizer()
            for c in members:
                # Why reset the incumbent too: a candidate with more training than its rivals would win on head start.
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(_mix_seed(s.seed, round_index, c, 7))
                    for m in layer[layer.names[c]].modules():
                        if hasattr(m, "reset_parameters"):
                            m.reset_parameters()
                for p in layer.candidate_parameters(c):
                    weight_opt.state.pop(p, None)
        self.fuse_state["rounds"].append({"round": round_index, "members": [layer.names[c] for c in members]})
        s._notify(RoundStart("search", round=round_index, candidates=tuple(layer.names[c] for c in members)))

    def _end_round(self, round_index: int) -> None:
        layer = self.mixed_layer()
        probs = layer.probs().detach().cpu()
        members = layer.active_indices()
        winner = max(members, key=lambda i: (float(probs[i]), -i))
        self.fuse_state["incumbent"] = winner
        info = self.fuse_state["rounds"][-1]
        info["probs"] = {str(layer.names[i]): float(probs[i]) for i in members}
        info["winner"] = layer.names[winner]
        self.strategy._notify(RoundEnd("search", round=round_index, winner=str(layer.names[winner]),
                                       probabilities=dict(info["probs"])))

    # --- Lightning hooks --------------------------------------------------------------------------------------------
    def on_train_epoch_start(self):
        ph = self.strategy.phase_of_epoch(self.trainer.current_epoch)
        if ph["first_epoch_of_round"]:
            self._start_round(ph["round"])
        layer = self.mixed_layer()
        alpha_phase = ph["phase"] == ALPHA
        layer.freeze_candidates = alpha_phase
        if not alpha_phase or ph["first_alpha_epoch"]:
            layer.clear_frozen_logits()  # the weights have changed (or are about to): nothing cached is valid
        for p in self.arch_parameters():
            p.requires_grad_(alpha_phase)
        if alpha_phase:
            # Drop the last weight step's gradients: nothing in an α phase may produce new ones (tests check it).
            for p in layer.parameters():
                if p is not layer._arch_alpha:
                    p.grad = None
        for i in range(len(layer.names)):
            _batch_statistics_only(layer[layer.names[i]], alpha_phase)
        return self.training_module.on_train_epoch_start()

    def training_step(self, batch, batch_idx):
        ph = self.strategy.phase_of_epoch(self.trainer.current_epoch)
        if batch["phase"] != ph["phase"] or batch["epoch"] != self.trainer.current_epoch:
            raise RuntimeError(f"FUSE: a batch of the {batch['phase']} phase of epoch {batch['epoch']} reached the "
                               f"{ph['phase']} phase of epoch {self.trainer.current_epoch}")
        x, y = batch["batch"]
        step = self.trainer.global_step
        if ph["phase"] == WEIGHTS:
            out = self.training_module.training_step((x, y), batch_idx)
            loss = out["loss"] if isinstance(out, dict) else out
            check_finite(loss, "FUSE weight phase", self.strategy.task_name, step)
            self.advance_optimization(loss, batch_idx)
            self.advance_lr_schedulers(batch_idx)
            return out
        opt = self._arch_optimizer()
        opt.zero_grad(set_to_none=True)
        layer = self.mixed_layer()
        layer.cache_key = batch_idx
        try:
            logits = self(x)
        finally:
            layer.cache_key = None
        criterion = getattr(self.training_module, "criterion", None) or F.cross_entropy
        loss = criterion(logits, y)
        check_finite(loss, "FUSE α phase", self.strategy.task_name, step)
        self.manual_backward(loss)
        opt.step()
        self.log("alpha_loss", loss.detach(), prog_bar=False)
        self.log("alpha_acc", (logits.argmax(1) == y).float().mean(), prog_bar=False)
        return loss.detach()

    def on_train_epoch_end(self):
        epoch = self.trainer.current_epoch
        ph = self.strategy.phase_of_epoch(epoch)
        layer = self.mixed_layer()
        probs = layer.probs().detach().cpu()
        row = {"epoch": epoch + 1, "round": ph["round"], "cycle": ph["cycle"], "phase": ph["phase"]}
        row.update({f"p_{name}": float(probs[i]) for i, name in enumerate(layer.names)})
        self.fuse_state["trajectory"].append(row)
        self.log_dict({f"alpha/{name}": float(probs[i]) for i in layer.active_indices()
                       for name in [layer.names[i]]})
        self.strategy._notify(PhaseEnd("search", epoch=epoch + 1, round=ph["round"], cycle=ph["cycle"],
                                       phase=ph["phase"],
                                       probabilities={str(name): float(probs[i]) for i, name in enumerate(layer.names)}))
        if ph["last_epoch_of_round"]:
            self._end_round(ph["round"])
        self.strategy._write_trajectory(self.fuse_state["trajectory"], layer.names)
        return self.training_module.on_train_epoch_end()

    def on_train_end(self):
        # Leave the candidates as ordinary networks (running BatchNorm statistics on) for whoever uses them next.
        layer = self.mixed_layer()
        layer.freeze_candidates = False
        layer.clear_frozen_logits()
        for name in layer.names:
            _batch_statistics_only(layer[name], False)
        return self.training_module.on_train_end()

    def on_fit_end(self):
        # Not forwarded: NNI's SupervisedLearningModule would report a final result of the *search* (train accuracy)
        # into the enclosing NNI trial, where the final result belongs to the whole pipeline.
        return None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["fuse_state"] = {"rounds": self.fuse_state["rounds"], "trajectory": self.fuse_state["trajectory"],
                                    "incumbent": self.fuse_state["incumbent"]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "fuse_state" in checkpoint:
            self.fuse_state = {k: v for k, v in checkpoint["fuse_state"].items()}

    def export(self):
        layer = self.mixed_layer()
        if self.fuse_state["incumbent"] is not None:
            return {layer.label: layer.names[self.fuse_state["incumbent"]]}
        return super().export()


@register_strategy("fuse")
class FUSE(OneShotStrategy):
    """FUSE: fusion of whole candidate networks, an NNI one-shot strategy.

    The space must have one ``LayerChoice`` over whole networks as its only choice (e.g.
    :func:`tanas_nni.space.whole_network_space`). The evaluator must be an NNI ``Lightning`` evaluator with train and
    validation dataloaders (e.g. from :func:`fuse_evaluator`); FUSE sets its trainer's ``max_epochs`` to
    :attr:`total_epochs`.

    Parameters
    ----------
    candidates_per_round
        Candidates mixed in one round, the incumbent included (default 4).
    rounds
        Rounds (default 3). Fewer are run when the space has too few candidates; see :func:`pool_size`.
    cycles
        Weight-phase/α-phase alternations per round (default 2).
    weight_epochs
        Epochs over the train split in one weight phase (default 1).
    alpha_epochs
        Epochs over the validation split in one α phase (default 5). Only the first costs a forward pass of each
        candidate; later ones reuse its logits (:meth:`FuseMixedLayer._frozen_forward`). With one α epoch (about 7
        Adam steps on a 900-example validation split) α hardly moved: the largest probability after two cycles on
        ``quickdraw:cat-vs-rest`` was 0.27 against 0.25 for a uniform choice.
    alpha_lr
        Adam learning rate of α (default 0.05; α starts at 0 each round, so a few hundred steps move it by O(1)).
        The weights' learning rate is the evaluator's (``fuse_evaluator(..., learning_rate=3e-3)``).
    reset_weights
        Re-initialise every candidate of a round (the incumbent included) at the round's start, so that all compete on
        the same budget (default True).
    seed
        Seeds data order and re-initialisation (default 0).
    checkpoint_dir
        Where Lightning writes ``last.ckpt`` after every epoch and FUSE writes ``trajectory.csv``; when it already holds a
        ``last.ckpt`` the search resumes from it (default None: no checkpoints).
    on_progress
        Called with :mod:`tanas_nni.core.progress` events (``RoundStart``, ``PhaseEnd``, ``RoundEnd``, ``Resumed``):
        progress lines, NNI intermediate results.
    task_name
        Named in NaN/inf errors.
    """

    def __init__(self, *, candidates_per_round: int = 4, rounds: int = 3, cycles: int = 2, weight_epochs: int = 1,
                 alpha_epochs: int = 5, alpha_lr: float = 0.05, reset_weights: bool = True, seed: int = 0,
                 checkpoint_dir: str | os.PathLike | None = None,
                 on_progress: ProgressFn | None = None, task_name: str = "?",
                 mutation_hooks: list[MutationHook] | None = None, **kwargs: Any):
        super().__init__(mutation_hooks=mutation_hooks, **kwargs)
        check_range("fuse.candidates_per_round", candidates_per_round, 2)
        check_range("fuse.rounds", rounds, 1)
        check_range("fuse.cycles", cycles, 1)
        check_range("fuse.weight_epochs", weight_epochs, 1)
        check_range("fuse.alpha_epochs", alpha_epochs, 1)
        check_range("fuse.alpha_lr", alpha_lr, 0, lo_open=True)
        self.candidates_per_round = candidates_per_round
        self.rounds = rounds
        self.cycles = cycles
        self.weight_epochs = weight_epochs
        self.alpha_epochs = alpha_epochs
        self.alpha_lr = alpha_lr
        self.reset_weights = reset_weights
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.on_progress = on_progress
        self.task_name = task_name
        self.rounds_run = rounds
        self._alpha: nn.Parameter | None = None
        self._label: str | None = None
        self._trainer = None

    @classmethod
    def from_config(cls, cfg: FuseConfig, **kwargs: Any) -> "FUSE":
        """FUSE with ``cfg``'s schedule (its weight learning rate and batch size belong to :func:`fuse_evaluator`)."""
        return cls(candidates_per_round=cfg.candidates_per_round, rounds=cfg.rounds, cycles=cfg.cycles,
                   weight_epochs=cfg.weight_epochs, alpha_epochs=cfg.alpha_epochs, alpha_lr=cfg.alpha_lr,
                   reset_weights=cfg.reset_weights, **kwargs)

    def extra_repr(self) -> str:
        return (f"candidates_per_round={self.candidates_per_round}, rounds={self.rounds}, cycles={self.cycles}, "
                f"weight_epochs={self.weight_epochs}, alpha_epochs={self.alpha_epochs}, alpha_lr={self.alpha_lr}, "
                f"reset_weights={self.reset_weights}, seed={self.seed}")

    # --- schedule ---------------------------------------------------------------------------------------------------
    @property
    def epochs_per_round(self) -> int:
        return self.cycles * (self.weight_epochs + self.alpha_epochs)

    @property
    def total_epochs(self) -> int:
        return self.rounds_run * self.epochs_per_round

    def phase_of_epoch(self, epoch: int) -> dict:
        """Which round, cycle and phase Lightning epoch ``epoch`` (0-based) belongs to."""
        per_round, per_cycle = self.epochs_per_round, self.weight_epochs + self.alpha_epochs
        r, within = divmod(epoch, per_round)
        c, e = divmod(within, per_cycle)
        return {"round": r, "cycle": c, "phase": WEIGHTS if e < self.weight_epochs else ALPHA,
                "first_alpha_epoch": e == self.weight_epochs,
                "first_epoch_of_round": within == 0, "last_epoch_of_round": within == per_round - 1}

    # --- NNI one-shot hooks -----------------------------------------------------------------------------------------
    def default_mutation_hooks(self) -> list[MutationHook]:
        return [FuseMixedLayer.mutate, no_default_hook]

    def mutate_model(self, model: ModelSpace) -> ModelSpace:
        if not isinstance(model, ModelSpace):
            raise TanasError("FUSE: the model space must be an NNI ModelSpace (see tanas_nni.space.whole_network_space)")
        mutables = model.simplify()
        if len(mutables) != 1 or not isinstance(next(iter(mutables.values())), Categorical):
            raise TanasError(f"FUSE: the space must have exactly one LayerChoice over whole networks, "
                             f"got choices {sorted(mutables)}")
        self._label, choice = next(iter(mutables.items()))
        n = len(choice.values)
        if n < 2:
            raise TanasError(f"FUSE: the space has {n} candidate; it needs at least 2 to search")
        rounds = self.rounds
        while rounds > 1 and pool_size(self.candidates_per_round, rounds) > n:
            rounds -= 1
        if rounds < self.rounds:
            _logger.warning("FUSE: %d candidates are enough for %d of %d rounds of %d", n, rounds, self.rounds,
                            self.candidates_per_round)
        self.rounds_run = rounds
        self._alpha = nn.Parameter(torch.zeros(n))
        return super().mutate_model(model)

    def run_hook(self, hook, name, module, memo):
        if not memo.get("_validated"):
            memo[self._label] = self._alpha
            memo["_validated"] = True
        return hook(module, name, memo, {})

    def configure_oneshot_module(self, training_module: LightningModule) -> FuseLightningModule:
        return FuseLightningModule(training_module, self)

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        return _PhaseBatches(self, train_dataloader_fn(), val_dataloader_fn())

    def val_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        return None  # α is trained on the validation split inside the α phases; no separate validation loop

    def mutate_evaluator(self, evaluator: Lightning) -> Lightning:
        mutated = super().mutate_evaluator(evaluator)
        trainer = mutated.trainer
        self._trainer = trainer
        trainer.fit_loop.max_epochs = self.total_epochs
        if self.checkpoint_dir is not None:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            trainer.callbacks.append(_make_checkpoint_callback(self.checkpoint_dir))
            last = self.checkpoint_dir / "last.ckpt"
            if last.is_file() and mutated.fit_kwargs.get("ckpt_path") is None:
                _logger.info("FUSE: resuming from %s", last)
                mutated.fit_kwargs["ckpt_path"] = str(last)
                self._notify(Resumed("search", checkpoint=str(last)))
        return mutated

    # --- state ------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``ckpt_path`` of the last Lightning checkpoint (as NNI's one-shot strategies do) plus FUSE's round record."""
        state: dict = {}
        if self.checkpoint_dir is not None:
            if (self.checkpoint_dir / "last.ckpt").is_file():
                state["ckpt_path"] = str(self.checkpoint_dir / "last.ckpt")
        elif self._trainer is not None and self._trainer.checkpoint_callback is not None:
            state = super().state_dict()  # the evaluator's own checkpoint callback, as NNI's one-shot strategies do
        if self._mutated_model_space is not None:
            state["fuse_state"] = dict(self.oneshot_module.fuse_state)  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if "fuse_state" in state_dict and self._mutated_model_space is not None:
            self.oneshot_module.fuse_state = dict(state_dict["fuse_state"])  # type: ignore[attr-defined]

    # --- results ----------------------------------------------------------------------------------------------------
    def ranking(self) -> list[dict]:
        """Every candidate that took part, best first: the last round's candidates by α probability, then the losers of
        earlier rounds (later rounds first), each by its probability in its round.

        Rows: ``{"choice", "probability", "round", "winner"}``.
        """
        rounds = self.oneshot_module.fuse_state["rounds"]  # type: ignore[attr-defined]
        rows, seen = [], set()
        for info in reversed([r for r in rounds if "probs" in r]):
            for name, p in sorted(info["probs"].items(), key=lambda kv: -kv[1]):
                key = str(name)
                if key in seen:
                    continue
                seen.add(key)
                rows.append({"choice": _as_choice(name), "probability": p, "round": info["round"],
                             "winner": str(info["winner"]) == key})
        return rows

    def incumbent(self) -> tuple[int, nn.Module]:
        """The winner so far (what :meth:`export` names): its index in the whole-network choice and its network, with
        the weights the search gave it."""
        layer = self.oneshot_module.mixed_layer()  # type: ignore[attr-defined]
        index = self.oneshot_module.fuse_state["incumbent"]  # type: ignore[attr-defined]
        if index is None:
            raise TanasError("FUSE: no round has finished yet, so there is no incumbent")
        name = layer.names[index]
        return _as_choice(name), layer[name]

    def alpha_trajectory(self) -> list[dict]:
        return list(self.oneshot_module.fuse_state["trajectory"])  # type: ignore[attr-defined]

    def list_models(self, sort: bool = True, limit: int | None = 1) -> Iterator[RawFormatModelSpace]:
        """The ranked candidates as frozen models (``NasExperiment.export_top_models(k)`` returns the top ``k``)."""
        ranking = self.ranking()
        if limit is not None:
            ranking = ranking[:limit]
        for row in ranking:
            yield self.model_space.freeze({self._label: row["choice"]})

    # --- outputs ----------------------------------------------------------------------------------------------------
    def _notify(self, event: Event) -> None:
        if self.on_progress is not None:
            self.on_progress(dataclasses.replace(event, task=self.task_name) if event.task is None else event)

    def _write_trajectory(self, rows: list[dict], names: list) -> None:
        if self.checkpoint_dir is None:
            return
        write_trajectory_csv(self.checkpoint_dir / "trajectory.csv", rows, names)


def _make_checkpoint_callback(directory: Path):
    """Lightning's ModelCheckpoint writing ``last.ckpt`` after every epoch, atomically.

    Why a subclass: Lightning 2.6 saves through an fsspec transaction, which writes to a file in the system temp
    directory and then ``shutil.move``s it into place; where the temp directory is on another filesystem that move is a
    copy, and a process killed during it leaves a truncated ``last.ckpt``. Written beside the target and renamed with
    ``os.replace``, the swap is atomic.
    """
    from pytorch_lightning.callbacks import ModelCheckpoint

    class AtomicLastCheckpoint(ModelCheckpoint):
        def _save_checkpoint(self, trainer, filepath: str) -> None:
            tmp = f"{filepath}.tmp"
            trainer.save_checkpoint(tmp, self.save_weights_only)
            if trainer.is_global_zero:
                os.replace(tmp, filepath)
            self._last_global_step_saved = trainer.global_step
            self._last_checkpoint_saved = filepath

    # save_top_k=1 without a monitor keeps exactly the newest checkpoint; under a fixed name it is overwritten.
    return AtomicLastCheckpoint(dirpath=str(directory), filename="last", save_top_k=1, save_last=False,
                                every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False)


def _as_choice(name):
    try:
        return int(name)
    except (TypeError, ValueError):
        return name


def write_trajectory_csv(path: Path, rows: list[dict], names: list) -> None:
    """The α trajectory, one row per phase-epoch: epoch, round, cycle, phase, then softmax(α) of every candidate."""
    path = Path(path)
    tmp = path.with_suffix(".csv.tmp")
    fields = ["epoch", "round", "cycle", "phase"] + [f"p_{n}" for n in names]
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    os.replace(tmp, path)


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
