"""A parameter budget for candidates: shrink an architecture (its depth and width together) until its network fits,
or grow one to spend the budget.

Scaling keeps a neighbour's cell, so a task-aware pool under a budget still holds the neighbours' designs (smaller),
instead of losing them to a filter. Shrinking drops cells from the end, and with them their reductions: a design's
last, lowest-resolution stage is what goes first. Keeping every reduction instead (each at its relative depth, as
growing places them) made more test errors outside the suite for both FUSE methods (one run, p ≈ 0.1:
benchmarks/results/reductions-offsuite-2026-12-07-cpu2.md). The count is exact: the network is built and its
parameters summed (building a small network takes milliseconds; a formula per operation would be a second place to
keep in step with :mod:`.ops`).
"""
from __future__ import annotations

from typing import Sequence

from ..core.errors import TanasError
from .architecture import MAX_CELLS, MAX_STEM, Architecture, Cell, CellTopology, Skeleton
from .network import build_model

__all__ = ["SCALING_RULE", "MAX_GROWTH_PHI", "parameter_count", "check_fill_budget", "fit_to_budget", "grow_to_budget",
           "fit_pool_to_budget", "fit_skeleton_to_budget", "check_max_params"]


def check_max_params(value, where: str = "max_params") -> int | None:
    """``value`` if it is None or a positive integer, else a one-line error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TanasError(f"{where}: must be a positive integer (a number of parameters, e.g. 140000), got {value!r}")
    return value


def check_fill_budget(fill: bool, max_params: int | None, where: str = "fill_budget") -> bool:
    """``fill`` unless it asks to fill a budget that is not set, else a one-line error."""
    if fill and max_params is None:
        raise TanasError(f"{where}: there is no parameter budget to fill; set max_params (a number of parameters) "
                         f"or turn {where} off")
    return fill


def parameter_count(arch: Architecture, num_classes: int, input_shape: Sequence[int]) -> int:
    return sum(p.numel() for p in build_model(arch, num_classes, input_shape).parameters())


# EfficientNet's compound scaling coefficients (Tan & Le, 2019, section 3.3): one step of the compound coefficient φ
# multiplies depth by 1.2 and width by 1.1. Scaling both together, rather than one dimension to its end, keeps a network
# both deep enough and wide enough; the coefficients are the paper's, not fitted here.
DEPTH_STEP, WIDTH_STEP = 1.2, 1.1
PHI_STEP = 0.25  # φ is lowered in quarter steps, so the scaled network ends close under the budget
# The rule's name, in the settings of every record made under a budget: another rule makes other networks.
SCALING_RULE = "compound-1.2-1.1"


def _widened(arch: Architecture, up_to: int, max_params: int, num_classes: int,
             input_shape: Sequence[int]) -> Architecture:
    """``arch`` with its stem widened channel by channel, up to ``up_to`` channels, while it fits ``max_params``.

    Depth moves in whole cells, a coarse step: after either scaling the stem takes what the budget leaves."""
    skel = arch.skeleton
    while skel.stem < up_to:
        wider = Architecture(Skeleton(skel.stem + 1, skel.cells, skel.reductions), arch.cell)
        if parameter_count(wider, num_classes, input_shape) > max_params:
            break
        arch, skel = wider, wider.skeleton
    return arch


def fit_to_budget(arch: Architecture, max_params: int, num_classes: int,
                  input_shape: Sequence[int]) -> Architecture | None:
    """``arch`` if it fits ``max_params``; else the same cell with depth and width shrunk together (compound scaling:
    ``cells × 1.2^φ`` and ``stem × 1.1^φ`` for the largest φ < 0 that fits, cells dropped from the end, the reductions
    that remain kept), then the stem widened again, up to its own width, while it still fits. None when even one cell
    with a one-channel stem does not fit."""
    if parameter_count(arch, num_classes, input_shape) <= max_params:
        return arch
    skel = arch.skeleton
    tried: set[tuple[int, int]] = set()
    phi = 0.0
    while True:
        phi -= PHI_STEP
        cells = max(1, round(skel.cells * DEPTH_STEP ** phi))
        stem = max(1, round(skel.stem * WIDTH_STEP ** phi))
        if (cells, stem) in tried:
            continue
        tried.add((cells, stem))
        reductions = tuple(r for r in skel.reductions if r < cells)
        cand = Architecture(Skeleton(stem, cells, reductions), arch.cell)
        if parameter_count(cand, num_classes, input_shape) <= max_params:
            return _widened(cand, skel.stem, max_params, num_classes, input_shape)  # back up to its own width
        if cells == 1 and stem == 1:
            return None


# How far a network may grow (grow_to_budget): φ ≤ 4 multiplies depth by at most 2.1 and width by 1.5, about 4× the
# compute, so a cell with few parameters (pooling, skips) does not become a very deep, slow network to fill the budget.
MAX_GROWTH_PHI = 4.0


def _grown(skel: Skeleton, phi: float) -> Skeleton:
    """``skel`` scaled up by the compound coefficient ``phi`` > 0; each reduction keeps its relative depth (a cell at
    index r of n moves to ⌊r·n'/n + ½⌋ of n'), so the added cells are spread over the resolutions as the skeleton
    spread its own."""
    cells = min(MAX_CELLS, round(skel.cells * DEPTH_STEP ** phi))  # a skeleton near the limits stays valid
    stem = min(MAX_STEM, round(skel.stem * WIDTH_STEP ** phi))
    # Half up, not round()'s half to even: indices at least one apart stay distinct when spread by a factor ≥ 1.
    reductions = tuple(int(r * cells / skel.cells + 0.5) for r in skel.reductions)
    return Skeleton(stem, cells, reductions)


def grow_to_budget(arch: Architecture, max_params: int, num_classes: int,
                   input_shape: Sequence[int]) -> Architecture | None:
    """``arch`` scaled up to spend ``max_params``: the same cell with depth and width grown together (the compound rule
    of :func:`fit_to_budget`, φ raised in the same quarter steps, at most ``MAX_GROWTH_PHI``) to the largest φ that
    fits, then the stem widened channel by channel while it fits, up to its width at ``MAX_GROWTH_PHI``. ``arch``
    itself when not even a channel more fits; None when ``arch`` does not fit at all (:func:`fit_to_budget` shrinks
    it).

    Why: a one-shot search compares candidates after a fraction of their training, which favours small networks
    that learn fast (docs/fuse.md); the search then decides the design and this step the size, as EfficientNet
    scales up a network found small (Tan & Le, 2019)."""
    if parameter_count(arch, num_classes, input_shape) > max_params:
        return None
    # Every step is tried and the largest φ that fits kept: each is rounded from the original skeleton, so a run of
    # cells between two reductions can shorten from one step to the next, and the count is not proven to only grow.
    best = arch
    for step in range(1, round(MAX_GROWTH_PHI / PHI_STEP) + 1):
        skel = _grown(arch.skeleton, step * PHI_STEP)
        if skel != best.skeleton and parameter_count(Architecture(skel, arch.cell), num_classes,
                                                     input_shape) <= max_params:
            best = Architecture(skel, arch.cell)
    # The growth's bound holds for the widening too: no wider than the stem at the largest φ.
    return _widened(best, _grown(arch.skeleton, MAX_GROWTH_PHI).stem, max_params, num_classes, input_shape)


def fit_pool_to_budget(pool: list[Architecture], max_params: int, num_classes: int,
                       input_shape: Sequence[int]) -> list[Architecture]:
    """Every candidate scaled to the budget, duplicates (two that scale to one) dropped, order kept; a one-line error
    when none fits."""
    out, seen = [], set()
    for arch in pool:
        fitted = fit_to_budget(arch, max_params, num_classes, input_shape)
        if fitted is not None and fitted.key not in seen:
            seen.add(fitted.key)
            out.append(fitted)
    if not out:
        raise TanasError(f"max_params: no candidate fits in {max_params} parameters, even scaled down to one cell with "
                         f"a one-channel stem; raise --max-params")
    return out


def largest_member(skeleton: Skeleton, topology: CellTopology, operations: Sequence[str], num_classes: int,
                   input_shape: Sequence[int]) -> Architecture:
    """The architecture with the most parameters among ``skeleton`` × ``topology`` × one of ``operations`` per edge.

    A network's parameters are the sum of its edges' (plus the stem and head, which no edge choice changes), so the
    largest member takes, edge by edge, the operation with the most parameters on that edge."""
    edges = [[i, j, operations[0]] for i, j in topology.edges]

    def count() -> int:
        cell = Cell(topology.nodes, tuple(tuple(e) for e in edges))
        return parameter_count(Architecture(skeleton, cell), num_classes, input_shape)

    for e in edges:
        best_op, best = e[2], count()
        for op in operations[1:]:
            e[2] = op
            if (n := count()) > best:
                best_op, best = op, n
        e[2] = best_op
    return Architecture(skeleton, Cell(topology.nodes, tuple(tuple(e) for e in edges)))


def fit_skeleton_to_budget(skeleton: Skeleton, topology: CellTopology, operations: Sequence[str], max_params: int,
                           num_classes: int, input_shape: Sequence[int]) -> Skeleton:
    """The skeleton narrowed (as :func:`fit_to_budget` narrows a candidate) until the largest member of the cell space
    fits ``max_params``, so every network an NNI strategy can export from it respects the budget."""
    largest = largest_member(skeleton, topology, operations, num_classes, input_shape)
    fitted = fit_to_budget(largest, max_params, num_classes, input_shape)
    if fitted is None:
        raise TanasError(f"max_params: the cell space does not fit in {max_params} parameters, even with one cell and "
                         f"a one-channel stem; raise --max-params")
    return fitted.skeleton
