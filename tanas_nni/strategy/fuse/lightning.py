"""FUSE's search loop as a Lightning module: rounds, weight and α phases, the round record it checkpoints."""
from __future__ import annotations

from typing import Any

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot: docs/nni.md, "import order")
import torch
import torch.nn.functional as F
from nni.nas.evaluator.pytorch.lightning import LightningModule
from nni.nas.oneshot.pytorch.base_lightning import BaseOneShotLightningModule
from torch import nn

from ...core.errors import TanasError
from ...core.progress import PhaseEnd, RoundEnd, RoundStart
from ...training import check_finite
from .config import ALPHA, WEIGHTS, _mix_seed, pool_size, survivors
from .supermodule import FuseMixedLayer, _batch_statistics_only

__all__ = ["FuseLightningModule"]


class FuseLightningModule(BaseOneShotLightningModule):
    """The search loop of :class:`FUSE` as a Lightning module (one Lightning epoch = one epoch of one phase).

    It wraps the evaluator's Lightning module (which brings the criterion and the weight optimizer) like NNI's
    ``DartsLightningModule`` does, and adds α's optimizer. With ``weight_loss="own"`` a weight phase applies the
    evaluator's ``criterion`` to each candidate's output; with ``"mixture"`` it runs the evaluator's ``training_step``
    on the mixture. Round bookkeeping (active candidates, incumbent, winners, α
    trajectory) lives here and travels in Lightning checkpoints (:meth:`on_save_checkpoint`).
    """

    def __init__(self, training_module: LightningModule, strategy: Any):
        # strategy: the FUSE strategy that drives this module; typed loosely because .strategy imports this module.
        super().__init__(training_module)
        self._strategy = [strategy]  # in a list so that nn.Module does not register it
        self.fuse_state: dict[str, Any] = {"rounds": [], "trajectory": [], "incumbent": None}
        self._mixed_layer: list[FuseMixedLayer] | None = None

    @property
    def strategy(self) -> Any:
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
        """Activate the round's candidates, reset α (uniform) and, if configured, their weights and optimizer state
        (with ``selection="halving"`` in round 0 only: the survivors go on training)."""
        layer = self.mixed_layer()
        s = self.strategy
        n = len(layer.names)
        halving = s.selection == "halving"
        if halving:
            members = (list(range(s.pool_run)) if round_index == 0 else
                       [layer.names.index(c) for c in self.fuse_state["rounds"][-1]["survivors"]])
        elif round_index == 0:
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
        if s.reset_weights and not (halving and round_index > 0):
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
        if self.strategy.selection == "halving":
            ranked = sorted(members, key=lambda i: (-float(probs[i]), i))
            info["survivors"] = [layer.names[i] for i in sorted(ranked[:survivors(len(members))])]
        info["probs"] = {str(layer.names[i]): float(probs[i]) for i in members}
        info["winner"] = layer.names[winner]
        self.strategy._notify(RoundEnd("search", round=round_index, winner=str(layer.names[winner]),
                                       probabilities=dict(info["probs"])))

    # --- Lightning hooks --------------------------------------------------------------------------------------------
    def on_train_epoch_start(self):
        ph = self.strategy.phase_of_epoch(self.trainer.current_epoch)
        self.strategy.watchdog.beat(f"round {ph['round'] + 1}, start of epoch {self.trainer.current_epoch + 1}")
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
        self.strategy.watchdog.beat(f"round {ph['round'] + 1}, epoch {self.trainer.current_epoch + 1}, "
                                    f"{ph['phase']} phase, batch {batch_idx}")
        if batch["phase"] != ph["phase"] or batch["epoch"] != self.trainer.current_epoch:
            raise RuntimeError(f"FUSE: a batch of the {batch['phase']} phase of epoch {batch['epoch']} reached the "
                               f"{ph['phase']} phase of epoch {self.trainer.current_epoch}")
        x, y = batch["batch"]
        step = self.trainer.global_step
        if ph["phase"] == WEIGHTS:
            if self.strategy.weight_loss == "own":
                out = loss = self._own_losses(x, y)
            else:
                out = self.training_module.training_step((x, y), batch_idx)
                loss = out["loss"] if isinstance(out, dict) else out
            check_finite(loss, "FUSE weight phase", self.strategy.task_name, step)
            if self.strategy.weight_schedule == "cosine":
                self._set_cosine_lr(ph, batch_idx)
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
        loss = self._criterion()(logits, y)
        check_finite(loss, "FUSE α phase", self.strategy.task_name, step)
        self.manual_backward(loss)
        opt.step()
        self.log("alpha_loss", loss.detach(), prog_bar=False)
        self.log("alpha_acc", (logits.argmax(1) == y).float().mean(), prog_bar=False)
        return loss.detach()

    def _criterion(self):
        """The evaluator's loss (NNI's Classification brings ``criterion``), else cross-entropy."""
        return getattr(self.training_module, "criterion", None) or F.cross_entropy

    def _own_losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The sum of the active candidates' own losses: each candidate's gradient is that of its own loss alone.

        Why the candidates are called one by one and not through the supernet: the space's only choice is the whole
        network and the model has no parameters outside it (:meth:`FUSE.mutate_model` checks), so a candidate's
        output is the model's logits, and the mixture is not needed here.
        """
        layer = self.mixed_layer()
        criterion = self._criterion()
        losses, correct = [], []
        for i in layer.active_indices():
            logits = layer[layer.names[i]](x)
            losses.append(criterion(logits, y))
            correct.append((logits.detach().argmax(1) == y).float().mean())
        loss = torch.stack(losses).sum()
        # the candidates' means, so that the curves read like one network's (the mixture's in "mixture" mode)
        self.log("train_loss", loss.detach() / len(losses), prog_bar=False)
        self.log("train_acc", torch.stack(correct).mean(), prog_bar=False)
        return loss

    def _set_cosine_lr(self, ph: dict, batch_idx: int) -> None:
        """The round's weight lr: cosine from the base lr to 0 over the round's weight steps.

        Why by hand and not a torch scheduler: the schedule restarts every round and skips the α epochs; computed from
        (epoch, batch) it is also exact after a resume. The base lr is kept in the param group, which checkpoints save.
        """
        import math

        s = self.strategy
        per_cycle = s.weight_epochs + s.alpha_epochs
        within = self.trainer.current_epoch - ph["round"] * s.epochs_per_round - ph["cycle"] * per_cycle
        nb = s._train_batches or self.trainer.num_training_batches
        if not math.isfinite(nb):
            raise TanasError("fuse.weight_schedule: 'cosine' needs a train dataloader with a length")
        nb = max(1, int(nb))
        t = (ph["cycle"] * s.weight_epochs + within) * nb + batch_idx
        total = s.cycles * s.weight_epochs * nb
        for group in self._weight_optimizer().param_groups:
            base = group.setdefault("fuse_base_lr", group["lr"])
            group["lr"] = base * 0.5 * (1 + math.cos(math.pi * t / total))

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
