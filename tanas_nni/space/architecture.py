"""Whole-network architectures as frozen, hashable, JSON-serialisable data.

An :class:`Architecture` is a :class:`Skeleton` (stem width, number of cells, which cells reduce) and one :class:`Cell`
used by every cell of the network. A cell is a small DAG over nodes ``0 .. nodes-1``: node 0 is the cell's input, the
last node its output, and each edge ``(i, j, op)`` applies operation ``op`` to node ``i`` and adds the result into node
``j``. ``none`` edges carry nothing; a cell is valid only if its output is still reached from its input through edges
that are not ``none`` (nodes off every such path are simply not computed).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

from ..core.errors import TanasError
from .ops import NONE, OPERATIONS

__all__ = ["Skeleton", "CellTopology", "Cell", "Architecture", "live_edges"]


MAX_STEM = 1024  # the largest skeleton a JSON architecture may name (Skeleton refuses more)
MAX_CELLS = 64


@dataclass(frozen=True)
class Skeleton:
    """The network around the cells.

    Parameters
    ----------
    stem
        Channels of the stem convolution (and of the cells before the first reduction).
    cells
        Number of cells.
    reductions
        Indices (0-based) of the cells that halve the resolution and double the channels.
    """

    stem: int
    cells: int
    reductions: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "reductions", tuple(sorted(self.reductions)))
        if isinstance(self.stem, bool) or not isinstance(self.stem, int) or not 1 <= self.stem <= MAX_STEM:
            raise TanasError(f"skeleton.stem: must be an integer in [1, {MAX_STEM}], got {self.stem!r}")
        if isinstance(self.cells, bool) or not isinstance(self.cells, int) or not 1 <= self.cells <= MAX_CELLS:
            raise TanasError(f"skeleton.cells: must be an integer in [1, {MAX_CELLS}], got {self.cells!r}")
        if len(set(self.reductions)) != len(self.reductions):
            raise TanasError(f"skeleton.reductions: repeated cell index in {list(self.reductions)}")
        for r in self.reductions:
            if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < self.cells:
                raise TanasError(f"skeleton.reductions: cell index {r!r} is outside 0..{self.cells - 1}")

    def channels(self) -> list[int]:
        """Output channels of each cell (doubled at every reduction)."""
        out, c = [], self.stem
        for i in range(self.cells):
            if i in self.reductions:
                c *= 2
            out.append(c)
        return out

    def to_dict(self) -> dict:
        return {"stem": self.stem, "cells": self.cells, "reductions": list(self.reductions)}

    @classmethod
    def from_dict(cls, d: Any, where: str = "skeleton") -> "Skeleton":
        if not isinstance(d, dict):
            raise TanasError(f"{where}: expected a mapping, got {d!r}")
        unknown = set(d) - {"stem", "cells", "reductions"}
        if unknown:
            raise TanasError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: stem, cells, reductions)")
        for key in ("stem", "cells"):
            if key not in d:
                raise TanasError(f"{where}: missing required key {key!r}")
        red = d.get("reductions", [])
        if not isinstance(red, (list, tuple)):
            raise TanasError(f"{where}.reductions: expected a list, got {red!r}")
        try:
            return cls(d["stem"], d["cells"], tuple(red))
        except TanasError as e:
            raise TanasError(str(e).replace("skeleton", where, 1)) from None

    def __str__(self) -> str:
        return f"stem{self.stem}-cells{self.cells}-red{','.join(map(str, self.reductions)) or '-'}"


def _check_dag(nodes: int, pairs: Iterable[tuple[int, int]], where: str) -> None:
    """Refuse self-loops, repeated edges, cycles and nodes that are not on a path from the input to the output."""
    pairs = list(pairs)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 2:
        raise TanasError(f"{where}.nodes: must be an integer >= 2 (input and output), got {nodes!r}")
    if not pairs:
        raise TanasError(f"{where}.edges: must not be empty")
    seen = set()
    for i, j in pairs:
        for v in (i, j):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < nodes:
                raise TanasError(f"{where}.edges: node {v!r} in edge ({i}, {j}) is outside 0..{nodes - 1}")
        if i == j:
            raise TanasError(f"{where}.edges: self-loop on node {i}")
        if (i, j) in seen:
            raise TanasError(f"{where}.edges: edge ({i}, {j}) appears twice")
        seen.add((i, j))
    succ: dict[int, list[int]] = {v: [] for v in range(nodes)}
    for i, j in pairs:
        succ[i].append(j)
    # Kahn's algorithm: whatever cannot be ordered lies on a cycle.
    indeg = {v: 0 for v in range(nodes)}
    for i, j in pairs:
        indeg[j] += 1
    queue = [v for v in range(nodes) if indeg[v] == 0]
    ordered = 0
    while queue:
        v = queue.pop()
        ordered += 1
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    if ordered < nodes:
        raise TanasError(f"{where}.edges: the cell has a cycle")
    out = nodes - 1
    pred: dict[int, list[int]] = {v: [] for v in range(nodes)}
    for i, j in pairs:
        pred[j].append(i)
    if pred[0]:
        raise TanasError(f"{where}.edges: node 0 is the cell input and cannot have incoming edges")
    if succ[out]:
        raise TanasError(f"{where}.edges: node {out} is the cell output and cannot have outgoing edges")
    fwd, bwd = _reach(succ, 0), _reach(pred, out)
    for v in range(nodes):
        if v not in fwd or v not in bwd:
            raise TanasError(f"{where}: disconnected cell: node {v} is not on a path from input node 0 to output "
                             f"node {out}")


def _reach(adj: dict[int, list[int]], start: int) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        v = stack.pop()
        for w in adj[v]:
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


@dataclass(frozen=True)
class CellTopology:
    """A cell's DAG without operations: ``nodes`` and the ``(from, to)`` edges, sorted."""

    nodes: int
    edges: tuple[tuple[int, int], ...]

    def __post_init__(self):
        for e in self.edges:
            if not isinstance(e, (list, tuple)) or len(e) != 2:
                raise TanasError(f"cell.edges: each edge must be [from, to], got {e!r}")
        _check_dag(self.nodes, [tuple(e) for e in self.edges], "cell")
        object.__setattr__(self, "edges", tuple(sorted((e[0], e[1]) for e in self.edges)))

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": [list(e) for e in self.edges]}

    def __str__(self) -> str:
        return f"n{self.nodes}:" + ",".join(f"{i}>{j}" for i, j in self.edges)


def live_edges(nodes: int, edges: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The edges that carry a signal: not ``none``, and on a path input -> output through such edges (in order)."""
    edges = [e for e in edges if e[2] != NONE]
    succ: dict[int, list[int]] = {v: [] for v in range(nodes)}
    pred: dict[int, list[int]] = {v: [] for v in range(nodes)}
    for i, j, _ in edges:
        succ[i].append(j)
        pred[j].append(i)
    fwd, bwd = _reach(succ, 0), _reach(pred, nodes - 1)
    live = fwd & bwd
    return [e for e in edges if e[0] in live and e[1] in live]


@dataclass(frozen=True)
class Cell:
    """A cell: its topology with one operation per edge. ``edges`` holds ``(from, to, operation)``, sorted."""

    nodes: int
    edges: tuple[tuple[int, int, str], ...]

    def __post_init__(self):
        for e in self.edges:
            if not isinstance(e, (list, tuple)) or len(e) != 3:
                raise TanasError(f"cell.edges: each edge must be [from, to, operation], got {e!r}")
        _check_dag(self.nodes, [(e[0], e[1]) for e in self.edges], "cell")
        for i, j, op in self.edges:
            if not isinstance(op, str) or op not in OPERATIONS:
                raise TanasError(f"cell.edges: unknown operation {op!r} on edge ({i}, {j}) "
                                 f"(known: {', '.join(OPERATIONS)})")
        object.__setattr__(self, "edges", tuple(sorted((e[0], e[1], e[2]) for e in self.edges)))
        if not live_edges(self.nodes, self.edges):
            raise TanasError(f"cell: disconnected cell: `none` edges cut every path from input node 0 to output "
                             f"node {self.nodes - 1}")

    @property
    def topology(self) -> CellTopology:
        return CellTopology(self.nodes, tuple((i, j) for i, j, _ in self.edges))

    def operations(self) -> set[str]:
        return {op for _, _, op in self.edges}

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "edges": [[i, j, op] for i, j, op in self.edges]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "cell") -> "Cell":
        if not isinstance(d, dict):
            raise TanasError(f"{where}: expected a mapping, got {d!r}")
        unknown = set(d) - {"nodes", "edges"}
        if unknown:
            raise TanasError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: nodes, edges)")
        if "nodes" not in d or "edges" not in d:
            raise TanasError(f"{where}: missing required key {'nodes' if 'nodes' not in d else 'edges'!r}")
        if not isinstance(d["edges"], (list, tuple)):
            raise TanasError(f"{where}.edges: expected a list, got {d['edges']!r}")
        try:
            return cls(d["nodes"], tuple(tuple(e) if isinstance(e, (list, tuple)) else e for e in d["edges"]))
        except TanasError as e:
            raise TanasError(str(e).replace("cell", where, 1)) from None

    def __str__(self) -> str:
        return ",".join(f"{i}>{j}:{op}" for i, j, op in self.edges)


@dataclass(frozen=True)
class Architecture:
    """One whole network: a skeleton and the cell every cell position uses.

    ``to_dict()`` / ``from_dict()`` give its JSON form, ``key`` a short stable hash of it (the same architecture always
    has the same key, in every process), ``str()`` one readable line.
    """

    skeleton: Skeleton
    cell: Cell

    def to_dict(self) -> dict:
        return {"skeleton": self.skeleton.to_dict(), "cell": self.cell.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: Any, where: str = "architecture") -> "Architecture":
        if isinstance(d, Architecture):
            return d
        if isinstance(d, str):
            try:
                d = json.loads(d)
            except ValueError as e:
                raise TanasError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise TanasError(f"{where}: expected a mapping with 'skeleton' and 'cell', got {d!r}")
        unknown = set(d) - {"skeleton", "cell"}
        if unknown:
            raise TanasError(f"{where}: unknown key {sorted(unknown)[0]!r} (known: skeleton, cell)")
        for key in ("skeleton", "cell"):
            if key not in d:
                raise TanasError(f"{where}: missing required key {key!r}")
        return cls(Skeleton.from_dict(d["skeleton"], f"{where}.skeleton"), Cell.from_dict(d["cell"], f"{where}.cell"))

    @property
    def key(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def operations(self) -> set[str]:
        return self.cell.operations()

    def __str__(self) -> str:
        return f"{self.skeleton} | {self.cell}"
