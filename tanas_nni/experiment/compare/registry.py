"""The comparison's methods, one registration each.

A method is a function ``fn(ctx) -> Outcome`` registered with :func:`register_method`, once, with everything the rest of
the comparison needs to know about it: its display name (``tanas report``, ``tanas compare --list``), its kind
(``searched`` or ``handcrafted``), the dataclass of its own budget section (``budgets.<budget>.methods.<name>`` in
``configs/compare.yml``) and what of the config its result depends on (the record's settings hash). The config loader,
the records, the CLI, the report and the nnictl trial stage all read this registry::

    @dataclass
    class TinyBudget:
        epochs: int = 1

    @register_method("tiny", display="A tiny CNN", kind="handcrafted", budget=TinyBudget)
    def tiny(ctx: Context) -> Outcome:
        epochs = ctx.method_budget.epochs
        ...

A method reports progress through ``ctx.progress`` with the typed events of :mod:`tanas_nni.core.progress` (its name
is set on them): :class:`~tanas_nni.core.progress.Epoch` or :class:`~tanas_nni.core.progress.Step` with stage
``"search"`` while it searches, ``Epoch`` with stage ``"retrain"`` per retraining epoch, ``Message`` for people.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ...core.config import from_dict, to_dict
from ...core.errors import TanasError
from ...core.progress import Epoch, ProgressFn
from ...pipeline import SearchConfig, build_space

__all__ = ["KINDS", "Context", "Outcome", "SearchEpoch", "MethodSpec", "MethodFn", "METHODS", "register_method",
           "unregister_method", "method_spec", "check_method", "method_names", "display_name", "method_kind"]

KINDS = ("searched", "handcrafted")


@dataclass(frozen=True)
class SearchEpoch(Epoch):
    """An epoch of a one-shot strategy's supernet: an :class:`~tanas_nni.core.progress.Epoch` (stage ``"search"``)
    with the supernet's training accuracy, which the nnictl trial reports with it."""

    train_acc: Optional[float] = None


@dataclass
class Context:
    """What a method run gets: the config (a :class:`~.config.CompareConfig`), the target's data, where to work, and
    a progress callable that tags every event with the method's name."""

    cfg: Any
    method: str
    data: Any
    workdir: Path
    progress: ProgressFn
    _space: Any = None
    space_seconds: float = 0.0

    @property
    def budget(self):
        """The active budget (a :class:`~.config.CompareBudget`): the sections every method shares."""
        return self.cfg.active

    @property
    def method_budget(self) -> Any:
        """This method's own budget section (an instance of its registered budget dataclass; None without one)."""
        return self.cfg.active.method(self.method)

    def search_config(self, space: str) -> SearchConfig:
        c, b = self.cfg, self.budget
        return SearchConfig(target=c.target, space=space, dictionary=c.dictionary, data_dir=c.data_dir, k=c.k,
                            method=c.distance, tau=c.tau, space_file=c.space_file, seed=c.seed, samples=b.samples,
                            fuse=b.fuse, retrain=b.retrain, out=str(self.workdir), threads=c.threads,
                            max_params=b.max_params, retrain_top=b.retrain_top, fill_budget=b.fill_budget)

    def task_aware_space(self):
        """The task-aware space of the target (built once per method run; its cost is ``space_seconds``)."""
        if self._space is None:
            t0 = time.perf_counter()
            self._space = build_space(self.search_config("task-aware"), progress=self.progress)
            self.space_seconds = time.perf_counter() - t0
        return self._space


@dataclass
class Outcome:
    """A method's result before it becomes a record."""

    architecture: str
    architecture_json: dict | None
    parameters: int  # of the retrained network
    fit: dict  # tanas_nni.training.fit's result (test_acc, val_acc, seconds, history)
    search_seconds: float
    budget: dict
    extra: dict = field(default_factory=dict)


MethodFn = Callable[[Context], Outcome]
SettingsFn = Callable[[Any, Any], dict]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method (see :func:`register_method`)."""

    name: str
    run: MethodFn
    display: str
    kind: str
    budget: Optional[type] = None
    default: Optional[Callable[[], Any]] = None
    settings: Optional[SettingsFn] = None

    def default_budget(self) -> Any:
        """The budget a config that has no section for this method gets (None for a method without one)."""
        if self.budget is None:
            return None
        return (self.default or self.budget)()

    def read_budget(self, value: Any, where: str) -> Any:
        """This method's budget section (a mapping from YAML, or an instance) as its budget dataclass."""
        if self.budget is None:
            if value:
                raise TanasError(f"{where}: method {self.name!r} has no budget section of its own")
            return None
        return from_dict(self.budget, value, where)

    def settings_of(self, cfg: Any, budget: Any) -> dict:
        """What of ``cfg`` (besides target, seed, samples and retraining) this method's result depends on."""
        if self.settings is not None:
            return self.settings(cfg, budget)
        return {} if budget is None else {"budget": to_dict(budget)}


METHODS: dict[str, MethodSpec] = {}  # in registration order: the order of `--list`, the default run and the report

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def register_method(name: str, fn: MethodFn | None = None, *, display: str | None = None, kind: str = "searched",
                    budget: type | None = None, default: Callable[[], Any] | None = None,
                    settings: SettingsFn | None = None):
    """Register ``fn(ctx) -> Outcome`` as comparison method ``name`` (also usable as a decorator without ``fn``).

    Parameters
    ----------
    display
        The name people read in the report and ``tanas compare --list`` (default: ``name``).
    kind
        ``"searched"`` (a search picked the network; its search cost counts) or ``"handcrafted"``.
    budget
        The dataclass of the method's own budget section, ``budgets.<budget>.methods.<name>`` in the compare config,
        read with the config's one-line errors; ``ctx.method_budget`` is its instance. None: the method only uses the
        shared sections (``samples``, ``retrain``, ``fuse``).
    default
        A zero-argument callable giving the budget of a config without a section for the method (default:
        ``budget()``).
    settings
        ``settings(cfg, method_budget) -> dict``: what of the config the result depends on besides target, seed,
        samples and retraining recipe (always included). A finished record is reused only while these are unchanged.
        Default: the method's budget section.
    """
    if not _NAME.fullmatch(name) or name == "config":
        raise TanasError(f"method name {name!r}: use lower-case letters, digits, '-' and '_' (and not 'config')")
    if kind not in KINDS:
        raise TanasError(f"method {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if budget is not None and not (isinstance(budget, type) and dataclasses.is_dataclass(budget)):
        raise TanasError(f"method {name}: budget must be a dataclass, got {budget!r}")

    def deco(f: MethodFn) -> MethodFn:
        METHODS[name] = MethodSpec(name, f, display or name, kind, budget, default, settings)
        return f

    return deco if fn is None else deco(fn)


def unregister_method(name: str) -> None:
    """Remove method ``name`` from the registry (a plugin's or a test's own method)."""
    METHODS.pop(name, None)


def check_method(name: str, where: str = "method") -> str:
    """``name`` if it is a registered method, else a one-line error listing them."""
    if name not in METHODS:
        raise TanasError(f"{where}: unknown method {name!r} (known: {', '.join(METHODS)})")
    return name


def method_spec(name: str, where: str = "method") -> MethodSpec:
    return METHODS[check_method(name, where)]


def method_names(kind: str | None = None) -> list[str]:
    """The registered methods in registration order (only those of ``kind`` when given)."""
    return [n for n, s in METHODS.items() if kind is None or s.kind == kind]


def display_name(name: str) -> str:
    """The registered display name of method ``name`` (``name`` itself for a method not registered here)."""
    spec = METHODS.get(name)
    return spec.display if spec else name


def method_kind(name: str) -> str | None:
    spec = METHODS.get(name)
    return spec.kind if spec else None
