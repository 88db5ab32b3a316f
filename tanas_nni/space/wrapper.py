"""``TaskAware(strategy, ...)``: any NNI strategy, searching the task-aware space.

Design. NNI offers no pre-processing hook for the space: strategy middlewares initialise *after* the main strategy (which
has by then already turned the space into a supernet or started sampling it), and ``LayerChoice`` candidates cannot be
deleted. So the narrowing cannot be applied to a space the user built; instead :class:`TaskAware` *builds* the space:

1. At construction it runs the preprocessor (:meth:`TaskAwareSpace.from_dictionary`, or ``from_distances`` when
   ``distances`` are given) and makes the NNI model space from constructor arguments — a :class:`WholeNetworkSpace` over
   the first ``candidates`` task-aware candidates for strategies that search whole networks (FUSE), or a
   :class:`CellSpace` with the space's operations on its most probable skeleton and cell topology for NNI's cell-based
   strategies (DARTS, RandomOneShot, Random, ...). It is exposed as :attr:`TaskAware.space`.
2. :class:`TaskAware` is itself a :class:`nni.nas.strategy.Strategy` that delegates initialisation, running, model
   listing and checkpoint state to the wrapped strategy, after checking that the experiment was given
   :attr:`TaskAware.space` (a different space would silently search the wrong thing).

So it is used the NNI way::

    ta = TaskAware(DARTS(), "quickdraw:cat-vs-rest", store, method="fisher", k=3)
    exp = NasExperiment(ta.space, evaluator, ta, NasExperimentConfig("sequential", "raw"))
    exp.run()
    best = ta.architecture(exp.export_top_models(formatter="instance")[0])

Because the model space is built from plain-data constructor arguments, NNI can trace and ship it to any engine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from nni.nas.strategy import Strategy

from ..errors import TanasError
from .architecture import Architecture
from .nni_spaces import CellSpace, WholeNetworkSpace, architecture_from_sample, cell_space, whole_network_space
from .task_aware import TaskAwareSpace

__all__ = ["TaskAware", "task_num_classes"]

DEFAULT_CANDIDATES = 16


def task_num_classes(task_id: str) -> int:
    """Number of classes of a task from its id alone (one-vs-rest: 2, a subset: its size, ``all``: fixed datasets)."""
    from ..data.tasks import STATIC_CLASSES, TaskSpec

    spec = TaskSpec.parse(task_id)
    if spec.kind == "one-vs-rest":
        return 2
    if spec.kind == "subset":
        return len(spec.classes)
    if spec.dataset in STATIC_CLASSES:
        return len(STATIC_CLASSES[spec.dataset])
    raise TanasError(f"num_classes: cannot tell the number of classes of {task_id!r} from its id; pass num_classes")


def _searches_whole_networks(strategy: Strategy) -> bool:
    try:
        from ..strategy import FUSE
    except ImportError:  # the FUSE stage is not installed: every strategy is cell-based
        return False
    return isinstance(strategy, FUSE)


class TaskAware(Strategy):
    """Wrap ``strategy`` so that it searches the task-aware space of ``target``.

    Parameters
    ----------
    strategy
        Any NNI strategy (FUSE, ``nni.nas.strategy.DARTS``, ``Random``, ``RandomOneShot``, ...), not yet initialised.
    target
        The target task id.
    store
        The dictionary (a :class:`~tanas_nni.dictionary.DictionaryStore` or its path).
    method, k, tau, data_dir, seed
        Passed to :meth:`TaskAwareSpace.from_dictionary`.
    distances
        Precomputed ``{task_id: distance}``; skips the distance computation (then ``method`` is only recorded).
    num_classes, input_shape
        Of the target; ``num_classes`` is read from the task id when left out.
    space_kind
        ``"whole"`` (a ``LayerChoice`` over whole networks), ``"cell"`` (per-edge choices) or ``"auto"``: whole for
        FUSE, cell for everything else.
    candidates
        How many task-aware candidates the whole-network space holds (default 16).
    """

    def __init__(self, strategy: Strategy, target: str, store: Any, method: str = "fisher", k: int = 3,
                 tau: float | None = None, data_dir: str | Path | None = None, seed: int = 0,
                 distances: Mapping[str, float] | None = None, num_classes: int | None = None,
                 input_shape: Sequence[int] = (1, 28, 28), space_kind: Literal["auto", "whole", "cell"] = "auto",
                 candidates: int = DEFAULT_CANDIDATES):
        if not isinstance(strategy, Strategy):
            raise TanasError(f"strategy: expected an NNI strategy, got {type(strategy).__name__}")
        if space_kind not in ("auto", "whole", "cell"):
            raise TanasError(f"space_kind: must be one of auto, whole, cell, got {space_kind!r}")
        self.strategy = strategy
        self.target = target
        if distances is not None:
            self.task_space = TaskAwareSpace.from_distances(distances, store, k=k, tau=tau, target=target,
                                                            method=method, seed=seed)
        else:
            self.task_space = TaskAwareSpace.from_dictionary(target, store, method=method, k=k, tau=tau,
                                                             data_dir=data_dir, seed=seed)
        self.num_classes = num_classes if num_classes is not None else task_num_classes(target)
        if space_kind == "auto":
            space_kind = "whole" if _searches_whole_networks(strategy) else "cell"
        self.space_kind = space_kind
        if space_kind == "whole":
            archs = self.task_space.candidates(candidates, seed=seed)
            self.space: WholeNetworkSpace | CellSpace = whole_network_space(archs, self.num_classes, input_shape)
        else:
            self.space = cell_space(self.task_space, self.num_classes, input_shape)
        super().__init__()

    def extra_repr(self) -> str:
        return f"{self.strategy!r}, target={self.target!r}, k={self.task_space.k}, space={self.space_kind}"

    def __getattr__(self, name: str) -> Any:
        # Strategy-specific extras (FUSE's ranking, DARTS' settings) stay reachable through the wrapper.
        if name == "strategy":
            raise AttributeError(name)
        return getattr(self.strategy, name)

    # ------------------------------------------------------------------------------------------------------------
    def _initialize(self, model_space, engine):
        inner = getattr(model_space, "model_space", model_space)
        if not (type(inner) is type(self.space) and getattr(inner, "trace_kwargs", None) == self.space.trace_kwargs):
            raise TanasError("model space: TaskAware searches the space it built; pass `TaskAware.space` (not another "
                             "space) to NasExperiment")
        return self.strategy.initialize(model_space, engine)

    def _run(self) -> None:
        self.strategy.run()

    def list_models(self, sort: bool = True, limit: int | None = None):
        return self.strategy.list_models(sort=sort, limit=limit)

    def state_dict(self) -> dict:
        return self.strategy.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.strategy.load_state_dict(state_dict)

    # ------------------------------------------------------------------------------------------------------------
    def architecture(self, model: Any, sample: Mapping | None = None) -> Architecture:
        """The :class:`Architecture` of an exported model (or of ``sample``) of :attr:`space`."""
        if sample is None:
            sample = getattr(model, "sample", None)
        return architecture_from_sample(self.space, sample)
