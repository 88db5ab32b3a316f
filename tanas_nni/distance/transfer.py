"""``transfer``: the paper's transfer-complexity distance (TA-NAS, Le et al., ICASSP 2021).

The source network's penultimate features, frozen, are computed on the *target's* examples; a transfer network N (an MLP,
``hidden`` sizes) learns to map them to the target network's penultimate features (MSE, standardised features). N is
judged by a criterion on the target's validation split, then pruned by global weight magnitude
(``torch.nn.utils.prune.global_unstructured``) in steps (``schedule``), fine-tuned after each step, for as long as the
criterion stays within ``epsilon`` of N's unpruned value. The distance is the percentage of N's weights still needed
(``score: weights``). A near source needs a small N; a far one a large N.

Schedules: ``geometric`` (default) removes ``step`` of the weights still left at each step (density 1, 0.7, 0.49, ...
down to ``min_density``), so the resolution is finest where most pairs end (10-25 % of the weights); ``linear`` removes
``step`` of the original weights per step (the reference's 5 %). With ``interpolate`` the distance is the density at
which the criterion curve crosses the ε line (linear in log density between the last accepted and the first rejected
step) instead of the last accepted step, which breaks the ties that whole steps leave.

Criteria:

``probe`` (default; the paper's)
    Accuracy of the target network's own classifier (a linear probe on its penultimate features) applied to N's output,
    on the target's validation split. With ε 0.02 and the geometric, interpolated schedule it ranked the default
    dictionary's tasks best of the criteria measured (``benchmarks/transfer_study.py``; docs/distances.md).
``r2``
    R² of the reconstructed target features on the validation split: how well the target's representation is rebuilt.
``r2-white``
    R² in the target features' top ``components`` principal directions, each whitened to unit variance (computed on the
    train split): every major factor of the target's representation counts equally, not only the largest-variance ones.

``score: unexplained`` returns 100·(1 − R²) of the *unpruned* N instead of the pruned size: it skips pruning (one training
per pair) and is offered because it measured as a steadier ranking signal than the pruning count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
import torch.nn.utils.prune as prune
from torch import nn

from ..core.config import check_range
from ..dictionary import Entry
from ..core.errors import TanasError
from ..training import check_finite
from .base import DistanceTarget, TaskDistance, penultimate, register_distance

__all__ = ["TransferDistance", "TransferSettings", "transfer_curve", "transfer_curves", "pruning_densities", "curve_score"]


@dataclass
class TransferSettings:
    """Parameters of the ``transfer`` distance.

    Attributes
    ----------
    hidden
        Hidden layer sizes of the transfer network (input and output sizes are the features' dims). The reference uses
        1024→2048→512→1024 for 1024-d features; for the dictionary's 128-d features one hidden layer of 128 keeps the
        10x10 matrix within the time budget on 2 cores.
    epochs
        Epochs of the initial training (Adam, ``lr``, batch ``batch_size``) on the target's train split.
    finetune_epochs
        Epochs of fine-tuning after each pruning step.
    schedule
        ``geometric``: each step removes ``step`` of the weights still left; ``linear``: ``step`` of the original
        weights.
    step
        Fraction removed per pruning step (see ``schedule``; the reference's linear 5 % is ``linear`` / 0.05).
    min_density
        The smallest density tried (geometric schedule); a network that stays within ε down to it scores this density.
    interpolate
        Score the crossing of the ε line (log-density interpolation) rather than the last accepted step.
    epsilon
        How far below its unpruned value the criterion may fall (R² units for ``r2``/``r2-white``, accuracy for
        ``probe``).
    criterion
        ``r2``, ``r2-white`` or ``probe`` (see the module docstring).
    components
        Principal components of the target's features that ``r2-white`` scores (each whitened to unit variance).
    score
        ``weights``: % of weights still needed (the paper's); ``unexplained``: 100·(1 − R²) of the unpruned network.
    seeds
        Repetitions with different initialisations (seed, seed+1, ...), averaged.
    """

    hidden: list[int] = field(default_factory=lambda: [128])
    epochs: int = 30
    finetune_epochs: int = 2
    schedule: Literal["geometric", "linear"] = "geometric"
    step: float = 0.3
    min_density: float = 0.01
    interpolate: bool = True
    epsilon: float = 0.02
    criterion: Literal["r2", "r2-white", "probe"] = "probe"
    components: int = 16
    score: Literal["weights", "unexplained"] = "weights"
    lr: float = 1e-3
    batch_size: int = 128
    seeds: int = 1

    def __post_init__(self):
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise TanasError(f"hidden: give one or more positive layer sizes, got {self.hidden}")
        check_range("epochs", self.epochs, 1)
        check_range("finetune_epochs", self.finetune_epochs, 0)
        check_range("step", self.step, 0, 1, lo_open=True)
        check_range("epsilon", self.epsilon, 0)
        check_range("min_density", self.min_density, 0, 1, lo_open=True)
        if self.schedule not in ("geometric", "linear"):
            raise TanasError(f"schedule: 'geometric' or 'linear', got {self.schedule!r}")
        check_range("lr", self.lr, 0, lo_open=True)
        check_range("batch_size", self.batch_size, 1)
        check_range("seeds", self.seeds, 1)
        check_range("components", self.components, 1)
        if self.score == "unexplained" and self.criterion == "probe":
            raise TanasError("score: 'unexplained' is 1 - R² and needs criterion: r2 or r2-white")


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, s: TransferSettings, g: torch.Generator,
           task: str) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    net.train()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), s.batch_size):
            idx = perm[i:i + s.batch_size]
            loss = F.mse_loss(net(x[idx]), y[idx])
            check_finite(loss, "transfer distance", task, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1


def _standardise(train: torch.Tensor, val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Dead or constant ReLU features get a floor on their scale instead of a division by ~0.
    mu, sd = train.mean(0), train.std(0).clamp_min(1e-3)
    return (train - mu) / sd, (val - mu) / sd


def transfer_curve(xs: dict[str, torch.Tensor], yt: dict[str, torch.Tensor], labels_val: torch.Tensor,
                   head: nn.Module | None, s: TransferSettings, seed: int, task: str = "?") -> list[tuple[float, float]]:
    """Train, then prune, one transfer network; returns ``[(density, criterion), ...]`` from density 1 down.

    ``xs``/``yt``: source and target features on the target's ``train`` and ``val`` splits. Pruning stops at the first
    step whose criterion falls more than ``epsilon`` below the unpruned value (that step is included in the curve).
    """
    return transfer_curves(xs, yt, labels_val, head, s, seed, task)[s.criterion]


def transfer_curves(xs: dict[str, torch.Tensor], yt: dict[str, torch.Tensor], labels_val: torch.Tensor,
                    head: nn.Module | None, s: TransferSettings, seed: int, task: str = "?",
                    record: tuple[str, ...] = (), full: bool = False) -> dict[str, list[tuple[float, float]]]:
    """:func:`transfer_curve` for ``s.criterion`` and every criterion in ``record``, all read from the same network at
    each pruning step: ``{criterion: [(density, value), ...]}``. ``full`` prunes down to the last density whatever
    the criteria do (for studies that score many ε afterwards)."""
    x_tr, x_va = _standardise(xs["train"], xs["val"])
    y_mu, y_sd = yt["train"].mean(0), yt["train"].std(0).clamp_min(1e-3)
    y_tr = (yt["train"] - y_mu) / y_sd
    names = list(dict.fromkeys((s.criterion, *record)))
    for name in names:
        if name not in _CRITERIA:
            raise TanasError(f"transfer criterion: one of {', '.join(_CRITERIA)}, got {name!r}")
    if "probe" in names and head is None:
        raise TanasError("distance.transfer.criterion: probe needs a network with a 'head' classifier")
    total_var = ((yt["val"] - yt["val"].mean(0)) ** 2).sum().clamp_min(1e-12)
    if "r2-white" in names:
        # The target's principal directions (from its train split), each scaled to unit variance: R² then weighs the
        # target's first `components` factors equally instead of letting the few largest-variance features decide it.
        _, sv, vh = torch.linalg.svd(y_tr - y_tr.mean(0), full_matrices=False)
        k = min(s.components, int((sv > 1e-6 * sv[0]).sum()))
        proj = vh[:k].T / (sv[:k] / max(len(y_tr) - 1, 1) ** 0.5)
        z_va = ((yt["val"] - y_mu) / y_sd) @ proj
        z_var = ((z_va - z_va.mean(0)) ** 2).sum().clamp_min(1e-12)

    def value(name: str, pred: torch.Tensor) -> float:
        if name == "r2":
            return float(1 - ((pred - yt["val"]) ** 2).sum() / total_var)
        if name == "r2-white":
            z = ((pred - y_mu) / y_sd) @ proj
            return float(1 - ((z - z_va) ** 2).sum() / z_var)
        return float((head(pred).argmax(1) == labels_val).float().mean())

    @torch.no_grad()
    def criteria(net: nn.Module) -> dict[str, float]:
        net.eval()
        pred = net(x_va) * y_sd + y_mu
        net.train()
        return {name: value(name, pred) for name in names}

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = _mlp([x_tr.shape[1], *s.hidden, y_tr.shape[1]])
    _train(net, x_tr, y_tr, s.epochs, s, g, task)
    base = criteria(net)
    curves = {name: [(1.0, v)] for name, v in base.items()}
    if s.score == "unexplained" and not full:
        return curves
    linears = [(m, "weight") for m in net if isinstance(m, nn.Linear)]
    total = sum(m.weight.numel() for m, _ in linears)
    for density in pruning_densities(s):
        kept = sum(int(m.weight_mask.sum()) if hasattr(m, "weight_mask") else m.weight.numel() for m, _ in linears)
        # amount counts among the weights still unpruned, so steps are taken in fractions of the original size.
        prune.global_unstructured(linears, pruning_method=prune.L1Unstructured, amount=kept - round(density * total))
        if s.finetune_epochs:
            _train(net, x_tr, y_tr, s.finetune_epochs, s, g, task)
        values = criteria(net)
        for name, v in values.items():
            curves[name].append((density, v))
        if not full and values[s.criterion] < base[s.criterion] - s.epsilon:
            break
    return curves


_CRITERIA = ("r2", "r2-white", "probe")


def pruning_densities(s: TransferSettings) -> list[float]:
    """The densities (fraction of N's weights kept) tried after the unpruned network, in order."""
    if s.schedule == "linear":
        return [max(0.0, 1 - k * s.step) for k in range(1, math.ceil(1 / s.step))]
    out, d = [], 1.0
    while d * (1 - s.step) >= s.min_density * (1 - 1e-9):
        d *= 1 - s.step
        out.append(d)
    return out


def curve_score(curve: list[tuple[float, float]], s: TransferSettings) -> float:
    """The distance one curve gives: % of weights needed (the ε crossing, or the last accepted step), or 100·(1 − R²)
    unpruned."""
    if s.score == "unexplained":
        return 100.0 * max(0.0, 1.0 - curve[0][1])
    base = curve[0][1]
    line = base - s.epsilon
    needed, above = 1.0, base
    for density, value in curve[1:]:
        if value < line:
            if s.interpolate and density > 0 and above > value:
                # Where the curve crosses the ε line, linear in log density between the two steps around it.
                f = (above - line) / (above - value)
                needed = math.exp(math.log(needed) + f * (math.log(density) - math.log(needed)))
            break
        needed, above = density, value
    return 100.0 * needed


@register_distance("transfer")
class TransferDistance(TaskDistance):
    """Transfer-network complexity distance; asymmetric (features go from source to target)."""

    symmetric = False
    Settings = TransferSettings

    def distance(self, source: Entry, target: DistanceTarget) -> float:
        if target.is_source(source):
            return 0.0
        s = self.settings
        data = target.data
        if "transfer-target" not in target.memo:
            target.memo["transfer-target"] = {sp: penultimate(target.network, data.x[sp]) for sp in ("train", "val")}
        yt = target.memo["transfer-target"]
        net_s = source.load_network()
        xs = {sp: penultimate(net_s, data.x[sp]) for sp in ("train", "val")}
        head = getattr(target.network, "head", None)
        scores = [curve_score(transfer_curve(xs, yt, data.y["val"], head, s, target.seed + r, target.task), s)
                  for r in range(s.seeds)]
        return float(sum(scores) / len(scores))
