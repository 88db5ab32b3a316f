"""The task-aware search space: the preprocessor that turns task distances into a narrowed, weighted space.

Construction (docs/task_aware_space.md states it with the formulae):

1. Neighbours: the ``k`` dictionary tasks nearest to the target (ascending distance, ties by task id); the target's own
   entry, when it is in the dictionary, is never its own neighbour.
2. Weights: ``w_i ∝ exp(-(d_i - d_1) / (τ σ))`` where ``σ`` is the standard deviation of the distances from every
   dictionary task to the target. Dividing by ``σ`` puts every distance method on one scale (the transfer distance is a
   percentage, the Fisher distance a small number); ``τ`` (default 1) then reads "a task one standard deviation farther
   gets e⁻¹ ≈ 0.37 of the weight". ``σ = 0`` (all distances equal) gives equal weights.
3. Priors: the operation prior is the w-weighted frequency of each operation over the neighbours' cell edges; the skeleton
   and cell-topology priors put ``w_i`` on neighbour i's skeleton and topology (summed when neighbours share one).
   Anything with prior 0 is not in the space: the space holds only the neighbours' skeletons, topologies and operations.
4. Candidates (whole networks, distinct): the neighbours' own architectures, nearest first; then recombinations (the
   skeleton of neighbour i with the cell of neighbour j, i ≠ j, by decreasing ``w_i w_j``); then mutations (a neighbour's
   architecture, drawn ∝ w, with 1, 2, ... edges (geometric, p = 1/2) re-drawn from the operation prior, never keeping
   the edge's operation); then, if still short, fresh draws from the priors.

The standard space is the same generator with uniform priors over everything and no neighbours.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from ..core.errors import TanasError
from .architecture import Architecture, Cell, CellTopology, Skeleton, live_edges
from .generator import CandidateGenerator
from .ops import OPERATIONS
from .spec import SpaceSpec, load_space

__all__ = ["TaskAwareSpace", "DEFAULT_TAU", "closeness_weights"]

DEFAULT_TAU = 1.0
"""Temperature of the closeness weights, in units of the spread (standard deviation) of the dictionary's distances."""

MUTATION_TRIES = 50  # attempts per missing candidate before falling back to fresh draws


def closeness_weights(nearest: list[float], all_distances: list[float], tau: float | None = None) -> list[float]:
    """``w_i ∝ exp(-(d_i - d_min) / (τ σ))`` for the ``nearest`` distances; ``σ`` = std of ``all_distances``."""
    tau = DEFAULT_TAU if tau is None else tau
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise TanasError(f"tau: must be a positive number, got {tau!r}")
    sigma = float(np.std(np.asarray(all_distances, dtype=float)))
    if sigma <= 0 or not math.isfinite(sigma):
        return [1.0 / len(nearest)] * len(nearest)
    d = np.asarray(nearest, dtype=float)
    w = np.exp(-(d - d.min()) / (tau * sigma))
    return (w / w.sum()).tolist()


class TaskAwareSpace:
    """A space (a :class:`SpaceSpec`) with priors, neighbours and base architectures. Build it with the classmethods.

    Attributes
    ----------
    spec
        The space's skeletons, cell topologies and operations (only those with positive prior).
    neighbours
        ``[(task_id, distance, weight), ...]``, nearest first (empty for the standard space).
    base_architectures
        The neighbours' architectures, nearest first.
    operation_prior, skeleton_prior, cell_prior
        Dicts from operation name / :class:`Skeleton` / :class:`CellTopology` to probability (each sums to 1).
    generator
        A :class:`CandidateGenerator` over ``spec`` with these priors.
    """

    def __init__(self, spec: SpaceSpec, operation_prior: Mapping[str, float], skeleton_prior: Mapping[Skeleton, float],
                 cell_prior: Mapping[CellTopology, float], neighbours: Iterable[tuple[str, float, float]] = (),
                 base_architectures: Iterable[Architecture] = (), kind: str = "custom", target: str | None = None,
                 method: str | None = None, tau: float | None = None, seed: int = 0):
        self.spec = spec
        self.generator = CandidateGenerator(spec, operation_prior, skeleton_prior, cell_prior, seed=seed)
        self.operation_prior = dict(zip(spec.operations, self.generator.operation_prior.tolist()))
        self.skeleton_prior = dict(zip(spec.skeletons, self.generator.skeleton_prior.tolist()))
        self.cell_prior = dict(zip(spec.cells, self.generator.cell_prior.tolist()))
        self.neighbours = [(str(t), float(d), float(w)) for t, d, w in neighbours]
        self.base_architectures = list(base_architectures)
        self.kind = kind
        self.target = target
        self.method = method
        self.tau = tau
        self.seed = seed

    def __repr__(self) -> str:
        near = ", ".join(f"{t} (w={w:.2f})" for t, _, w in self.neighbours)
        return (f"TaskAwareSpace({self.kind}, target={self.target!r}, {len(self.spec.skeletons)} skeletons, "
                f"{len(self.spec.cells)} cells, {len(self.spec.operations)} operations"
                + (f", neighbours: {near})" if near else ")"))

    @property
    def k(self) -> int:
        return len(self.neighbours)

    # -------------------------------------------------------------------------------------------------------------
    @classmethod
    def standard(cls, spec: SpaceSpec | str | Path | None = None, seed: int = 0) -> "TaskAwareSpace":
        """The whole space with uniform priors and no neighbours (default: ``search_spaces/standard.yml``)."""
        if not isinstance(spec, SpaceSpec):
            spec = load_space(spec)
        return cls(spec, {o: 1.0 for o in spec.operations}, {s: 1.0 for s in spec.skeletons},
                   {c: 1.0 for c in spec.cells}, kind="standard", seed=seed)

    @classmethod
    def from_architectures(cls, archs: list[Architecture], weights: list[float], neighbours=(), spec_name="task-aware",
                           **kwargs) -> "TaskAwareSpace":
        """The space the weighted architectures ``archs`` span (the construction's steps 3-4)."""
        if not archs:
            raise TanasError("neighbours: no architectures to build a task-aware space from")
        op_prior: dict[str, float] = {}
        skel_prior: dict[Skeleton, float] = {}
        cell_prior: dict[CellTopology, float] = {}
        for arch, w in zip(archs, weights):
            edges = arch.cell.edges
            for _, _, op in edges:
                op_prior[op] = op_prior.get(op, 0.0) + w / len(edges)
            skel_prior[arch.skeleton] = skel_prior.get(arch.skeleton, 0.0) + w
            cell_prior[arch.cell.topology] = cell_prior.get(arch.cell.topology, 0.0) + w
        # Operations keep the registry's order (the DARTS order of the standard space) so spaces compare line by line.
        ops = [o for o in OPERATIONS if op_prior.get(o, 0.0) > 0]
        spec = SpaceSpec(tuple(ops), tuple(skel_prior), tuple(cell_prior), name=spec_name)
        return cls(spec, op_prior, skel_prior, cell_prior, neighbours=neighbours, base_architectures=archs, **kwargs)

    @classmethod
    def from_distances(cls, distances: Mapping[str, float], architectures: Mapping[str, Architecture] | Callable,
                       k: int = 3, tau: float | None = None, target: str | None = None, method: str | None = None,
                       seed: int = 0) -> "TaskAwareSpace":
        """The task-aware space from distances ``{task id: d(task -> target)}`` and the tasks' architectures.

        ``architectures`` maps a task id to its :class:`Architecture` (a mapping, or a function called for the ``k``
        nearest only). Ids are compared as given: pass canonical ids (:func:`tanas_nni.data.canonical_task_id`).
        ``target``, when given, is left out of the neighbours (a task is not its own neighbour).
        """
        pool = {str(t): float(d) for t, d in distances.items() if t != target}
        for t, d in pool.items():
            if not math.isfinite(d):
                raise TanasError(f"distances: the distance from {t} is {d}; distances must be finite")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise TanasError(f"k: must be a positive integer, got {k!r}")
        if k > len(pool):
            raise TanasError(f"k: {k} is larger than the dictionary ({len(pool)} tasks"
                             f"{' besides the target' if target in distances else ''}); use k <= {len(pool)}")
        nearest = sorted(pool.items(), key=lambda kv: (kv[1], kv[0]))[:k]
        weights = closeness_weights([d for _, d in nearest], list(pool.values()), tau)
        lookup = architectures if callable(architectures) else architectures.__getitem__
        archs = [lookup(t) for t, _ in nearest]
        neighbours = [(t, d, w) for (t, d), w in zip(nearest, weights)]
        return cls.from_architectures(archs, weights, neighbours, spec_name=f"task-aware:{target or '?'}",
                                      kind="task-aware", target=target, method=method,
                                      tau=DEFAULT_TAU if tau is None else tau, seed=seed)

    # -------------------------------------------------------------------------------------------------------------
    def candidates_with_origin(self, n: int, seed: int = 0,
                               exclude: Iterable[Architecture | str] = ()) -> list[tuple[Architecture, str]]:
        """Like :meth:`candidates`, each with where it came from: base, recombination, mutation or sample."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TanasError(f"n: must be a non-negative integer, got {n!r}")
        seen = {a if isinstance(a, str) else a.key for a in exclude}
        out: list[tuple[Architecture, str]] = []

        def take(arch: Architecture | None, origin: str) -> bool:
            if arch is None or arch.key in seen or len(out) >= n:
                return False
            seen.add(arch.key)
            out.append((arch, origin))
            return True

        for arch in self.base_architectures:
            take(arch, "base")
        weights = [w for _, _, w in self.neighbours] or [1.0] * len(self.base_architectures)
        pairs = [(i, j) for i in range(len(self.base_architectures)) for j in range(len(self.base_architectures))
                 if i != j]
        pairs.sort(key=lambda ij: (-weights[ij[0]] * weights[ij[1]], ij))
        for i, j in pairs:
            take(Architecture(self.base_architectures[i].skeleton, self.base_architectures[j].cell), "recombination")
        gen = CandidateGenerator(self.spec, self.operation_prior, self.skeleton_prior, self.cell_prior, seed=seed)
        if self.base_architectures and len(out) < n:
            p = np.asarray(weights, dtype=float) / sum(weights)
            tries = 0
            while len(out) < n and tries < MUTATION_TRIES * n:
                tries += 1
                take(self._mutate(self.base_architectures[gen.rng.choice(len(p), p=p)], gen), "mutation")
        if len(out) < n:
            for arch in gen.sample(n - len(out), exclude=seen):
                take(arch, "sample")
        return out

    def candidates(self, n: int, seed: int = 0, exclude: Iterable[Architecture | str] = ()) -> list[Architecture]:
        """``n`` distinct whole networks: neighbours' architectures, recombinations, mutations, then fresh draws.

        Fewer than ``n`` only when the space holds fewer new architectures. ``exclude`` (architectures or keys) are
        skipped, e.g. the candidates a search has already tried. The same ``seed`` gives the same list.
        """
        return [a for a, _ in self.candidates_with_origin(n, seed, exclude)]

    @staticmethod
    def _mutate(parent: Architecture, gen: CandidateGenerator) -> Architecture | None:
        edges = list(parent.cell.edges)
        m = min(len(edges), int(gen.rng.geometric(0.5)))
        for e in gen.rng.choice(len(edges), size=m, replace=False):
            i, j, op = edges[e]
            new = gen.draw_operation(exclude=op)
            if new is not None:
                edges[e] = (i, j, new)
        if not live_edges(parent.cell.nodes, edges):
            return None
        return Architecture(parent.skeleton, Cell(parent.cell.nodes, tuple(edges)))

    # -------------------------------------------------------------------------------------------------------------
    def contains(self, arch: Architecture) -> bool:
        return self.spec.contains(arch)

    def describe(self) -> dict:
        """A JSON-ready summary for reports: neighbours, weights and the priors."""
        return {
            "kind": self.kind,
            "target": self.target,
            "method": self.method,
            "k": self.k,
            "tau": self.tau,
            "neighbours": [{"task": t, "distance": d, "weight": w, "architecture": str(a), "key": a.key}
                           for (t, d, w), a in zip(self.neighbours, self.base_architectures)],
            "operation_prior": dict(self.operation_prior),
            "skeleton_prior": [{"skeleton": s.to_dict(), "prior": p} for s, p in self.skeleton_prior.items()],
            "cell_prior": [{"cell": c.to_dict(), "prior": p} for c, p in self.cell_prior.items()],
            "size": self.spec.size(),
        }
