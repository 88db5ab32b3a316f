"""``otdd``: a Gaussian optimal-transport dataset distance (OTDD; Alvarez-Melis & Fusi 2020, "Geometric dataset
distances via optimal transport"), in its Gaussian-mixture form.

Both tasks' training examples are embedded in one feature space: the penultimate features of the *target's* network
(``features: target``, default) or the raw pixels (``features: pixels``). Each class of each task becomes a Gaussian
(its mean and covariance in that space). The cost of matching a source class a with a target class b is the squared
2-Wasserstein distance between their Gaussians (the Bures form)::

    W²(a, b) = ||m_a − m_b||² + tr(S_a + S_b − 2 (S_b^½ S_a S_b^½)^½)

and the distance is the optimal transport between the two tasks' class priors under that cost:
min Σ π_ab W²(a, b) over couplings π whose rows sum to the source's priors and columns to the target's. OTDD proper
transports the examples themselves with a label cost of this kind; replacing every class by its Gaussian (the paper's
cheap variant) leaves a transport between a handful of classes, solved exactly as a linear programme.

Why it suits a dictionary of one-vs-rest tasks:

* **Label-aware.** Classes are matched by their feature distributions, not by their names or indices: a source's
  "digit 3" and "rest" are paired with whichever target classes they resemble, so two tasks that split the same data
  differently are near only in so far as their classes look alike.
* **Cheap.** Forward passes over ``samples`` examples of each task, then one d×d symmetric eigendecomposition per
  pair of classes (d = 128 features for the default TaskNet): no training, no gradients.

With ``normalise: target`` (default) the value is divided by the total variance of the target's features (the trace
of their covariance over the target's sample), so that targets whose networks spread their features more are not
farther from everything: distances are comparable across the columns of a matrix. Asymmetric: the embedding and the
scale are the target's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..core.config import check_range
from ..core.errors import TanasError
from ..dictionary import Entry
from .base import DistanceTarget, TaskDistance, penultimate, register_distance, seeded_subset

__all__ = ["OTDDistance", "OTDDSettings", "gaussian_w2", "class_transport"]


@dataclass
class OTDDSettings:
    """Parameters of the ``otdd`` distance.

    Attributes
    ----------
    features
        ``target``: the target network's penultimate features (default; one embedding for both tasks, trained to
        separate the target's classes); ``pixels``: the flattened raw images (no network at all).
    samples
        Training examples of each task (a seeded subset, the target's seed) the class Gaussians are fitted on.
    ridge
        Added to every covariance's diagonal, relative to the target's mean variance per feature (its total variance
        / d): a class with fewer examples than features has a singular covariance, and the ridge keeps the square
        roots stable without moving the distance noticeably.
    normalise
        ``target``: divide by the target's total feature variance (comparable across targets); ``none``: the raw
        squared-Wasserstein cost in feature units.
    """

    features: Literal["target", "pixels"] = "target"
    samples: int = 500
    ridge: float = 1e-4
    normalise: Literal["target", "none"] = "target"

    def __post_init__(self):
        check_range("samples", self.samples, 2)
        check_range("ridge", self.ridge, 0)


@dataclass
class _Gaussians:
    """A task's class Gaussians in one feature space: priors (classes with no example dropped), means, covariances."""

    priors: np.ndarray
    means: np.ndarray
    covs: np.ndarray


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues clamped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def gaussian_w2(m1, s1, m2, s2, sqrt_s2: np.ndarray | None = None) -> float:
    """Squared 2-Wasserstein distance between N(m1, s1) and N(m2, s2), in float64.

    ``sqrt_s2`` is ``s2``'s square root if already known (the target's, reused for every source class).
    """
    m1, s1, m2, s2 = (np.asarray(a, dtype=np.float64) for a in (m1, s1, m2, s2))
    r = _psd_sqrt(s2) if sqrt_s2 is None else sqrt_s2
    cross = r @ s1 @ r
    w = np.linalg.eigvalsh((cross + cross.T) / 2)
    bures = np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(w, 0, None)).sum()
    # Round-off can leave a tiny negative value for (nearly) equal Gaussians; the distance itself is never negative.
    return float(max(((m1 - m2) ** 2).sum() + bures, 0.0))


def class_transport(p, q, cost) -> tuple[float, np.ndarray]:
    """Exact optimal transport between the weights ``p`` (rows) and ``q`` (columns) under ``cost``: ``(value, plan)``.

    A linear programme of len(p)·len(q) variables, tiny for tasks of a few classes (HiGHS, deterministic).
    """
    from scipy.optimize import linprog

    p, q, c = np.asarray(p, float), np.asarray(q, float), np.asarray(cost, float)
    na, nb = c.shape
    rows = np.kron(np.eye(na), np.ones((1, nb)))   # Σ_b π_ab = p_a
    cols = np.kron(np.ones((1, na)), np.eye(nb))   # Σ_a π_ab = q_b
    # One column constraint is implied by the others (both marginals sum to 1); dropping it keeps the system full rank.
    a_eq = np.vstack([rows, cols[:-1]])
    b_eq = np.concatenate([p, q[:-1]])
    res = linprog(c.ravel(), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:
        raise TanasError(f"otdd: the class transport did not solve ({res.message})")
    plan = res.x.reshape(na, nb)
    return float(max((plan * c).sum(), 0.0)), plan


@register_distance("otdd")
class OTDDistance(TaskDistance):
    """Gaussian optimal-transport dataset distance; asymmetric (the target's network embeds both tasks)."""

    symmetric = False
    Settings = OTDDSettings

    def _embed(self, target: DistanceTarget, x: torch.Tensor) -> np.ndarray:
        if self.settings.features == "pixels":
            z = x.reshape(len(x), -1)
        else:
            z = penultimate(target.network, x)
        return z.double().cpu().numpy()

    def _gaussians(self, z: np.ndarray, y: torch.Tensor, num_classes: int, ridge: float) -> _Gaussians:
        labels = y.cpu().numpy()
        priors, means, covs = [], [], []
        eye = np.eye(z.shape[1])
        for c in range(num_classes):
            zc = z[labels == c]
            if len(zc) == 0:
                continue  # a class absent from the sample carries no mass
            m = zc.mean(0)
            d = zc - m
            cov = d.T @ d / max(len(zc) - 1, 1)
            priors.append(len(zc) / len(z))
            means.append(m)
            covs.append(cov + ridge * eye)
        return _Gaussians(np.array(priors), np.array(means), np.array(covs))

    def _target_side(self, target: DistanceTarget) -> dict:
        key = ("otdd-target", repr(self.settings_dict()))
        if key not in target.memo:
            x, y = seeded_subset(target.data.x["train"], target.data.y["train"], self.settings.samples, target.seed)
            z = self._embed(target, x)
            total = float(np.trace(np.atleast_2d(np.cov(z, rowvar=False))))
            ridge = self.settings.ridge * total / z.shape[1]
            g = self._gaussians(z, y, target.data.num_classes, ridge)
            target.memo[key] = {"gaussians": g, "sqrt": [_psd_sqrt(s) for s in g.covs], "ridge": ridge,
                                "scale": total if self.settings.normalise == "target" else 1.0}
        return target.memo[key]

    def distance(self, source: Entry, target: DistanceTarget) -> float:
        if target.is_source(source):
            return 0.0
        t = self._target_side(target)
        src = target.load_source_data(source)
        xs, ys = seeded_subset(src.x["train"], src.y["train"], self.settings.samples, target.seed)
        gs = self._gaussians(self._embed(target, xs), ys, src.num_classes, t["ridge"])
        gt = t["gaussians"]
        cost = np.array([[gaussian_w2(gs.means[a], gs.covs[a], gt.means[b], gt.covs[b], sqrt_s2=t["sqrt"][b])
                          for b in range(len(gt.priors))] for a in range(len(gs.priors))])
        value, _ = class_transport(gs.priors, gt.priors, cost)
        # A constant target (zero variance) has no scale to divide by; its raw cost is already 0 or meaningful as is.
        return value / t["scale"] if t["scale"] > 0 else value
