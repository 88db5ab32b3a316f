"""The strategy conformance suite: what a search strategy must do to be registered (:mod:`tanas_nni.strategy.registry`).

In the style of ``optuna.testing``, a plugin author calls :func:`check_strategy` from their own tests::

    from tanas_nni.testing.strategy import check_strategy

    def test_my_strategy_conforms(task):  # a tiny TaskData: load_task(..., sizes=SplitSizes(128, 64, 32))
        check_strategy(MyStrategy, task)  # or a factory: check_strategy(lambda cfg, **kw: MyStrategy(...), task)

It makes the strategy the way ``tanas search`` does (``from_config(FuseConfig, seed=, checkpoint_dir=, on_progress=,
task_name=)``, see :func:`tanas_nni.pipeline.search`), runs it in an NNI ``NasExperiment`` over a toy
:func:`~tanas_nni.space.whole_network_space` of a few tiny candidates with :func:`~tanas_nni.strategy.fuse_evaluator`
on the train and validation splits, and checks, in seconds on CPU:

1. **it runs**: the factory gives a fresh NNI :class:`~nni.nas.strategy.Strategy` each call, and the search completes;
2. **it exports a candidate**: ``incumbent()`` is ``(index, network)`` with ``index`` one of the candidates and the
   network that candidate's (its parameters shaped as :func:`~tanas_nni.space.build_model` shapes them, finite logits
   of the task's classes), and ``list_models(limit=1)`` (what NNI's ``export_top_models(1)`` returns) names it too;
3. **it ranks best first**: ``ranking()`` rows ``{"choice", "probability", "round", "winner"}`` name distinct
   candidates, the first is the incumbent and a winner, probabilities lie in [0, 1] and do not increase within a
   round; ``alpha_trajectory()`` is a list of rows;
4. **it reports progress as events**: whatever reaches ``on_progress`` is a :class:`tanas_nni.core.progress.Event`
   naming the task;
5. **its state round-trips**: ``state_dict()``, saved and loaded with NNI's serializer (as ``NasExperiment``
   checkpoints do), loaded into a fresh, initialised strategy makes it report the same ranking and trajectory before
   it runs, and the same ranking, trajectory and incumbent, with the same weights, after ``run()`` resumes;
6. **it never reads the test split**: while the strategy exists, the test split of the ``TaskData`` handed to
   :func:`check_strategy` is replaced by tripwires (see :func:`guarded_test_split`), so a strategy whose factory was
   given that ``TaskData`` (as a zero-cost-proxy strategy might be) fails the suite the moment it reads it.

Every failure is a :class:`StrategyConformanceError` (an ``AssertionError``) naming the point of the contract broken.
The suite's own tests, which show that each point can fail, are in ``tests/test_strategy_conformance.py``.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot: docs/nni.md, "import order")
import torch
from nni.nas.execution import SequentialExecutionEngine
from nni.nas.experiment import NasExperimentConfig
from nni.nas.space import RawFormatModelSpace
from nni.nas.strategy import Strategy
from nni.nas.utils.serializer import get_default_serializer
from torch import nn

from ..core.progress import Event
from ..data import TaskData
from ..space import (CANDIDATE_LABEL, Architecture, CellTopology, Skeleton, SpaceSpec, TaskAwareSpace, build_model,
                     whole_network_space)
from ..strategy import FuseConfig, fuse_evaluator, nas_experiment

__all__ = ["check_strategy", "StrategyConformanceError", "tiny_space", "tiny_candidates", "tiny_fuse_config",
           "guarded_test_split"]

# What a registered strategy's factory is called with: ``from_config`` itself, or anything with its signature.
StrategyFactory = Callable[..., Strategy]


class StrategyConformanceError(AssertionError):
    """A strategy breaks the contract of :func:`check_strategy`; the message names the point."""


def _require(ok: Any, message: str) -> None:
    if not ok:
        raise StrategyConformanceError(message)


def tiny_space() -> SpaceSpec:
    """A space of tiny networks (stem of 4 channels, 2 cells, 1- and 3-edge cells), for searches of seconds."""
    return SpaceSpec(operations=("sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "skip_connect"),
                     skeletons=(Skeleton(stem=4, cells=2, reductions=(0, 1)),),
                     cells=(CellTopology(2, ((0, 1),)), CellTopology(3, ((0, 1), (1, 2), (0, 2)))),
                     name="conformance-tiny", cell_names=("single", "chain2_res"))


def tiny_candidates(n: int, seed: int = 0) -> list[Architecture]:
    """``n`` distinct architectures of :func:`tiny_space`, drawn as the standard space draws them."""
    return TaskAwareSpace.standard(tiny_space(), seed=seed).candidates(n, seed=seed)


def tiny_fuse_config() -> FuseConfig:
    """The suite's budget: 2 rounds of 2 candidates (3 in all), one cycle of 1 weight and 2 α epochs per round."""
    return FuseConfig(candidates_per_round=2, rounds=2, cycles=1, weight_epochs=1, alpha_epochs=2, batch_size=64)


# --- the test split's tripwires ---------------------------------------------------------------------------------------
class _TripwireTensor(torch.Tensor):
    """A tensor no torch operation may touch; every attempt (even ``len`` or ``.shape``) is recorded, then refused."""

    reads: list[str] = []  # set per guard, on a subclass of its own

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        what = getattr(func, "__name__", None) or repr(func)
        cls.reads.append(f"{what} on a test-split tensor")
        raise StrategyConformanceError(f"test split: the strategy used the test split ({what} on one of its tensors)")


class _GuardedSplits(dict):
    """A ``TaskData.x`` / ``.y`` whose ``"test"`` entry may not be read; a read is recorded, then refused. Other ways
    in (``values()``, ``items()``, a copy) hand out the tripwire tensor, which refuses any use."""

    def __init__(self, splits: Mapping, reads: list[str], name: str):
        super().__init__(splits)
        self._reads, self._name = reads, name

    def __getitem__(self, key):
        if key == "test":
            self._reads.append(f"{self._name}['test']")
            raise StrategyConformanceError(f"test split: the strategy read {self._name}['test']")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


@contextlib.contextmanager
def guarded_test_split(data: TaskData) -> Iterator[list[str]]:
    """Within the block, ``data``'s test split is tripwires; yields the list of the reads attempted (empty if none).

    ``data.x`` and ``data.y`` are swapped, on ``data`` itself, for mappings whose ``"test"`` entry refuses to be read
    and holds tensors (NaN inputs, label -1) that refuse every torch operation; each attempt is recorded in the list
    before it is refused, so a strategy that catches the error is still caught. Everything is put back on exit. Only
    reads through ``data`` are seen: a copy of the test tensors taken before the block, or a dataset read from disk,
    is not.
    """
    reads: list[str] = []
    tripwire = type("_Tripwire", (_TripwireTensor,), {"reads": reads})
    x, y = data.x, data.y

    def poisoned(splits: Mapping, fill: float) -> dict:
        out = dict(splits)
        if "test" in out:
            out["test"] = torch.full_like(out["test"], fill).as_subclass(tripwire)
        return out

    data.x = _GuardedSplits(poisoned(x, float("nan")), reads, "data.x")
    data.y = _GuardedSplits(poisoned(y, -1), reads, "data.y")
    try:
        yield reads
    finally:
        data.x, data.y = x, y


# --- running --------------------------------------------------------------------------------------------------------
def _factory(make_strategy: StrategyFactory | type) -> StrategyFactory:
    if isinstance(make_strategy, type):
        _require(callable(getattr(make_strategy, "from_config", None)),
                 f"from_config: {make_strategy.__name__} has no from_config(fuse_config, **kwargs) classmethod")
        return make_strategy.from_config  # type: ignore[attr-defined]
    _require(callable(make_strategy), f"make_strategy: expected a strategy class or a factory, got {make_strategy!r}")
    return make_strategy


def _call(what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args)``; an error it raises (other than the suite's own) is a failure of the contract point ``what``."""
    try:
        return fn(*args, **kwargs)
    except StrategyConformanceError:
        raise
    except Exception as e:
        raise StrategyConformanceError(f"{what}: raised {type(e).__name__}: {e}") from e


class _Search:
    """One search as :func:`tanas_nni.pipeline.search` runs it: the space, the evaluator, the strategy, the events."""

    def __init__(self, make: StrategyFactory, data: TaskData, candidates: Sequence[Architecture], config: FuseConfig,
                 seed: int, checkpoint_dir: Path | None, accelerator: str):
        self.events: list = []
        self.task_name = str(data.spec)
        self.space = whole_network_space(candidates, data.num_classes, data.input_shape)
        self.evaluator = fuse_evaluator(data.x["train"], data.y["train"], data.x["val"], data.y["val"],
                                        data.num_classes, learning_rate=config.weight_lr,
                                        weight_decay=config.weight_decay, batch_size=config.batch_size, seed=seed,
                                        accelerator=accelerator)
        self.strategy = _call("from_config", make, config, seed=seed, checkpoint_dir=checkpoint_dir,
                              on_progress=self.events.append, task_name=self.task_name)
        _require(isinstance(self.strategy, Strategy),
                 f"from_config: returned {type(self.strategy).__name__}, not an NNI nni.nas.strategy.Strategy")


def _rows(strategy: Strategy, when: str = "") -> tuple[Any, Any, Any]:
    """ranking(), the incumbent's index and alpha_trajectory(); ``when`` prefixes the message of a failure."""
    ranking = _call(f"{when}ranking()", strategy.ranking)  # type: ignore[attr-defined]
    incumbent = _call(f"{when}incumbent()", strategy.incumbent)  # type: ignore[attr-defined]
    trajectory = _call(f"{when}alpha_trajectory()", strategy.alpha_trajectory)  # type: ignore[attr-defined]
    _require(isinstance(incumbent, tuple) and len(incumbent) == 2,
             f"{when}incumbent(): expected (index, network), got {incumbent!r}")
    return ranking, incumbent[0], trajectory


def _check_export(search: _Search, candidates: Sequence[Architecture], data: TaskData) -> tuple[int, nn.Module]:
    incumbent = _call("incumbent()", search.strategy.incumbent)  # type: ignore[attr-defined]
    _require(isinstance(incumbent, tuple) and len(incumbent) == 2,
             f"incumbent(): expected (index, network), got {incumbent!r}")
    index, net = incumbent
    _require(isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(candidates),
             f"incumbent(): index {index!r} is not one of the {len(candidates)} candidates (0..{len(candidates) - 1})")
    _require(isinstance(net, nn.Module), f"incumbent(): the network is a {type(net).__name__}, not a torch module")
    with torch.random.fork_rng(devices=[]):
        reference = build_model(candidates[index], data.num_classes, data.input_shape)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    _require(shapes == {k: tuple(v.shape) for k, v in reference.state_dict().items()},
             f"incumbent(): the network is not candidate {index}'s ({candidates[index]})")
    modes = [m.training for m in net.modules()]
    try:
        net.eval()
        with torch.no_grad():
            logits = _call("incumbent() network", net, data.x["val"][:8])
    finally:
        for m, mode in zip(net.modules(), modes):
            m.training = mode
    expected = (min(8, len(data.x["val"])), data.num_classes)
    _require(isinstance(logits, torch.Tensor) and tuple(logits.shape) == expected,
             f"incumbent(): the network gives {getattr(logits, 'shape', logits)!r} on a batch, expected logits of "
             f"shape {expected}")
    _require(bool(torch.isfinite(logits).all()), "incumbent(): the network gives non-finite logits")
    return index, net


def _check_top_model(search: _Search, index: int) -> None:
    """What NNI's ``export_top_models(1)`` returns (the first of ``list_models``) is the incumbent."""
    top = list(_call("list_models(limit=1)", search.strategy.list_models, limit=1))
    _require(len(top) == 1, f"list_models(limit=1): gave {len(top)} models, expected 1")
    sample = getattr(top[0], "sample", None) or {}
    _require(sample.get(CANDIDATE_LABEL) == index,
             f"list_models(limit=1): exports {sample!r}, but incumbent() is candidate {index}")


def _check_ranking(ranking: Any, index: int, trajectory: Any, n: int) -> None:
    _require(isinstance(ranking, list) and ranking, f"ranking(): expected a non-empty list of rows, got {ranking!r}")
    seen: set[int] = set()
    last_in_round: dict[Any, float] = {}
    for i, row in enumerate(ranking):
        _require(isinstance(row, Mapping) and {"choice", "probability", "round", "winner"} <= set(row),
                 f"ranking(): row {i} is {row!r}; rows need choice, probability, round and winner")
        choice, p = row["choice"], row["probability"]
        _require(isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < n,
                 f"ranking(): row {i} names {choice!r}, not one of the {n} candidates")
        _require(choice not in seen, f"ranking(): candidate {choice} is ranked twice")
        seen.add(choice)
        _require(isinstance(p, (int, float)) and math.isfinite(p) and 0 <= p <= 1,
                 f"ranking(): row {i} has probability {p!r}, outside [0, 1]")
        r = row["round"]
        _require(p <= last_in_round.get(r, math.inf),
                 f"ranking(): not best first: row {i} (candidate {choice}, p={p}) follows a less probable row of round "
                 f"{r}")
        last_in_round[r] = p
    _require(ranking[0]["choice"] == index,
             f"ranking(): not best first: the first row is candidate {ranking[0]['choice']}, the incumbent is {index}")
    _require(ranking[0]["winner"] is True, "ranking(): the first row (the incumbent) is not marked a winner")
    _require(isinstance(trajectory, list) and all(isinstance(r, Mapping) for r in trajectory),
             f"alpha_trajectory(): expected a list of rows (mappings), got {type(trajectory).__name__}")


def _check_events(search: _Search) -> None:
    for e in search.events:
        _require(isinstance(e, Event), f"on_progress: got {e!r}, not a tanas_nni.core.progress.Event")
        _require(e.task == search.task_name, f"on_progress: {type(e).__name__} names task {e.task!r}, the search is "
                                             f"{search.task_name!r}'s")


def _check_state_round_trip(first: _Search, make: StrategyFactory, data: TaskData, candidates: Sequence[Architecture],
                            config: FuseConfig, seed: int, tmp: Path, accelerator: str) -> None:
    ranking, index, trajectory = _rows(first.strategy)
    state = _call("state_dict()", first.strategy.state_dict)
    _require(isinstance(state, dict), f"state_dict(): expected a dict, got {type(state).__name__}")
    # Through the file NNI's experiment checkpoints use, so that the state is data, not references to live objects.
    _call("state_dict() through NNI's serializer", get_default_serializer().save, state, tmp / "state.ckpt")
    state = get_default_serializer().load(tmp / "state.ckpt")

    fresh = _Search(make, data, candidates, config, seed, None, accelerator)
    _require(fresh.strategy is not first.strategy, "from_config: the factory returned the same strategy twice")
    _call("initialize()", fresh.strategy.initialize, RawFormatModelSpace(fresh.space, fresh.evaluator),
          SequentialExecutionEngine())
    _call("load_state_dict()", fresh.strategy.load_state_dict, state)
    # Before run(): what the state alone gives. Not incumbent(): NNI's one-shot strategies attach the supernet to their
    # Lightning module in run(), so the incumbent's network exists only then.
    when = "state: after load_state_dict, "
    loaded = _call(f"{when}ranking()", fresh.strategy.ranking)  # type: ignore[attr-defined]
    _require(loaded == ranking, "state: after load_state_dict a fresh strategy ranks differently (does the state carry "
                                "the result?)")
    loaded = _call(f"{when}alpha_trajectory()", fresh.strategy.alpha_trajectory)  # type: ignore[attr-defined]
    _require(loaded == trajectory, "state: after load_state_dict the α trajectory differs")

    _call("state: run() after load_state_dict", fresh.strategy.run)
    resumed = _rows(fresh.strategy, "state: after a resumed run(), ")
    _require(resumed == (ranking, index, trajectory),
             "state: a strategy resumed from the state ends with another ranking, incumbent or trajectory")
    a = first.strategy.incumbent()[1].state_dict()  # type: ignore[attr-defined]
    b = fresh.strategy.incumbent()[1].state_dict()  # type: ignore[attr-defined]
    _require(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
             "state: the resumed strategy's incumbent has other weights than the original's")


def check_strategy(make_strategy: StrategyFactory | type, data: TaskData,
                   candidates: Sequence[Architecture | Mapping] | None = None, config: FuseConfig | None = None,
                   seed: int = 0, accelerator: str = "cpu") -> None:
    """Check that a strategy meets the contract of a registered strategy (the points are in this module's docstring).

    Parameters
    ----------
    make_strategy
        A strategy class with ``from_config`` (its ``from_config`` is used), or a factory with the same signature:
        ``make_strategy(fuse_config, seed=..., checkpoint_dir=..., on_progress=..., task_name=...)``, returning a new
        strategy on each call.
    data
        A tiny :class:`~tanas_nni.data.TaskData` (a few hundred examples); its train and validation splits are searched
        on, its test split is guarded (see :func:`guarded_test_split`) and restored afterwards.
    candidates
        The whole networks of the toy space (default: ``config.pool()`` of :func:`tiny_candidates`).
    config
        The budget (default: :func:`tiny_fuse_config`).
    seed, accelerator
        Handed to the strategy and the evaluator; the global torch random state is seeded with ``seed`` inside the
        suite and restored after it.

    Raises
    ------
    StrategyConformanceError
        Naming the first point of the contract the strategy breaks.
    """
    make = _factory(make_strategy)
    config = config or tiny_fuse_config()
    archs = ([Architecture.from_dict(a) for a in candidates] if candidates is not None
             else tiny_candidates(config.pool(), seed=seed))
    _require(len(archs) >= 2, f"candidates: the suite needs at least 2 candidates, got {len(archs)}")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tanas-conformance-")))
        stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.manual_seed(seed)
        reads = stack.enter_context(guarded_test_split(data))
        search = _Search(make, data, archs, config, seed, tmp / "checkpoints", accelerator)
        experiment_config = NasExperimentConfig("sequential", "raw")
        experiment_config.experiment_working_directory = str(tmp / "nni")
        # Stopped when the stack closes, before its folder goes (NNI checkpoints a stopped experiment into it).
        experiment = stack.enter_context(nas_experiment(search.space, search.evaluator, search.strategy,
                                                        experiment_config))
        try:
            experiment.run()
        except Exception as e:
            _require(not reads, f"test split: the strategy read the test split ({'; '.join(reads)})")
            raise StrategyConformanceError(f"run: the search failed: {type(e).__name__}: {e}") from e
        _require(not reads, f"test split: the strategy read the test split ({'; '.join(reads)})")
        index, _ = _check_export(search, archs, data)
        ranking, _, trajectory = _rows(search.strategy)
        _check_ranking(ranking, index, trajectory, len(archs))
        _check_top_model(search, index)
        _check_events(search)
        _check_state_round_trip(search, make, data, archs, config, seed, tmp, accelerator)
        _require(not reads, f"test split: the strategy read the test split ({'; '.join(reads)})")
