"""The comparison's config (``configs/compare.yml``): the target, the methods, the shared settings and named budgets.

A budget holds the sections every method shares (``samples``, ``retrain``, ``fuse``) and, under ``methods:``, each
method's own section, read as the budget dataclass the method registered (:func:`~.registry.register_method`); a
method without a section gets its registered default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.config import LATER, PATH, check_range, load_config
from ...core.errors import TanasError
from ...data import SplitSizes, canonical_task_id
from ...pipeline.config import check_distance, check_retrain_top
from ...space import check_fill_budget, check_max_params
from ...strategy import FuseConfig
from ...training import TrainConfig
from .registry import METHODS, check_method, method_names, method_spec

__all__ = ["CompareBudget", "CompareConfig", "load_compare_config"]


@dataclass
class CompareBudget:
    """Everything that sets how much work each method does: the shared sections and ``methods.<name>``.

    ``max_params``: the parameter budget of every searched method, so each retrained winner respects it. FUSE's
    candidates (both spaces) are scaled down to it before the search (:func:`tanas_nni.space.fit_to_budget`: depth
    and width shrunk together); the NNI strategies' winners (DARTS, RandomOneShot, random search) are scaled by
    the same rule before retraining, since a supernet cannot honour a per-network budget while it trains (random
    search's trials, too, train at the cell space's own width, so that all three search the same space). Handcrafted
    networks are what they are.

    ``retrain_top``: the FUSE methods retrain FUSE's best ``retrain_top`` candidates and keep the best on validation
    (:func:`tanas_nni.pipeline.retrain_finalists`); the extra trainings count in their search cost. NNI's strategies
    export one network each (random search already keeps its best trial on validation).

    ``fill_budget``: every searched method's network (each FUSE finalist, each NNI strategy's export) is scaled up to
    spend ``max_params`` before it is retrained (:func:`tanas_nni.space.grow_to_budget`): the search picks the design,
    the budget its size. Off by default.
    """

    samples: SplitSizes = field(default_factory=SplitSizes)
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    fuse: FuseConfig = field(default_factory=FuseConfig)
    max_params: int | None = None
    retrain_top: int = 1
    fill_budget: bool = field(default=False, metadata=LATER)
    methods: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_max_params(self.max_params)
        check_fill_budget(self.fill_budget, self.max_params)
        check_retrain_top(self.retrain_top, self.fuse.pool())
        given = dict(self.methods or {})
        for name in given:
            check_method(name, "methods")
        self.methods = {}
        for name, spec in METHODS.items():
            value = spec.read_budget(given[name], f"methods.{name}") if name in given else spec.default_budget()
            if value is not None:
                self.methods[name] = value

    def method(self, name: str) -> Any:
        """Method ``name``'s own budget (its registered default if it was registered after this budget was read)."""
        if name not in self.methods:
            value = method_spec(name).default_budget()
            if value is None:
                return None
            self.methods[name] = value
        return self.methods[name]

    def fuse_weight_epochs(self) -> int:
        return self.fuse.weight_epochs_total()

    def fuse_pool(self) -> int:
        return self.fuse.pool()


# The built-in budgets (used when no config file is given; configs/compare.yml has the same and more).
_SMALL_METHODS = {"random-one-shot": {"subnets": 5}, "random": {"epochs": 1}, "resnet18": {"stem_stride": 2},
                  "resnet34": {"stem_stride": 2}, "densenet161": {"epochs": 1, "stem_stride": 2}}


def _small_budget() -> CompareBudget:
    return CompareBudget(samples=SplitSizes(1000, 300, 600), retrain=TrainConfig(epochs=5),
                         fuse=FuseConfig(candidates_per_round=3, rounds=2, cycles=1),
                         methods={k: v for k, v in _SMALL_METHODS.items() if k in METHODS})


def _default_budgets() -> dict[str, CompareBudget]:
    return {"small": _small_budget(), "benchmark": CompareBudget()}


@dataclass
class CompareConfig:
    """The comparison (``configs/compare.yml``). ``budget`` names one entry of ``budgets``; ``methods`` defaults to
    every registered method; ``distance`` is any registered distance."""

    target: str = "quickdraw:cat-vs-rest"
    methods: list[str] = field(default_factory=method_names)
    dictionary: str = field(default="runs/dictionary", metadata=PATH)
    data_dir: str | None = field(default=None, metadata=PATH)
    k: int = 3
    distance: str = "fisher"
    tau: float | None = None
    space_file: str | None = field(default=None, metadata=PATH)
    seed: int = 0
    threads: int | None = None
    results: str = field(default="runs/compare", metadata=PATH)  # <results>/<target folder>/<method>.json
    budget: str = "small"
    budgets: dict[str, CompareBudget] = field(default_factory=_default_budgets)

    def __post_init__(self):
        self.target = canonical_task_id(self.target, "target")
        for m in self.methods:
            check_method(m, "methods")
        if self.budget not in self.budgets:
            raise TanasError(f"budget: unknown budget {self.budget!r} (known: {', '.join(self.budgets)})")
        check_distance(self.distance, "distance")
        check_range("k", self.k, 1)
        check_range("threads", self.threads, 1)

    @property
    def active(self) -> CompareBudget:
        return self.budgets[self.budget]


def load_compare_config(path: str | Path | None = None, overrides: dict | None = None) -> CompareConfig:
    """A :class:`CompareConfig` from an optional YAML file and overrides (top-level keys; None values ignored); paths
    in the file are relative to the file."""
    return load_config(CompareConfig, path, overrides, where=None if path else "compare")
