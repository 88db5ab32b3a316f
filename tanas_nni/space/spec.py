"""The search space as data: which skeletons, cell topologies and operations a space holds.

The standard space is ``tanas_nni/resources/search_spaces/standard.yml`` (shipped with the package). A space file has three lists::

    operations: [sep_conv_3x3, skip_connect, ...]       # registered operation names (see ops.py)
    skeletons:                                           # a stem list expands to one skeleton per width
      - {stem: [16, 32], cells: 3, reductions: [1, 2]}
    cells:                                               # DAG topologies; node 0 = input, last node = output
      - {name: chain2_res, nodes: 3, edges: [[0, 1], [1, 2], [0, 2]]}

Loading refuses a malformed file (unknown key or operation, wrong type, empty list, cyclic or disconnected cell,
repeated entries) with a one-line :class:`~tanas_nni.core.errors.TanasError` naming the file and the field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import from_dict, load_yaml
from ..core.errors import TanasError
from ..core.resources import resource_path
from .architecture import Architecture, CellTopology, Skeleton
from .ops import OPERATIONS

__all__ = ["SpaceSpec", "load_space", "STANDARD_SPACE", "space_file"]

# The packaged standard space (tanas_nni/resources/search_spaces/standard.yml), found with importlib.resources.
STANDARD_SPACE = resource_path("search_spaces", "standard.yml")


@dataclass
class _SkeletonEntry:
    stem: int | list[int]
    cells: int
    reductions: list[int] = field(default_factory=list)


@dataclass
class _CellEntry:
    nodes: int
    edges: list[list[int]]
    name: str = ""


@dataclass
class _SpaceFile:
    operations: list[str]
    skeletons: list[_SkeletonEntry]
    cells: list[_CellEntry]
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class SpaceSpec:
    """A space as data: the operations, skeletons and cell topologies it holds (each a tuple, no repeats).

    Build it with :func:`load_space` (from a file) or directly (e.g. the narrowed task-aware space); the constructor
    validates.
    """

    operations: tuple[str, ...]
    skeletons: tuple[Skeleton, ...]
    cells: tuple[CellTopology, ...]
    name: str = "custom"
    cell_names: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "operations", tuple(self.operations))
        object.__setattr__(self, "skeletons", tuple(self.skeletons))
        object.__setattr__(self, "cells", tuple(self.cells))
        if not self.cell_names:
            object.__setattr__(self, "cell_names", tuple(str(c) for c in self.cells))
        for what in ("operations", "skeletons", "cells"):
            values = getattr(self, what)
            if not values:
                raise TanasError(f"{what}: must not be empty")
            if len(set(values)) != len(values):
                dup = next(v for v in values if values.count(v) > 1)
                raise TanasError(f"{what}: {dup} appears twice")
        for op in self.operations:
            if op not in OPERATIONS:
                raise TanasError(f"operations: unknown operation {op!r} (known: {', '.join(OPERATIONS)})")
        if all(op == "none" for op in self.operations):
            raise TanasError("operations: `none` alone cannot connect a cell; add at least one other operation")

    def contains(self, arch: Architecture) -> bool:
        """Whether ``arch`` uses only this space's skeletons, cell topologies and operations."""
        return (arch.skeleton in self.skeletons and arch.cell.topology in self.cells
                and arch.operations() <= set(self.operations))

    def size(self) -> int:
        """Number of (skeleton, topology, operation per edge) combinations, counting cells cut by ``none`` too."""
        n_ops = len(self.operations)
        return len(self.skeletons) * sum(n_ops ** len(c.edges) for c in self.cells)

    def to_dict(self) -> dict:
        return {"name": self.name, "operations": list(self.operations),
                "skeletons": [s.to_dict() for s in self.skeletons],
                "cells": [dict(name=n, **c.to_dict()) for n, c in zip(self.cell_names, self.cells)]}


def space_file(path: str | Path | None = None) -> Path:
    return Path(path) if path is not None else STANDARD_SPACE


def load_space(path: str | Path | None = None) -> SpaceSpec:
    """Read and validate a space file (default: the standard space, ``search_spaces/standard.yml``)."""
    path = space_file(path)
    raw = load_yaml(path)
    try:
        parsed = from_dict(_SpaceFile, raw, where="")
        skeletons: list[Skeleton] = []
        for i, s in enumerate(parsed.skeletons):
            stems = s.stem if isinstance(s.stem, list) else [s.stem]
            if not stems:
                raise TanasError(f"skeletons[{i}].stem: must not be empty")
            for stem in stems:
                try:
                    skeletons.append(Skeleton(stem, s.cells, tuple(s.reductions)))
                except TanasError as e:
                    raise TanasError(str(e).replace("skeleton", f"skeletons[{i}]", 1)) from None
        cells: list[CellTopology] = []
        names: list[str] = []
        for i, c in enumerate(parsed.cells):
            for e in c.edges:
                if len(e) != 2:
                    raise TanasError(f"cells[{i}].edges: each edge must be [from, to], got {e!r}")
            try:
                cells.append(CellTopology(c.nodes, tuple(tuple(e) for e in c.edges)))
            except TanasError as e:
                raise TanasError(str(e).replace("cell", f"cells[{i}]", 1)) from None
            names.append(c.name or f"cell{i}")
        if len(set(names)) != len(names):
            raise TanasError(f"cells: name {next(n for n in names if names.count(n) > 1)!r} appears twice")
        return SpaceSpec(tuple(parsed.operations), tuple(skeletons), tuple(cells),
                         name=parsed.name or path.stem, cell_names=tuple(names))
    except TanasError as e:
        msg = str(e).lstrip(": ").lstrip(".")
        raise TanasError(f"{path}: {msg}") from None
