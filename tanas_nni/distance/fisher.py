"""``fisher``: the Fisher task distance (FTD; Le et al., the follow-up of TA-NAS).

d(s → t) = ½ Σ (√F_s − √F_t)², with F the diagonal empirical Fisher information of a network on the *target's* training
examples, normalised to sum 1.

Variants (``variant``):

``two``
    Two networks: F_t is the target network's Fisher on the target's data; F_s is the source network's, with its classifier
    re-fitted to the target's labels (a linear probe on its frozen penultimate features). The re-fit is what makes the
    source's Fisher meaningful on the target (the source head predicts other classes, possibly another number of them).
``one`` (default)
    One network, the target's: its Fisher on the source's training examples (its classifier re-fitted to the source's
    labels) against its Fisher on the target's. One set of weights for both tasks means the two Fishers differ only by
    the tasks' data, which ranked more steadily than ``two`` on the default dictionary (docs/distances.md).

``normalise: layer`` (default) gives every weight layer the same total mass 1/L before the square roots, so the few
hundred thousand weights of a fully connected layer do not drown the convolutions (which carry most of the task
signal: see docs/distances.md); ``global`` normalises the whole vector at once, as the paper writes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..core.config import check_range
from ..dictionary import Entry
from ._fisher_math import diagonal_fisher, fisher_layers, fit_linear_probe, with_head
from .base import DistanceTarget, TaskDistance, penultimate, register_distance, seeded_subset

__all__ = ["FisherDistance", "FisherSettings"]


@dataclass
class FisherSettings:
    """Parameters of the ``fisher`` distance.

    Attributes
    ----------
    variant
        ``one`` network (the target's; default) or ``two``, see the module docstring.
    samples
        Target training examples the Fisher is averaged over (a seeded subset; 500 keeps the 10x10 matrix under a minute
        on 2 cores and moved no ranking in our runs compared with 1000).
    layers
        ``conv``: the convolution layers' Fisher only (default: the filters carry the dataset's low-level statistics,
        the fully connected layers mostly the labelling; see docs/distances.md); ``all``: every weight layer.
    normalise
        ``layer``: every weight layer sums to 1/L; ``global``: the whole diagonal sums to 1.
    probe_weight_decay
        L2 penalty of the re-fitted classifier.
    """

    variant: Literal["one", "two"] = "one"
    samples: int = 500
    layers: Literal["conv", "all"] = "conv"
    normalise: Literal["layer", "global"] = "layer"
    probe_weight_decay: float = 1e-4

    def __post_init__(self):
        check_range("samples", self.samples, 2)
        check_range("probe_weight_decay", self.probe_weight_decay, 0)


@register_distance("fisher")
class FisherDistance(TaskDistance):
    """Fisher task distance; asymmetric (the Fisher is taken on the target's data)."""

    symmetric = False
    Settings = FisherSettings

    def _normalised(self, fisher: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.settings.normalise == "layer":
            # Group weight and bias of one layer together: a layer is the unit that gets mass 1/L.
            layers: dict[str, list[torch.Tensor]] = {}
            for k, v in fisher.items():
                layers.setdefault(k.rsplit(".", 1)[0], []).append(v.flatten())
            parts = [torch.cat(v) for v in layers.values()]
            return torch.cat([p / p.sum().clamp_min(1e-30) / len(parts) for p in parts])
        flat = torch.cat([v.flatten() for v in fisher.values()])
        return flat / flat.sum().clamp_min(1e-30)

    def _probed_fisher(self, network, x, y, num_classes: int) -> torch.Tensor:
        head = fit_linear_probe(penultimate(network, x), y, num_classes, self.settings.probe_weight_decay)
        probed = with_head(network, head)
        return self._normalised(diagonal_fisher(probed, x, y, layers=self._layers(probed)))

    def _layers(self, network):
        layers = fisher_layers(network)
        if self.settings.layers == "conv":
            layers = [(n, m) for n, m in layers if isinstance(m, torch.nn.Conv2d)] or layers
        return layers

    def _target_sample(self, target: DistanceTarget) -> tuple[torch.Tensor, torch.Tensor]:
        key = ("fisher-sample", self.settings.samples)
        if key not in target.memo:
            target.memo[key] = seeded_subset(target.data.x["train"], target.data.y["train"], self.settings.samples,
                                             target.seed)
        return target.memo[key]

    def distance(self, source: Entry, target: DistanceTarget) -> float:
        if target.is_source(source):
            return 0.0
        x, y = self._target_sample(target)
        net_t = target.network
        key = ("fisher-target", self.settings_dict().__repr__())
        if key not in target.memo:
            target.memo[key] = self._normalised(diagonal_fisher(net_t, x, y, layers=self._layers(net_t)))
        f_t = target.memo[key]
        if self.settings.variant == "two":
            f_s = self._probed_fisher(source.load_network(), x, y, target.data.num_classes)
        else:
            src = target.load_source_data(source)
            xs, ys = seeded_subset(src.x["train"], src.y["train"], self.settings.samples, target.seed)
            f_s = self._probed_fisher(net_t, xs, ys, src.num_classes)
        return float(0.5 * ((f_s.sqrt() - f_t.sqrt()) ** 2).sum())
