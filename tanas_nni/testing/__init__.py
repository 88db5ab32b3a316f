"""Conformance suites for plugin authors (as ``optuna.testing``): a new distance, space or strategy passes these.

- :func:`check_distance` (:mod:`.distance`): d(a, a) = 0, non-negative, seeded determinism, only the target's train and
  validation splits, the declared symmetry;
- :func:`check_space` (:mod:`.space`): priors, distinct in-space candidates in the documented order, buildable
  networks, NNI forms that export only members of the space;
- :func:`check_strategy` (:mod:`.strategy`): runs on a toy space, exports one of its candidates, state round-trips,
  never sees the test split.

The project's own tests run them over every registered distance and strategy and over the shipped spaces.
"""
from .distance import check_distance
from .space import check_space
from .strategy import StrategyConformanceError, check_strategy

__all__ = ["check_distance", "check_space", "check_strategy", "StrategyConformanceError"]
