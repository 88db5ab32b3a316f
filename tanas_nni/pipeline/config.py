"""The pipeline's configs: a search run (``tanas search``) and the dictionary with its architecture search.

Each is a dataclass read by :func:`tanas_nni.core.config.load_config` (the YAML file, then flags); ids are canonical and
every setting is validated once, when the config is made. The names a config may use for a distance or a strategy are
those registered with :func:`tanas_nni.distance.register_distance` and :func:`tanas_nni.strategy.register_strategy`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.config import LATER, PATH, check_range, check_seed, load_config
from ..core.errors import TanasError
from ..data import SplitSizes, canonical_task_id
from ..dictionary import DictionaryConfig
from ..distance import distance_names
from ..space import check_fill_budget, check_max_params
from ..strategy import FuseConfig, strategy_names
from ..training import TrainConfig

__all__ = ["SearchConfig", "ArchitectureSearchConfig", "DictionaryPipelineConfig", "load_search_config",
           "load_dictionary_config", "SPACES", "check_distance"]

SPACES = ("task-aware", "standard")


def check_distance(name: str, where: str = "method") -> str:
    """``name`` if it is a registered distance, else a one-line error listing them."""
    if name not in distance_names():
        raise TanasError(f"{where}: unknown distance {name!r} (known: {', '.join(distance_names())})")
    return name


def check_strategy(name: str, where: str = "strategy") -> str:
    if name not in strategy_names():
        raise TanasError(f"{where}: unknown strategy {name!r} (known: {', '.join(strategy_names())})")
    return name



def check_retrain_top(value, pool: int, where: str = "retrain_top") -> int:
    """``value`` if it is an integer from 1 to ``pool`` (the candidates the search compares), else a one-line error."""
    check_range(where, value, 1)
    if value > pool:
        raise TanasError(f"{where}: {value} is more than the {pool} candidates the search compares; give at most {pool}")
    return value


@dataclass
class ArchitectureSearchConfig:
    """The search that gives every base task of a dictionary its architecture (``tanas dictionary architectures``).

    ``candidates`` architectures are drawn from the standard space and ranked cheaply (``rank_epochs`` epochs of the
    dictionary's recipe on ``train`` training examples, scored on ``val`` validation examples); the best
    ``retrain_top`` are retrained with the dictionary's own samples and recipe and the one with the best retrained
    validation accuracy is kept. If none reaches the dictionary network's validation accuracy, up to ``extra_rounds``
    more pools are drawn. The test split is never used. ``seed`` defaults to the dictionary's.
    """

    space_file: str | None = field(default=None, metadata=PATH)
    train: int = 1000
    val: int = 500
    seed: int | None = None
    candidates: int = 6
    rank_epochs: int = 1
    retrain_top: int = 2
    extra_rounds: int = 1

    def __post_init__(self):
        check_range("train", self.train, 2)
        check_range("val", self.val, 2)
        check_seed("seed", self.seed)
        check_range("candidates", self.candidates, 1)
        check_range("rank_epochs", self.rank_epochs, 1)
        check_range("retrain_top", self.retrain_top, 1)
        check_range("extra_rounds", self.extra_rounds, 0)


@dataclass
class DictionaryPipelineConfig(DictionaryConfig):
    """A dictionary config (``configs/dictionary.yml``) with the section that says how each base task's architecture
    is found (``architecture_search:``)."""

    architecture_search: ArchitectureSearchConfig = field(default_factory=ArchitectureSearchConfig)


def load_dictionary_config(path: str | Path, overrides: dict | None = None) -> DictionaryPipelineConfig:
    """A dictionary config file, with its architecture search (what ``tanas dictionary`` and the trials read)."""
    return load_config(DictionaryPipelineConfig, path, overrides)


@dataclass
class SearchConfig:
    """Everything a search → retrain → export run depends on (``tanas search --config``; flags override it)."""

    target: str = ""
    space: str = "task-aware"
    strategy: str = "fuse"
    dictionary: str = field(default="runs/dictionary", metadata=PATH)
    data_dir: str | None = field(default=None, metadata=PATH)
    k: int = 3
    method: str = "fisher"
    tau: float | None = None
    space_file: str | None = field(default=None, metadata=PATH)  # the standard space's YAML (default: the shipped one)
    candidates: int | None = None  # candidate pool size; default: exactly what FUSE's rounds consume
    seed: int = 0
    samples: SplitSizes = field(default_factory=SplitSizes)
    fuse: FuseConfig = field(default_factory=FuseConfig)
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    out: str | None = field(default=None, metadata=PATH)
    threads: int | None = None
    max_params: int | None = None  # parameter budget: candidates are scaled down to it (tanas_nni.space.fit_to_budget)
    # the strategy's best retrain_top candidates are each retrained; the best on validation is kept (and tested once)
    retrain_top: int = 1
    # the finalists are scaled up to spend max_params before they are retrained (tanas_nni.space.grow_to_budget)
    fill_budget: bool = field(default=False, metadata=LATER)

    def __post_init__(self):
        check_max_params(self.max_params)
        check_fill_budget(self.fill_budget, self.max_params)
        if self.target:
            self.target = canonical_task_id(self.target, "target")
        if self.space not in SPACES:
            raise TanasError(f"space: unknown space {self.space!r} (known: {', '.join(SPACES)})")
        check_strategy(self.strategy)
        check_distance(self.method)
        check_range("k", self.k, 1)
        check_range("candidates", self.candidates, 2)
        check_range("threads", self.threads, 1)
        check_range("tau", self.tau, 0, lo_open=True)
        check_seed("seed", self.seed)
        check_retrain_top(self.retrain_top, self.pool())

    def pool(self) -> int:
        return self.candidates or self.fuse.pool()


def load_search_config(path: str | Path | None = None, overrides: dict | None = None) -> SearchConfig:
    """A :class:`SearchConfig` from an optional YAML file, then ``overrides`` (``"fuse.rounds"``; None values ignored)."""
    cfg = load_config(SearchConfig, path, overrides)
    if not cfg.target:
        raise TanasError("target: no target task given (e.g. --target quickdraw:cat-vs-rest)")
    return cfg
