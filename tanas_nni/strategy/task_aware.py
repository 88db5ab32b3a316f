"""``TaskAware(strategy, ...)``: any NNI strategy, searching the task-aware space.

Design. NNI offers no pre-processing hook for the space: strategy middlewares initialise *after* the main strategy (which
has by then already turned the space into a supernet or started sampling it), and ``LayerChoice`` candidates cannot be
deleted. So the narrowing cannot be applied to a space the user built; instead :class:`TaskAware` *builds* the space:

1. It takes the task-aware space the preprocessor built (:func:`tanas_nni.pipeline.task_aware_space` from a dictionary,
   or :meth:`TaskAwareSpace.from_distances` from given distances and architectures) and makes the NNI model space from
   constructor arguments — a :class:`WholeNetworkSpace` over
   the first ``candidates`` task-aware candidates for strategies that search whole networks (FUSE), or a
   :class:`CellSpace` with the space's operations on its most probable skeleton and cell topology for NNI's cell-based
   strategies (DARTS, RandomOneShot, Random, ...). It is exposed as :attr:`TaskAware.space`.
2. :class:`TaskAware` is itself a :class:`nni.nas.strategy.Strategy` that delegates initialisation, running, model
   listing and checkpoint state to the wrapped strategy, after checking that the experiment was given
   :attr:`TaskAware.space` (a different space would silently search the wrong thing).

So it is used the NNI way::

    space = task_aware_space("quickdraw:cat-vs-rest", store, method="fisher", k=3)   # tanas_nni.pipeline
    ta = TaskAware(DARTS(), space)
    exp = NasExperiment(ta.space, evaluator, ta, NasExperimentConfig("sequential", "raw"))
    exp.run()
    best = ta.architecture(exp.export_top_models(formatter="instance")[0])

Because the model space is built from plain-data constructor arguments, NNI can trace and ship it to any engine.
"""
from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

from nni.nas.strategy import Strategy

from ..core.errors import TanasError
from ..data.tasks import STATIC_CLASSES, TaskSpec
from ..space import (Architecture, CellSpace, TaskAwareSpace, WholeNetworkSpace, architecture_from_sample, cell_space,
                     whole_network_space)
from .fuse import FUSE

__all__ = ["TaskAware", "task_num_classes"]

DEFAULT_CANDIDATES = 16


def task_num_classes(task_id: str) -> int:
    """Number of classes of a task from its id alone (one-vs-rest: 2, a subset: its size, ``all``: fixed datasets)."""
    spec = TaskSpec.parse(task_id)
    if spec.kind == "one-vs-rest":
        return 2
    if spec.kind == "subset":
        return len(spec.classes)
    if spec.dataset in STATIC_CLASSES:
        return len(STATIC_CLASSES[spec.dataset])
    raise TanasError(f"num_classes: cannot tell the number of classes of {task_id!r} from its id; pass num_classes")


def _searches_whole_networks(strategy: Strategy) -> bool:
    return isinstance(strategy, FUSE)


class TaskAware(Strategy):
    """Wrap ``strategy`` so that it searches ``task_space``, the task-aware space of its target.

    Parameters
    ----------
    strategy
        Any NNI strategy (FUSE, ``nni.nas.strategy.DARTS``, ``Random``, ``RandomOneShot``, ...), not yet initialised.
    task_space
        A :class:`~tanas_nni.space.TaskAwareSpace` (its ``target`` names the task).
    seed
        Seeds the draw of the whole-network candidates.
    num_classes, input_shape
        Of the target; ``num_classes`` is read from the task id when left out.
    space_kind
        ``"whole"`` (a ``LayerChoice`` over whole networks), ``"cell"`` (per-edge choices) or ``"auto"``: whole for
        FUSE, cell for everything else.
    candidates
        How many task-aware candidates the whole-network space holds (default 16).
    """

    def __init__(self, strategy: Strategy, task_space: TaskAwareSpace, seed: int = 0, num_classes: int | None = None,
                 input_shape: Sequence[int] = (1, 28, 28), space_kind: Literal["auto", "whole", "cell"] = "auto",
                 candidates: int = DEFAULT_CANDIDATES):
        if not isinstance(strategy, Strategy):
            raise TanasError(f"strategy: expected an NNI strategy, got {type(strategy).__name__}")
        if space_kind not in ("auto", "whole", "cell"):
            raise TanasError(f"space_kind: must be one of auto, whole, cell, got {space_kind!r}")
        if not isinstance(task_space, TaskAwareSpace):
            raise TanasError(f"task_space: expected a TaskAwareSpace, got {type(task_space).__name__}")
        self.strategy = strategy
        self.task_space = task_space
        self.target = task_space.target
        if num_classes is None:
            if not self.target:
                raise TanasError("num_classes: the space names no target task; pass num_classes")
            num_classes = task_num_classes(self.target)
        self.num_classes = num_classes
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
