"""The task-distance interface: one abstract class with one method, and a registry of named implementations.

A distance is looked up by the same name from Python (:func:`get_distance`), YAML (``distance: {method: fisher, ...}``)
and the CLI (``--method fisher``). Implementations declare typed settings (a dataclass validated by
:func:`tanas_nni.core.config.from_dict`) and whether they are symmetric; the conformance suite in
``tests/test_distance_conformance.py`` runs every registered distance.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from ..core.config import from_dict, to_dict
from ..data import TaskData
from ..dictionary import Entry
from ..core.errors import TanasError

__all__ = ["TaskDistance", "DistanceTarget", "DistanceConfig", "register_distance", "get_distance", "distance_names", "DISTANCES",
           "penultimate", "seeded_subset"]

DISTANCES: dict[str, type["TaskDistance"]] = {}


@dataclass
class DistanceTarget:
    """What a distance may know about the target task.

    ``data`` holds only the target's ``train`` and ``val`` splits: the test split is dropped when the target is prepared,
    so no distance can use it. ``network`` is the target's representative network (the dictionary entry's, or one trained
    with the dictionary's recipe for a task outside the dictionary). ``memo`` lets a distance keep per-target work (the
    target's own Fisher, its features) across the sources of one target.
    """

    task: str
    data: TaskData
    network: nn.Module
    seed: int = 0
    entry: Entry | None = None
    source_data: Callable[[Entry], TaskData] | None = None
    memo: dict[str, Any] = field(default_factory=dict)

    def is_source(self, entry: Entry) -> bool:
        """True when ``entry`` is the target itself (same task, same network): its distance is 0 by definition."""
        return self.entry is not None and entry.task == self.task and entry.checksum == self.entry.checksum

    def load_source_data(self, entry: Entry) -> TaskData:
        """The source entry's own train/val data (for distances that look at the source task's examples)."""
        if self.source_data is None:
            raise TanasError(f"distance to {self.task}: source data for {entry.task} is not available here")
        return self.source_data(entry)


class TaskDistance(abc.ABC):
    """A distance d(source → target) between a dictionary entry and a target task.

    Subclasses set ``Settings`` (a dataclass of their parameters), ``symmetric`` and implement :meth:`distance`.
    Register them with :func:`register_distance`. A distance is 0 for a task with itself and never negative.
    """

    name: ClassVar[str] = ""
    symmetric: ClassVar[bool] = False
    Settings: ClassVar[type] = object

    def __init__(self, settings: Any = None):
        self.settings = from_dict(self.Settings, settings if settings is not None else {},
                                  where=f"distance.{self.name}")

    @abc.abstractmethod
    def distance(self, source: Entry, target: DistanceTarget) -> float:
        """d(source → target): how far the dictionary entry ``source`` is from ``target`` (0 = the same task)."""

    def settings_dict(self) -> dict:
        return to_dict(self.settings)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings_dict().items())
        return f"{type(self).__name__}({args})"


def register_distance(name: str) -> Callable[[type[TaskDistance]], type[TaskDistance]]:
    """Class decorator: make a :class:`TaskDistance` available under ``name``."""
    def deco(cls: type[TaskDistance]) -> type[TaskDistance]:
        if not dataclasses.is_dataclass(cls.Settings):
            raise TypeError(f"distance {name}: Settings must be a dataclass")
        cls.name = name
        DISTANCES[name] = cls
        return cls
    return deco


def distance_names() -> list[str]:
    return sorted(DISTANCES)


def get_distance(name: str, **settings: Any) -> TaskDistance:
    """The distance registered as ``name``, configured with ``settings`` (validated; unknown keys are errors)."""
    if name not in DISTANCES:
        raise TanasError(f"distance method {name!r} is unknown (known: {', '.join(distance_names())})")
    return DISTANCES[name](settings)


def penultimate(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Penultimate features of a dictionary network (``model.features``), in eval mode, without gradients."""
    if not hasattr(model, "features"):
        raise TanasError(f"{type(model).__name__} has no features() method; distances need the penultimate features")
    model.eval()
    with torch.no_grad():
        return torch.cat([model.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def seeded_subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples of ``(x, y)`` drawn by ``seed`` alone (all of them if there are fewer): the same seed gives the
    same subset whatever ran before, so a distance is deterministic under the target's seed."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[:n]
    return x[idx], y[idx]


@dataclass
class DistanceConfig:
    """The ``distance:`` block of a YAML experiment: ``{method: fisher, seed: 0, settings: {samples: 500}}``."""

    method: str = "fisher"
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.build()  # validates the method name and its settings at load time

    def build(self) -> TaskDistance:
        return get_distance(self.method, **self.settings)
