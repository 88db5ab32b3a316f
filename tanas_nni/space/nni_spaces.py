"""The spaces as NNI model spaces.

Two shapes of the same space, both :class:`nni.nas.nn.pytorch.ModelSpace` subclasses built only from plain-data
constructor arguments (architectures as dicts, operation names, numbers), so NNI traces them and any execution engine can
rebuild them in another process:

- :class:`WholeNetworkSpace` — the top level is one ``LayerChoice`` labelled ``"candidate"`` over whole networks
  (candidate ``i`` is ``archs[i]``; NNI's sample is ``{"candidate": i}``). This is what FUSE searches.
- :class:`CellSpace` — one fixed skeleton and cell topology with a ``LayerChoice`` on every edge, labelled
  ``"edge_<from>_<to>"``, over the space's operations (values are operation names: the sample is
  ``{"edge_0_1": "sep_conv_3x3", ...}``). Every cell of the network shares its edges' labels, so one sample is one
  :class:`~tanas_nni.space.Architecture`, exactly as in the whole-network form. This is the form NNI's cell-based
  strategies (DARTS, RandomOneShot, Random, RegularizedEvolution) search. ``none`` is left out of the edge choices by
  default, as in NNI's own DARTS space and the DARTS paper's derivation rule: an argmax over ``none`` could cut a cell's
  output off and export a network that computes nothing.

:func:`architecture_from_sample` turns an NNI sample (or an exported model) back into an Architecture.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from torch import nn

from nni.nas.nn.pytorch import LayerChoice, ModelSpace

from ..core.errors import TanasError
from .architecture import Architecture, Cell, CellTopology, Skeleton
from .budget import fit_skeleton_to_budget
from .network import Network, build_model
from .ops import NONE, OPERATIONS, build_operation
from .task_aware import TaskAwareSpace

__all__ = ["WholeNetworkSpace", "CellSpace", "whole_network_space", "cell_space", "architecture_from_sample",
           "CANDIDATE_LABEL", "edge_label"]

CANDIDATE_LABEL = "candidate"


def edge_label(i: int, j: int) -> str:
    return f"edge_{i}_{j}"


class WholeNetworkSpace(ModelSpace):
    """A ``LayerChoice`` (label ``"candidate"``) over whole networks, one per architecture.

    Parameters
    ----------
    archs
        Architectures as dicts (``Architecture.to_dict()``) or :class:`Architecture` objects; at least one, no repeats.
    num_classes, input_shape
        Output classes and the ``(C, H, W)`` input shape.
    weights
        Optional prior over the candidates (NNI's random samplers draw from it; FUSE may start α from it).
    """

    def __init__(self, archs: Sequence[Mapping | Architecture], num_classes: int,
                 input_shape: Sequence[int] = (1, 28, 28), weights: Sequence[float] | None = None):
        super().__init__()
        if not archs:
            raise TanasError("candidates: the candidate list is empty; give at least one architecture")
        self.archs = [Architecture.from_dict(a, f"candidates[{i}]") for i, a in enumerate(archs)]
        keys = [a.key for a in self.archs]
        if len(set(keys)) != len(keys):
            raise TanasError("candidates: the same architecture appears twice")
        if weights is not None and len(weights) != len(archs):
            raise TanasError(f"weights: expected {len(archs)} weights, got {len(weights)}")
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        self.candidate = LayerChoice([build_model(a, num_classes, input_shape) for a in self.archs],
                                     weights=list(weights) if weights is not None else None, label=CANDIDATE_LABEL)

    def forward(self, x):
        return self.candidate(x)


class CellSpace(ModelSpace):
    """A fixed skeleton and cell topology with a shared ``LayerChoice`` per edge over ``operations``.

    Parameters
    ----------
    skeleton
        ``Skeleton.to_dict()`` form.
    topology
        ``{"nodes": n, "edges": [[i, j], ...]}``.
    operations
        Operation names each edge chooses from.
    num_classes, input_shape
        Output classes and the ``(C, H, W)`` input shape.
    operation_weights
        Optional prior over ``operations`` (used by NNI's random samplers).
    """

    def __init__(self, skeleton: Mapping, topology: Mapping, operations: Sequence[str], num_classes: int,
                 input_shape: Sequence[int] = (1, 28, 28), operation_weights: Sequence[float] | None = None):
        super().__init__()
        self.skeleton = Skeleton.from_dict(dict(skeleton))
        self.topology = CellTopology(int(topology["nodes"]), tuple(tuple(e) for e in topology["edges"]))
        self.operations = list(operations)
        if not self.operations:
            raise TanasError("operations: the cell space needs at least one operation")
        for op in self.operations:
            if op not in OPERATIONS:
                raise TanasError(f"operations: unknown operation {op!r} (known: {', '.join(OPERATIONS)})")
        if self.operations == [NONE]:
            raise TanasError("operations: `none` alone cannot connect a cell")
        if operation_weights is not None and len(operation_weights) != len(self.operations):
            raise TanasError(f"operation_weights: expected {len(self.operations)} weights, got {len(operation_weights)}")
        weights = list(operation_weights) if operation_weights is not None else None
        ops = self.operations

        def factory(k: int, i: int, j: int, c: int, stride: int) -> nn.Module:
            # The same label in every cell: NNI treats equal labels as one decision, so all cells share the choice.
            return LayerChoice({op: build_operation(op, c, stride) for op in ops}, weights=weights,
                               label=edge_label(i, j))

        self.network = Network(self.skeleton, self.topology.nodes, self.topology.edges, num_classes, input_shape,
                               factory)

    def forward(self, x):
        return self.network(x)


def whole_network_space(archs: Sequence[Architecture | Mapping], num_classes: int,
                        input_shape: Sequence[int] = (1, 28, 28),
                        weights: Sequence[float] | None = None) -> WholeNetworkSpace:
    """A :class:`WholeNetworkSpace` over ``archs`` (sample for candidate ``i``: ``{"candidate": i}``)."""
    return WholeNetworkSpace([Architecture.from_dict(a).to_dict() for a in archs], num_classes, list(input_shape),
                             list(weights) if weights is not None else None)


def cell_space(space: Any, num_classes: int, input_shape: Sequence[int] = (1, 28, 28),
               skeleton: Skeleton | Mapping | None = None, topology: CellTopology | Mapping | None = None,
               include_none: bool = False, max_params: int | None = None) -> CellSpace:
    """The cell form of a space for NNI's cell-based strategies.

    Parameters
    ----------
    space
        A :class:`~tanas_nni.space.TaskAwareSpace` (or a :class:`~tanas_nni.space.SpaceSpec`, with uniform priors).
    skeleton, topology
        The fixed skeleton and cell topology; default: the space's most probable ones (ties: the first listed, which for
        a task-aware space is the nearest task's).
    include_none
        Keep ``none`` among the edge choices (off by default, see the module docstring).
    max_params
        A parameter budget: the skeleton is narrowed until the space's largest member fits it
        (:func:`~tanas_nni.space.fit_skeleton_to_budget`), so every network a strategy exports respects it.
    """
    if not isinstance(space, TaskAwareSpace):
        space = TaskAwareSpace.standard(space)
    ops, probs = [], []
    for op, p in space.operation_prior.items():
        if p > 0 and (include_none or op != NONE):
            ops.append(op)
            probs.append(p)
    if not ops:
        raise TanasError("operations: the space has no operation other than `none`; the cell space would be empty")
    if skeleton is None:
        skeleton = max(space.skeleton_prior.items(), key=lambda kv: kv[1])[0]
    if topology is None:
        topology = max(space.cell_prior.items(), key=lambda kv: kv[1])[0]
    skeleton = skeleton if isinstance(skeleton, Skeleton) else Skeleton.from_dict(dict(skeleton))
    topology = (topology if isinstance(topology, CellTopology)
                else CellTopology(int(topology["nodes"]), tuple(tuple(e) for e in topology["edges"])))
    if max_params is not None:
        skeleton = fit_skeleton_to_budget(skeleton, topology, ops, max_params, num_classes, input_shape)
    total = sum(probs)
    return CellSpace(skeleton.to_dict(), topology.to_dict(), ops, num_classes, list(input_shape),
                     [p / total for p in probs])


def _unwrap(space_or_model: Any) -> tuple[Any, dict | None]:
    """The ModelSpace (and a sample, when one is attached) behind NNI's wrappers."""
    sample = getattr(space_or_model, "sample", None)
    inner = getattr(space_or_model, "model_space", None)  # nni.nas.space.RawFormatModelSpace and friends
    if inner is not None and not isinstance(space_or_model, (WholeNetworkSpace, CellSpace)):
        return inner, sample if isinstance(sample, dict) else None
    return space_or_model, sample if isinstance(sample, dict) else None


def architecture_from_sample(space_or_model: Any, sample: Mapping | None = None) -> Architecture:
    """The :class:`Architecture` that ``sample`` selects in a :class:`WholeNetworkSpace` or :class:`CellSpace`.

    ``space_or_model`` may also be what NNI exports (an executable model space carrying its own ``sample``); then
    ``sample`` can be left out.
    """
    space, attached = _unwrap(space_or_model)
    sample = dict(sample) if sample is not None else attached
    if sample is None:
        raise TanasError("sample: no sample given and none is attached to the model")
    if isinstance(space, WholeNetworkSpace):
        if CANDIDATE_LABEL not in sample:
            raise TanasError(f"sample: no {CANDIDATE_LABEL!r} choice in {sample}")
        i = int(sample[CANDIDATE_LABEL])
        if not 0 <= i < len(space.archs):
            raise TanasError(f"sample: candidate {i} is outside 0..{len(space.archs) - 1}")
        return space.archs[i]
    if isinstance(space, CellSpace):
        edges = []
        for i, j in space.topology.edges:
            label = edge_label(i, j)
            if label not in sample:
                raise TanasError(f"sample: no choice for {label!r} in {sample}")
            edges.append((i, j, str(sample[label])))
        return Architecture(space.skeleton, Cell(space.topology.nodes, tuple(edges)))
    raise TanasError(f"expected a WholeNetworkSpace or CellSpace, got {type(space).__name__}")
