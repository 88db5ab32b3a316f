"""FUSE's supernet module: :class:`FuseMixedLayer`, the softmax(α)-weighted mixture of whole candidate networks, and
the BatchNorm switch its α phases use (``_batch_statistics_only``)."""
from __future__ import annotations

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot: docs/nni.md, "import order")
import torch
from nni.nas.nn.pytorch import LayerChoice
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from torch import nn

__all__ = ["FuseMixedLayer"]


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
