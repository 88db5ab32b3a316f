"""FUSE: whole candidate networks mixed by softmax weights learned on the validation split.

FUSE is an NNI one-shot strategy (:class:`~nni.nas.oneshot.pytorch.strategy.OneShotStrategy`). It searches a space whose
only choice is one ``LayerChoice`` over whole networks (see :func:`tanas_nni.space.whole_network_space`): the mutation hook
replaces that choice by :class:`FuseMixedLayer`, whose output is ``Σ_c softmax(α)_c · logits_c(x)`` over the candidates of
the current round, and :class:`FuseLightningModule` runs the search inside one Lightning ``fit``:

* the search is a sequence of **rounds**; round 0 takes the first ``candidates_per_round`` candidates of the choice, every
  later round the incumbent (the previous round's winner) plus the next ``candidates_per_round - 1`` candidates, in the
  order the space lists them (a task-aware space lists the nearest tasks' own architectures first);
* a round is ``cycles`` alternations of a **weight phase** (``weight_epochs`` epochs on the train split; α frozen, the
  evaluator's optimizer trains each candidate on its own loss, or with ``weight_loss="mixture"`` the mixture as one
  network: docs/fuse.md) and an **α phase** (``alpha_epochs`` epochs on the
  validation split; the candidates run under ``torch.no_grad`` so that no weight gradient is computed, BatchNorm uses batch
  statistics and leaves its running statistics alone; only α is in autograd, through the softmax mixture of the detached
  logits, computed once per batch in a phase and reused by its later epochs);
* at the end of a round the argmax-α candidate wins and becomes the incumbent;
* with ``selection="halving"`` round 0 takes the whole pool (as many candidates as the rounds would consume) and every
  later round the better half (by α) of the previous one, which keep their weights and go on training, until one is
  left: the last comparison is between networks trained ``rounds × cycles × weight_epochs`` epochs, not one round's;
* every Lightning epoch is one phase-epoch, so Lightning's own checkpointing (``last.ckpt`` in ``checkpoint_dir`` after each
  epoch) makes the search resumable after a process kill; data order, weight re-initialisation and α are functions of
  (seed, epoch, round), so a resumed search ends bit-identical to an uninterrupted one.

The test split never reaches FUSE: it sees the evaluator's train and validation dataloaders only.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot: docs/nni.md, "import order")
import torch
from nni.mutable import Categorical
from nni.nas.evaluator.pytorch.lightning import Lightning, LightningModule
from nni.nas.nn.pytorch import ModelSpace
from nni.nas.oneshot.pytorch.strategy import MutationHook, OneShotStrategy, no_default_hook
from nni.nas.space import RawFormatModelSpace
from torch import nn

from ...core.config import check_range
from ...core.errors import TanasError
from ...core.watchdog import Watchdog
from ...core.progress import Event, ProgressFn, Resumed
from ..registry import register_strategy
from .config import (ALPHA, SCHEDULES, SELECTIONS, WEIGHT_LOSSES, WEIGHTS, FuseConfig, check_choice, halving_rounds,
                     pool_size)
from .data import _PhaseBatches
from .lightning import FuseLightningModule
from .supermodule import FuseMixedLayer

__all__ = ["FUSE", "write_trajectory_csv"]

_logger = logging.getLogger(__name__)


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
    weight_schedule
        ``"constant"`` (the evaluator's weight lr) or ``"cosine"`` (from it to 0 over each round's weight steps).
    selection
        How the pool is narrowed to one (default ``"rounds"``, the incumbent against newcomers as above).
        ``"halving"``: successive halving over the same pool: all its candidates in round 0, then each round the
        better ⌈n/2⌉ of the last, which keep training (``reset_weights`` applies to round 0 only), until one is left
        (:func:`halving_rounds` rounds; ``rounds`` then only sizes the pool).
    weight_loss
        What a weight phase trains (default ``"own"``): each candidate on its own cross-entropy, as it will be retrained
        alone, so that α then compares networks as the retraining will know them. ``"mixture"`` trains the
        softmax(α)-weighted sum of the candidates' logits as one network: every candidate then learns with a share
        p_c of the gradient and learns to complement the others (docs/fuse.md).
    seed
        Seeds data order and re-initialisation (default 0).
    checkpoint_dir
        Where Lightning writes ``last.ckpt`` after every weight epoch (α epochs move no optimiser step, so a resume may redo
        the α epochs after the last one; they are deterministic) and FUSE writes ``trajectory.csv``; when it already holds a
        ``last.ckpt`` the search resumes from it (default None: no checkpoints).
    on_progress
        Called with :mod:`tanas_nni.core.progress` events (``RoundStart``, ``PhaseEnd``, ``RoundEnd``, ``Resumed``):
        progress lines, NNI intermediate results.
    task_name
        Named in NaN/inf errors.
    stall_seconds
        A search that makes no progress (no batch, no epoch) for this long is stopped with an error naming where it
        stood and the stacks of every thread, instead of hanging (default 1800; 0 turns it off).
    """

    def __init__(self, *, candidates_per_round: int = 4, rounds: int = 3, cycles: int = 2, weight_epochs: int = 1,
                 alpha_epochs: int = 5, alpha_lr: float = 0.05, reset_weights: bool = True, seed: int = 0,
                 checkpoint_dir: str | os.PathLike | None = None,
                 on_progress: ProgressFn | None = None, task_name: str = "?", stall_seconds: float = 1800,
                 weight_schedule: str = "constant", weight_loss: str = "own", selection: str = "rounds",
                 mutation_hooks: list[MutationHook] | None = None, **kwargs: Any):
        super().__init__(mutation_hooks=mutation_hooks, **kwargs)
        check_range("fuse.candidates_per_round", candidates_per_round, 2)
        check_range("fuse.rounds", rounds, 1)
        check_range("fuse.cycles", cycles, 1)
        check_range("fuse.weight_epochs", weight_epochs, 1)
        check_range("fuse.alpha_epochs", alpha_epochs, 1)
        check_range("fuse.alpha_lr", alpha_lr, 0, lo_open=True)
        check_choice("fuse.weight_schedule", weight_schedule, SCHEDULES)
        check_choice("fuse.weight_loss", weight_loss, WEIGHT_LOSSES)
        check_choice("fuse.selection", selection, SELECTIONS)
        self.selection = selection
        self.weight_schedule = weight_schedule
        self.weight_loss = weight_loss
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
        self.stall_seconds = stall_seconds
        self.watchdog = Watchdog(None, "")  # armed for the length of a run (see _run)
        self.rounds_run = rounds
        self.pool_run: int | None = None  # candidates the search takes part in (set with the space: mutate_model)
        self._alpha: nn.Parameter | None = None
        self._label: str | None = None
        self._trainer = None
        self._train_batches: int | None = None

    @classmethod
    def from_config(cls, cfg: FuseConfig, **kwargs: Any) -> "FUSE":
        """FUSE with ``cfg``'s schedule (its weight learning rate and batch size belong to :func:`fuse_evaluator`)."""
        return cls(candidates_per_round=cfg.candidates_per_round, rounds=cfg.rounds, cycles=cfg.cycles,
                   weight_epochs=cfg.weight_epochs, alpha_epochs=cfg.alpha_epochs, alpha_lr=cfg.alpha_lr,
                   reset_weights=cfg.reset_weights, stall_seconds=cfg.stall_seconds,
                   weight_schedule=cfg.weight_schedule, weight_loss=cfg.weight_loss, selection=cfg.selection,
                   **kwargs)

    def extra_repr(self) -> str:
        return (f"candidates_per_round={self.candidates_per_round}, rounds={self.rounds}, cycles={self.cycles}, "
                f"weight_epochs={self.weight_epochs}, alpha_epochs={self.alpha_epochs}, alpha_lr={self.alpha_lr}, "
                f"reset_weights={self.reset_weights}, weight_loss={self.weight_loss!r}, selection={self.selection!r}, "
                f"seed={self.seed}")

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
        if self.selection == "halving":
            self.pool_run = min(n, pool_size(self.candidates_per_round, self.rounds))
            self.rounds_run = halving_rounds(self.pool_run)
        else:
            rounds = self.rounds
            while rounds > 1 and pool_size(self.candidates_per_round, rounds) > n:
                rounds -= 1
            if rounds < self.rounds:
                _logger.warning("FUSE: %d candidates are enough for %d of %d rounds of %d", n, rounds, self.rounds,
                                self.candidates_per_round)
            self.rounds_run = rounds
            self.pool_run = min(n, pool_size(self.candidates_per_round, rounds))
        self._alpha = nn.Parameter(torch.zeros(n))
        model = super().mutate_model(model)
        if self.weight_loss == "own":
            # "own" trains the candidates by calling them directly; a parameter outside the choice would never learn
            inside = {id(p) for m in model.modules() if isinstance(m, FuseMixedLayer) for p in m.parameters()}
            outside = [name for name, p in model.named_parameters() if id(p) not in inside]
            if outside:
                raise TanasError(f"FUSE: fuse.weight_loss 'own' needs a model that is the LayerChoice alone, but "
                                 f"{outside[0]} (and {len(outside) - 1} more) lies outside it; build the space with "
                                 f"tanas_nni.space.whole_network_space or set fuse.weight_loss: mixture")
        return model

    def run_hook(self, hook, name, module, memo):
        if not memo.get("_validated"):
            memo[self._label] = self._alpha
            memo["_validated"] = True
        return hook(module, name, memo, {})

    def configure_oneshot_module(self, training_module: LightningModule) -> FuseLightningModule:
        return FuseLightningModule(training_module, self)

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        train = train_dataloader_fn()
        self._train_batches = len(train) if hasattr(train, "__len__") else None  # for the cosine weight schedule
        return _PhaseBatches(self, train, val_dataloader_fn())

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

    def _run(self) -> None:
        # The whole run is watched, from the trainer's set-up on: a search once stalled right after its space was built.
        self.watchdog = Watchdog(self.stall_seconds, f"FUSE search on {self.task_name}")
        with self.watchdog:
            super()._run()

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
