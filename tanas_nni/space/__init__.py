"""Stage 4: search spaces — the standard space as data, architectures, networks, and the task-aware space.

Public API (see docs/task_aware_space.md):

- :class:`Architecture` (a :class:`Skeleton` and a :class:`Cell`), :func:`build_model`;
- :class:`SpaceSpec`, :func:`load_space` (``search_spaces/standard.yml`` by default), :class:`CandidateGenerator`;
- :class:`TaskAwareSpace` — the preprocessor: distances and the neighbours' architectures -> weighted, narrowed space ->
  candidates (built from what it is handed: this package reads no dictionary and computes no distance);
- :func:`whole_network_space`, :func:`cell_space`, :func:`architecture_from_sample` — the space as NNI model spaces;
"""
from __future__ import annotations

from .architecture import Architecture, Cell, CellTopology, Skeleton, live_edges
from .generator import CandidateGenerator
from .network import Network, build_model
from .nni_spaces import (CANDIDATE_LABEL, CellSpace, WholeNetworkSpace, architecture_from_sample, cell_space,
                         edge_label, whole_network_space)
from .ops import OPERATIONS, build_operation, register_operation
from .spec import STANDARD_SPACE, SpaceSpec, load_space
from .task_aware import DEFAULT_TAU, TaskAwareSpace, closeness_weights
from .budget import (SCALING_RULE, check_fill_budget, check_max_params, fit_pool_to_budget, fit_skeleton_to_budget,
                     fit_to_budget, grow_to_budget, parameter_count)

__all__ = ["Architecture", "Skeleton", "Cell", "CellTopology", "live_edges", "build_model", "Network",
           "SpaceSpec", "load_space", "STANDARD_SPACE", "CandidateGenerator", "TaskAwareSpace", "DEFAULT_TAU",
           "closeness_weights", "whole_network_space", "cell_space", "architecture_from_sample", "WholeNetworkSpace",
           "CellSpace", "CANDIDATE_LABEL", "edge_label", "OPERATIONS", "register_operation",
           "build_operation", "SCALING_RULE", "check_fill_budget", "check_max_params", "fit_pool_to_budget",
           "fit_skeleton_to_budget", "fit_to_budget", "grow_to_budget", "parameter_count"]
