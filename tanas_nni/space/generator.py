"""Seeded sampling of distinct whole networks from a space and its priors."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from ..core.errors import TanasError
from .architecture import Architecture, Cell, CellTopology, Skeleton, live_edges
from .spec import SpaceSpec

__all__ = ["CandidateGenerator", "normalise_prior"]

Prior = Mapping | Sequence[float] | None


def normalise_prior(prior: Prior, items: Sequence, what: str) -> np.ndarray:
    """A probability vector aligned with ``items``: uniform for ``None``; a mapping is keyed by the items themselves.

    Items missing from a mapping get 0. Negative, non-finite or all-zero priors are refused.
    """
    if prior is None:
        return np.full(len(items), 1.0 / len(items))
    if isinstance(prior, Mapping):
        unknown = [k for k in prior if k not in items]
        if unknown:
            raise TanasError(f"{what}: {unknown[0]} is not in the space")
        values = np.array([float(prior.get(it, 0.0)) for it in items])
    else:
        values = np.asarray(list(prior), dtype=float)
        if values.shape != (len(items),):
            raise TanasError(f"{what}: expected {len(items)} weights, got {len(values)}")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise TanasError(f"{what}: weights must be finite and >= 0, got {values.tolist()}")
    if values.sum() <= 0:
        raise TanasError(f"{what}: at least one weight must be positive")
    return values / values.sum()


class CandidateGenerator:
    """Draws distinct architectures: skeleton ~ skeleton prior, topology ~ cell prior, each edge's op ~ operation prior.

    A draw whose ``none`` edges cut the cell's output off its input is redrawn. The generator owns its random state
    (``numpy.random.Generator(seed)``): the same seed and the same sequence of calls give the same architectures.

    Parameters
    ----------
    spec
        The space.
    operation_prior, skeleton_prior, cell_prior
        Weights over ``spec.operations`` / ``spec.skeletons`` / ``spec.cells``: a mapping keyed by those items (missing
        items get 0) or a sequence aligned with them; ``None`` is uniform. Normalised here.
    seed
        Seed of the generator's random state.
    """

    def __init__(self, spec: SpaceSpec, operation_prior: Prior = None, skeleton_prior: Prior = None,
                 cell_prior: Prior = None, seed: int = 0):
        self.spec = spec
        self.operation_prior = normalise_prior(operation_prior, spec.operations, "operation_prior")
        self.skeleton_prior = normalise_prior(skeleton_prior, spec.skeletons, "skeleton_prior")
        self.cell_prior = normalise_prior(cell_prior, spec.cells, "cell_prior")
        if all(op == "none" for op, p in zip(spec.operations, self.operation_prior) if p > 0):
            raise TanasError("operation_prior: only `none` has a positive weight; no connected cell can be drawn")
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return (f"CandidateGenerator({self.spec.name!r}, {len(self.spec.skeletons)} skeletons, "
                f"{len(self.spec.cells)} cells, {len(self.spec.operations)} operations, seed={self.seed})")

    # -------------------------------------------------------------------------------------------------------------
    def draw_operation(self, rng: np.random.Generator | None = None, exclude: str | None = None) -> str | None:
        """One operation from the prior (optionally never ``exclude``); ``None`` if nothing else has weight."""
        p = self.operation_prior.copy()
        if exclude is not None and exclude in self.spec.operations:
            p[self.spec.operations.index(exclude)] = 0.0
        if p.sum() <= 0:
            return None
        return self.spec.operations[(rng or self.rng).choice(len(p), p=p / p.sum())]

    def fill(self, skeleton: Skeleton, topology: CellTopology, rng: np.random.Generator | None = None,
             tries: int = 100) -> Architecture | None:
        """An architecture on ``skeleton`` and ``topology`` with every edge's operation drawn from the prior."""
        rng = rng or self.rng
        for _ in range(tries):
            ops = rng.choice(len(self.spec.operations), size=len(topology.edges), p=self.operation_prior)
            edges = tuple((i, j, self.spec.operations[o]) for (i, j), o in zip(topology.edges, ops))
            if live_edges(topology.nodes, edges):
                return Architecture(skeleton, Cell(topology.nodes, edges))
        return None

    def draw(self) -> Architecture:
        """One architecture (not necessarily new)."""
        for _ in range(1000):
            skeleton = self.spec.skeletons[self.rng.choice(len(self.spec.skeletons), p=self.skeleton_prior)]
            topology = self.spec.cells[self.rng.choice(len(self.spec.cells), p=self.cell_prior)]
            arch = self.fill(skeleton, topology, tries=1)
            if arch is not None:
                return arch
        raise TanasError("the operation prior puts so much weight on `none` that no connected cell was drawn")

    def sample(self, n: int, exclude: Iterable[Architecture | str] = ()) -> list[Architecture]:
        """``n`` distinct architectures, none of them in ``exclude`` (architectures or their keys).

        Fewer than ``n`` come back only when the space (restricted to positive-prior items) holds fewer new ones; this
        is found by exhaustive enumeration once random draws stop finding new architectures.
        """
        if n < 0:
            raise TanasError(f"n: must be >= 0, got {n}")
        seen = {a if isinstance(a, str) else a.key for a in exclude}
        out: list[Architecture] = []
        misses = 0
        # Random draws until new ones become rare (a small or nearly exhausted space), then enumerate what is left.
        while len(out) < n and misses < 200 + 20 * n:
            arch = self.draw()
            if arch.key in seen:
                misses += 1
                continue
            seen.add(arch.key)
            out.append(arch)
        if len(out) < n:
            rest = [a for a in self._enumerate(limit=200_000) if a.key not in seen]
            order = self.rng.permutation(len(rest))
            out.extend(rest[i] for i in order[: n - len(out)])
        return out

    def _enumerate(self, limit: int) -> list[Architecture]:
        """Every connected architecture with positive prior (refused when there are more than ``limit``)."""
        import itertools

        ops = [o for o, p in zip(self.spec.operations, self.operation_prior) if p > 0]
        skels = [s for s, p in zip(self.spec.skeletons, self.skeleton_prior) if p > 0]
        cells = [c for c, p in zip(self.spec.cells, self.cell_prior) if p > 0]
        total = len(skels) * sum(len(ops) ** len(c.edges) for c in cells)
        if total > limit:
            return []
        out = []
        for topo in cells:
            for combo in itertools.product(ops, repeat=len(topo.edges)):
                edges = tuple((i, j, o) for (i, j), o in zip(topo.edges, combo))
                if not live_edges(topo.nodes, edges):
                    continue
                cell = Cell(topo.nodes, edges)
                out.extend(Architecture(s, cell) for s in skels)
        return out
