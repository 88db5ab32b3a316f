"""The side-by-side comparison: one target, one data split, one seed, one retraining recipe, many methods.

Methods (one registry, the same names in ``configs/compare.yml``, ``tanas compare --methods`` and the nnictl experiment's
search space):

``fuse-task-aware``, ``fuse-standard``
    The search pipeline (:func:`tanas_nni.search.run_pipeline`): FUSE over whole networks drawn from the task-aware space
    (distances from the dictionary, k nearest tasks) or the standard space. Search cost includes building the space
    (the distances), because that is part of what the method costs.
``darts``, ``random-one-shot``
    NNI's ``DARTS`` and ``RandomOneShot`` as NNI ships them (their own defaults; only the epoch budget is ours), on the
    **cell form of the same task-aware space** (:func:`tanas_nni.space.cell_space`).
``random``
    NNI's multi-trial ``Random`` strategy on that cell space: ``trials`` sampled architectures, each trained for
    ``epochs`` epochs with the shared recipe and scored on the validation split; the best one by validation accuracy is
    the winner.
``resnet18``, ``resnet34``, ``densenet161``, ``cnn5``
    Handcrafted networks (:mod:`tanas_nni.models.handcrafted`), trained once with the shared recipe; search cost 0.

What "the same space" means. FUSE compares *whole networks*: each candidate is a skeleton, a cell topology and one
operation per edge, drawn from the task-aware space (the k nearest tasks' own architectures, their recombinations and
mutations with the operation prior). NNI's cell-based strategies cannot choose skeletons or topologies (a ``LayerChoice``
cannot change the graph around it), so they get the task-aware space's most probable skeleton and cell topology (the
nearest task's, on ties) fixed, and on every edge a choice among the task-aware space's operations (those with a positive
prior, without ``none``; NNI's random samplers draw with the prior as weights). Every network NNI can export is thus a
member of the task-aware space; NNI searches all operation assignments of one skeleton, FUSE a few whole networks over
several skeletons. Building that space (the distances) is done once per method run and is recorded as
``space_seconds``; it counts in FUSE's search cost but not in NNI's, which are given the space.

Fairness of budgets (see ``configs/compare.yml``): the supernet strategies train for as many epochs over the training
split as FUSE's weight phases do in all (``rounds × cycles × weight_epochs``) unless a budget says otherwise, with the
same weight optimiser (AdamW, FUSE's weight lr and decay) and batch size; random search gets as many architectures as
FUSE's candidate pool by default, each trained like the final network (the retraining recipe's epochs). Every searched winner is retrained from scratch with the same :class:`TrainConfig` and
evaluated once on the test split; the test split never reaches a search (weights: train split; every decision: val).

Each method writes one record, ``<results>/<target>/<method>.json`` (atomic), so a rerun skips finished methods; a record
made with other settings is refused rather than mixed in (``force`` reruns it).
"""
from __future__ import annotations

import inspect
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.config import check_range, config_hash, from_dict, load_yaml, to_dict
from ..core.errors import TanasError
from ..core.progress import Epoch, Event, Message, PhaseEnd
from ..data import SplitSizes
from ..pipeline import SearchConfig
from ..strategy import FuseConfig
from ..models.handcrafted import HANDCRAFTED
from ..core.records import atomic_write_json, library_versions
from ..training import TrainConfig, count_parameters, fit

__all__ = ["METHODS", "HANDCRAFTED", "register_method", "OneShotBudget", "RandomBudget", "HandcraftedBudget",
           "CompareBudget", "CompareConfig", "load_compare_config", "run_method", "run_comparison", "record_path",
           "load_records"]

Progress = Callable[[dict], None]


# --- configuration --------------------------------------------------------------------------------------------------
@dataclass
class OneShotBudget:
    """Budget of an NNI one-shot strategy (DARTS, RandomOneShot).

    ``epochs``: supernet epochs over the training split (null: FUSE's total weight epochs). ``subnets`` (RandomOneShot
    only): how many subnets NNI's ``Random`` strategy then samples from the trained supernet and scores on the validation
    split with inherited weights (the SPOS workflow NNI documents for RandomOneShot); 0 keeps NNI's bare export, which
    is one random sample.
    """

    epochs: int | None = None
    subnets: int = 0

    def __post_init__(self):
        check_range("epochs", self.epochs, 1)
        check_range("subnets", self.subnets, 0)


@dataclass
class RandomBudget:
    """NNI multi-trial random search: ``trials`` architectures (null: FUSE's pool size), ``epochs`` each.

    ``epochs`` null: the retraining recipe's, i.e. every trial trains its network as the final network is trained; this
    is how NNI's multi-trial strategies evaluate a model (a trial is a full training run), and what "the same epochs"
    means for them. A smaller number makes random search a cheaper, noisier proxy; it is recorded with the result.
    """

    trials: int | None = None
    epochs: int | None = None

    def __post_init__(self):
        check_range("trials", self.trials, 1)
        check_range("epochs", self.epochs, 1)


@dataclass
class HandcraftedBudget:
    """A handcrafted network's training: ``epochs`` (null: the retraining recipe's) and the stem's stride (ResNets,
    DenseNet; 2 quarters the cost at 28×28)."""

    epochs: int | None = None
    stem_stride: int = 1

    def __post_init__(self):
        check_range("epochs", self.epochs, 1)
        check_range("stem_stride", self.stem_stride, 1, 4)


def _handcrafted_defaults() -> dict[str, HandcraftedBudget]:
    return {name: HandcraftedBudget() for name in HANDCRAFTED}


@dataclass
class CompareBudget:
    """Everything that sets how much work each method does."""

    samples: SplitSizes = field(default_factory=SplitSizes)
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    fuse: FuseConfig = field(default_factory=FuseConfig)
    darts: OneShotBudget = field(default_factory=OneShotBudget)
    random_one_shot: OneShotBudget = field(default_factory=lambda: OneShotBudget(subnets=10))
    random: RandomBudget = field(default_factory=RandomBudget)
    handcrafted: dict[str, HandcraftedBudget] = field(default_factory=_handcrafted_defaults)

    def __post_init__(self):
        unknown = [k for k in self.handcrafted if k not in HANDCRAFTED]
        if unknown:
            raise TanasError(f"handcrafted: unknown network {unknown[0]!r} (known: {', '.join(HANDCRAFTED)})")
        for name in HANDCRAFTED:
            self.handcrafted.setdefault(name, HandcraftedBudget())

    def fuse_weight_epochs(self) -> int:
        f = self.fuse
        return f.rounds * f.cycles * f.weight_epochs

    def fuse_pool(self) -> int:
        return self.fuse.pool()


def _small_budget() -> CompareBudget:
    return CompareBudget(
        samples=SplitSizes(1000, 300, 600), retrain=TrainConfig(epochs=5),
        fuse=FuseConfig(candidates_per_round=3, rounds=2, cycles=1),
        darts=OneShotBudget(), random_one_shot=OneShotBudget(subnets=5), random=RandomBudget(epochs=1),
        handcrafted={"resnet18": HandcraftedBudget(stem_stride=2), "resnet34": HandcraftedBudget(stem_stride=2),
                     "densenet161": HandcraftedBudget(epochs=1, stem_stride=2), "cnn5": HandcraftedBudget()})


def _default_budgets() -> dict[str, CompareBudget]:
    return {"small": _small_budget(), "benchmark": CompareBudget()}


@dataclass
class CompareConfig:
    """The comparison (``configs/compare.yml``). ``budget`` names one entry of ``budgets``."""

    target: str = "quickdraw:cat-vs-rest"
    methods: list[str] = field(default_factory=lambda: list(METHOD_ORDER))
    dictionary: str = "runs/dictionary"
    data_dir: str | None = None
    k: int = 3
    distance: str = "fisher"
    tau: float | None = None
    space_file: str | None = None
    seed: int = 0
    threads: int | None = None
    results: str = "runs/compare"
    budget: str = "small"
    budgets: dict[str, CompareBudget] = field(default_factory=_default_budgets)

    def __post_init__(self):
        for m in self.methods:
            check_method(m, "methods")
        if self.budget not in self.budgets:
            raise TanasError(f"budget: unknown budget {self.budget!r} (known: {', '.join(self.budgets)})")
        if self.distance not in ("fisher", "transfer"):
            raise TanasError(f"distance: unknown distance {self.distance!r} (known: fisher, transfer)")
        check_range("k", self.k, 1)
        check_range("threads", self.threads, 1)

    @property
    def active(self) -> CompareBudget:
        return self.budgets[self.budget]


def load_compare_config(path: str | Path | None = None, overrides: dict | None = None) -> CompareConfig:
    """A :class:`CompareConfig` from an optional YAML file and overrides (None values ignored); paths in the file are
    relative to the file."""
    data: dict = load_yaml(path) if path else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    data.update(given)
    where = str(path) if path else "compare"
    cfg = from_dict(CompareConfig, data, where=where)
    if path:
        base = Path(path).parent
        for key in ("dictionary", "data_dir", "space_file", "results"):
            value = getattr(cfg, key)
            if value and key not in given and not Path(value).expanduser().is_absolute():
                setattr(cfg, key, str((base / value).resolve()))
    return cfg


# --- method registry ------------------------------------------------------------------------------------------------
@dataclass
class Context:
    """What a method run gets: the config, the target's data, where to work, and a progress callback."""

    cfg: CompareConfig
    method: str
    data: Any
    workdir: Path
    progress: Progress
    _space: Any = None
    space_seconds: float = 0.0

    @property
    def budget(self) -> CompareBudget:
        return self.cfg.active

    def search_config(self, space: str) -> SearchConfig:
        c, b = self.cfg, self.budget
        return SearchConfig(target=c.target, space=space, dictionary=c.dictionary, data_dir=c.data_dir, k=c.k,
                            method=c.distance, tau=c.tau, space_file=c.space_file, seed=c.seed, samples=b.samples,
                            fuse=b.fuse, retrain=b.retrain, out=str(self.workdir), threads=c.threads)

    def task_aware_space(self):
        """The task-aware space of the target (built once per method run; its cost is ``space_seconds``)."""
        if self._space is None:
            from ..pipeline import build_space

            t0 = time.perf_counter()
            self._space = build_space(self.search_config("task-aware"))
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
METHODS: dict[str, MethodFn] = {}
METHOD_ORDER: list[str] = []


def register_method(name: str):
    """Register ``fn(ctx) -> Outcome`` as comparison method ``name``."""
    def deco(fn: MethodFn) -> MethodFn:
        METHODS[name] = fn
        if name not in METHOD_ORDER:
            METHOD_ORDER.append(name)
        return fn
    return deco


def check_method(name: str, where: str = "method") -> str:
    if name not in METHODS:
        raise TanasError(f"{where}: unknown method {name!r} (known: {', '.join(METHOD_ORDER)})")
    return name


def _retrain(ctx: Context, arch) -> tuple[Any, dict]:
    from ..pipeline import retrain

    def progress(event: Event) -> None:
        if isinstance(event, Epoch):
            ctx.progress({"stage": "retrain", "epoch": event.epoch, "epochs": event.epochs,
                          "val_acc": event.val_acc, "train_loss": event.train_loss})

    return retrain(arch, ctx.data, ctx.budget.retrain, seed=ctx.cfg.seed, progress=progress)


def _fuse(space: str) -> MethodFn:
    def run(ctx: Context) -> Outcome:
        from ..pipeline import run_pipeline

        epochs = ctx.budget.fuse_weight_epochs() + ctx.budget.fuse.rounds * ctx.budget.fuse.cycles * \
            ctx.budget.fuse.alpha_epochs
        done = {"n": 0}

        def progress(event: Event) -> None:
            if isinstance(event, PhaseEnd):
                done["n"] += 1
                ctx.progress({"stage": "search", "epoch": done["n"], "epochs": epochs,
                              "max_probability": event.max_probability, "phase": event.phase})
            elif isinstance(event, Epoch):
                ctx.progress({"stage": "retrain", "epoch": event.epoch, "epochs": event.epochs,
                              "val_acc": event.val_acc, "train_loss": event.train_loss})
            elif isinstance(event, Message) and event.stage == "space":
                ctx.progress({"stage": "space", "message": event.text})

        result = run_pipeline(ctx.search_config(space), progress=progress, data=ctx.data)
        metrics, out = result.metrics, result.out
        fit_result = {"test_acc": metrics["test_acc"], "val_acc": metrics["val_acc"],
                      "train_acc": metrics["train_acc"], "best_epoch": metrics["best_epoch"],
                      "seconds": metrics["retrain_seconds"], "history": result.history}
        ctx.space_seconds = metrics["space_seconds"]
        return Outcome(str(result.architecture), result.architecture.to_dict(), metrics["parameters"], fit_result,
                       metrics["search_seconds"],
                       {"fuse": to_dict(ctx.budget.fuse), "candidates": metrics["candidates"], "space": space,
                        "k": ctx.cfg.k if space == "task-aware" else None,
                        "distance": ctx.cfg.distance if space == "task-aware" else None},
                       {"export": str(out), "rounds_run": metrics["rounds_run"]})
    return run


register_method("fuse-task-aware")(_fuse("task-aware"))
register_method("fuse-standard")(_fuse("standard"))


def _nni_config(ctx: Context, max_trials: int | None = None):
    from nni.nas.experiment import NasExperimentConfig

    config = NasExperimentConfig("sequential", "raw")
    # NNI's own records of the inner experiment stay next to the comparison, not in ~/nni-experiments.
    config.experiment_working_directory = str(ctx.workdir / "nni")
    if max_trials is not None:
        config.max_trial_number = max_trials
    return config


def _epoch_callback(ctx: Context, epochs: int):
    """A Lightning callback that reports each supernet epoch as search progress."""
    from pytorch_lightning import Callback

    class EpochProgress(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 2)() == 1}
            ctx.progress({"stage": "search", "epoch": trainer.current_epoch + 1, "epochs": epochs,
                          "train_acc": metrics.get("train_acc"), "train_loss": metrics.get("train_loss")})

    return EpochProgress()


def _oneshot_evaluator(ctx: Context, epochs: int):
    """NNI's ``Classification`` evaluator on the target's train/val splits, with FUSE's weight optimiser and batches."""
    from nni.nas.evaluator.pytorch import Classification

    from ..strategy.fuse import TensorBatches

    d, f = ctx.data, ctx.budget.fuse
    return Classification(learning_rate=f.weight_lr, weight_decay=f.weight_decay, optimizer=torch.optim.AdamW,
                          train_dataloaders=TensorBatches(d.x["train"], d.y["train"], f.batch_size, seed=ctx.cfg.seed),
                          val_dataloaders=TensorBatches(d.x["val"], d.y["val"], f.batch_size, seed=ctx.cfg.seed + 1),
                          num_classes=d.num_classes, max_epochs=epochs, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                          accelerator="gpu" if torch.cuda.is_available() else "cpu",
                          callbacks=[_epoch_callback(ctx, epochs)])


def _cell_space(ctx: Context):
    from ..space import cell_space

    return cell_space(ctx.task_aware_space(), ctx.data.num_classes, ctx.data.input_shape)


def _evaluator_budget(ctx: Context, b: OneShotBudget) -> int:
    return b.epochs or ctx.budget.fuse_weight_epochs()


@register_method("darts")
def _darts(ctx: Context) -> Outcome:
    import nni.nas.strategy as strategies  # before nni.nas.oneshot (DESIGN "NNI 3.0 facts")
    from nni.nas.experiment import NasExperiment

    from ..space import architecture_from_sample
    from ..training import seed_everything

    epochs = _evaluator_budget(ctx, ctx.budget.darts)
    space = _cell_space(ctx)
    strategy = strategies.DARTS()  # NNI's defaults (arc_learning_rate 3e-4, no warm-up); only the epochs are ours
    arc_lr = inspect.signature(strategies.DARTS.__init__).parameters["arc_learning_rate"].default
    seed_everything(ctx.cfg.seed)
    t0 = time.perf_counter()
    exp = NasExperiment(space, _oneshot_evaluator(ctx, epochs), strategy, _nni_config(ctx))
    exp.run()
    sample = exp.export_top_models(formatter="dict")[0]
    seconds = time.perf_counter() - t0
    arch = architecture_from_sample(space, sample)
    model, result = _retrain(ctx, arch)
    return Outcome(str(arch), arch.to_dict(), count_parameters(model), result, seconds,
                   {"epochs": epochs, "strategy": repr(strategy), "arc_learning_rate": arc_lr,
                    "weight_lr": ctx.budget.fuse.weight_lr, "batch_size": ctx.budget.fuse.batch_size,
                    "operations": list(space.operations), "skeleton": space.skeleton.to_dict()},
                   {"sample": sample})


def _subnet_scorer(ctx: Context, state: dict):
    """NNI FunctionalEvaluator body: a subnet with the supernet's weights, BN statistics recomputed, scored on val."""
    import nni

    from ..training import evaluate, recalibrate_bn

    def score(model):
        recalibrate_bn(model, ctx.data.x["train"], ctx.budget.retrain.bn_recalibration or 1024)
        acc = evaluate(model, ctx.data.x["val"], ctx.data.y["val"])["acc"]
        state["n"] += 1
        ctx.progress({"stage": "search", "subnet": state["n"], "subnets": state["total"], "val_acc": acc})
        nni.report_final_result(acc)

    return score


@register_method("random-one-shot")
def _random_one_shot(ctx: Context) -> Outcome:
    import nni.nas.strategy as strategies
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment

    from ..space import architecture_from_sample
    from ..training import seed_everything

    b = ctx.budget.random_one_shot
    epochs = _evaluator_budget(ctx, b)
    space = _cell_space(ctx)
    seed_everything(ctx.cfg.seed)
    t0 = time.perf_counter()
    strategy = strategies.RandomOneShot()
    exp = NasExperiment(space, _oneshot_evaluator(ctx, epochs), strategy, _nni_config(ctx))
    exp.run()
    if b.subnets:
        # NNI's documented second stage: sample subnets of the trained supernet and score them (the sequential engine
        # with the raw format keeps the supernet object, so subnets inherit its weights; NNI infers the same). A FunctionalEvaluator rather than Classification(max_epochs=0): NNI's
        # Lightning evaluator reused across models fails on the sequential engine (KeyError 'val_acc').
        state = {"n": 0, "total": b.subnets}
        stage2 = NasExperiment(space, FunctionalEvaluator(_subnet_scorer(ctx, state)),
                               strategies.Random(seed=ctx.cfg.seed), _nni_config(ctx, b.subnets))
        stage2.run()
        sample = stage2.export_top_models(top_k=1, formatter="dict")[0]
    else:
        sample = exp.export_top_models(formatter="dict")[0]
    seconds = time.perf_counter() - t0
    arch = architecture_from_sample(space, sample)
    model, result = _retrain(ctx, arch)
    return Outcome(str(arch), arch.to_dict(), count_parameters(model), result, seconds,
                   {"epochs": epochs, "subnets": b.subnets, "strategy": repr(strategy),
                    "weight_lr": ctx.budget.fuse.weight_lr, "batch_size": ctx.budget.fuse.batch_size,
                    "operations": list(space.operations), "skeleton": space.skeleton.to_dict()},
                   {"sample": sample})


@register_method("random")
def _random(ctx: Context) -> Outcome:
    import nni
    import nni.nas.strategy as strategies
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment

    from ..space import architecture_from_sample

    b = ctx.budget.random
    trials = b.trials or ctx.budget.fuse_pool()
    epochs = b.epochs or ctx.budget.retrain.epochs
    recipe = TrainConfig(**{**asdict(ctx.budget.retrain), "epochs": epochs})
    space = _cell_space(ctx)
    state = {"n": 0}

    # A FunctionalEvaluator, not NNI's Lightning Classification: the latter, reused across models on the sequential
    # engine, fails with KeyError 'val_acc' (DESIGN "NNI 3.0 facts"). Each trial trains with the shared recipe for
    # `epochs` epochs and is scored on validation only.
    def trial(model):
        result = fit(model, ctx.data, recipe, seed=ctx.cfg.seed, stage="random search",
                     evaluate_test=False)
        state["n"] += 1
        ctx.progress({"stage": "search", "trial": state["n"], "trials": trials, "val_acc": result["val_acc"]})
        nni.report_final_result(result["val_acc"])

    t0 = time.perf_counter()
    strategy = strategies.Random(seed=ctx.cfg.seed)
    exp = NasExperiment(space, FunctionalEvaluator(trial), strategy, _nni_config(ctx, trials))
    exp.run()
    sample = exp.export_top_models(top_k=1, formatter="dict")[0]
    seconds = time.perf_counter() - t0
    arch = architecture_from_sample(space, sample)
    model, result = _retrain(ctx, arch)
    return Outcome(str(arch), arch.to_dict(), count_parameters(model), result, seconds,
                   {"trials": trials, "epochs_per_trial": epochs, "strategy": repr(strategy),
                    "operations": list(space.operations), "skeleton": space.skeleton.to_dict()},
                   {"sample": sample, "trials_run": state["n"]})


def _handcrafted(name: str) -> MethodFn:
    def run(ctx: Context) -> Outcome:
        from ..models import build_network

        b = ctx.budget.handcrafted[name]
        kwargs = {} if name == "cnn5" else {"stem_stride": b.stem_stride}
        model = build_network(name, ctx.data.num_classes, ctx.data.input_shape, **kwargs)
        try:  # a stem stride too large for the input fails deep inside torch; say what to change instead
            with torch.no_grad():
                model.eval()(torch.zeros(2, *ctx.data.input_shape))
        except RuntimeError as e:
            raise TanasError(f"handcrafted.{name}.stem_stride: {b.stem_stride} is too large for "
                             f"{tuple(ctx.data.input_shape)} inputs ({str(e).splitlines()[0]}); use 1 or 2") from None
        recipe = TrainConfig(**{**asdict(ctx.budget.retrain), "epochs": b.epochs or ctx.budget.retrain.epochs})

        def on_epoch(epoch: int, row: dict) -> None:
            ctx.progress({"stage": "retrain", "epoch": epoch, "epochs": recipe.epochs, **row})

        result = fit(model, ctx.data, recipe, seed=ctx.cfg.seed, stage=f"training {name}",
                     on_epoch=on_epoch, evaluate_test=True)
        label = name if name == "cnn5" else f"{name} (stem stride {b.stem_stride})"
        return Outcome(label, {"network": name, **kwargs}, count_parameters(model), result, 0.0,
                       {"epochs": recipe.epochs, **kwargs})
    return run


for _name in HANDCRAFTED:
    register_method(_name)(_handcrafted(_name))


# --- records --------------------------------------------------------------------------------------------------------
def target_dir(cfg: CompareConfig) -> Path:
    return Path(cfg.results) / cfg.target.replace(":", "_")


def record_path(cfg: CompareConfig, method: str) -> Path:
    return target_dir(cfg) / f"{method}.json"


def _settings(cfg: CompareConfig, method: str) -> dict:
    """What a method's result depends on; a finished record is reused only if these are equal."""
    b = cfg.active
    s: dict[str, Any] = {"method": method, "target": cfg.target, "seed": cfg.seed, "samples": to_dict(b.samples),
                         "retrain": to_dict(b.retrain)}
    if method.startswith("fuse") or method in ("darts", "random", "random-one-shot"):
        s["fuse"] = to_dict(b.fuse)
        s["space_file"] = cfg.space_file
        if method != "fuse-standard":
            s.update(dictionary=str(Path(cfg.dictionary).resolve()), k=cfg.k, distance=cfg.distance, tau=cfg.tau)
    if method == "darts":
        s["darts"] = to_dict(b.darts)
    elif method == "random-one-shot":
        s["random_one_shot"] = to_dict(b.random_one_shot)
    elif method == "random":
        s["random"] = to_dict(b.random)
    elif method in HANDCRAFTED:
        s["handcrafted"] = to_dict(b.handcrafted[method])
    return s


def run_method(cfg: CompareConfig, method: str, progress: Progress | None = None, force: bool = False,
               data: Any = None) -> dict:
    """Run one method (or reuse its finished record) and return its record.

    The record is written atomically to :func:`record_path`. ``data`` (a loaded :class:`~tanas_nni.data.TaskData`)
    saves reloading the target when several methods run in one process.
    """
    from ..data import SplitSizes, load_task
    from ..pipeline import device_description

    check_method(method)
    progress = progress or (lambda info: None)
    path = record_path(cfg, method)
    settings = _settings(cfg, method)
    key = config_hash(settings)
    if path.is_file() and not force:
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = None  # a torn file cannot come from the atomic write; treat it as unfinished
        if old is not None:
            if old.get("config_hash") != key:
                raise TanasError(f"{path}: made with other settings than this run's (budget, data, seed or recipe "
                                 f"changed); rerun with --force or use another results directory")
            progress({"stage": "done", "method": method, "skipped": True, **old})
            return old
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    b = cfg.active
    if data is None:
        data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed,
                         sizes=b.samples)
    workdir = target_dir(cfg) / "work" / method
    if force:
        # FUSE resumes from the checkpoints in its work folder; a forced rerun must start from nothing.
        shutil.rmtree(workdir, ignore_errors=True)
    ctx = Context(cfg, method, data, workdir, lambda info: progress({"method": method, **info}))
    started = time.time()
    outcome = METHODS[method](ctx)
    params = outcome.parameters
    test_acc = float(outcome.fit["test_acc"])
    record = {
        "method": method, "target": str(data.spec), "seed": cfg.seed,
        "kind": "handcrafted" if method in HANDCRAFTED else "searched",
        "test_error": 100.0 * (1.0 - test_acc), "test_acc": test_acc, "val_acc": float(outcome.fit["val_acc"]),
        "params": params / 1e6, "parameters": params,
        "search_seconds": float(outcome.search_seconds), "space_seconds": float(ctx.space_seconds),
        "retrain_seconds": float(outcome.fit["seconds"]), "retrain_epochs": len(outcome.fit.get("history", [])),
        "best_epoch": outcome.fit.get("best_epoch"),
        "device": device_description(), "architecture": outcome.architecture,
        "architecture_json": outcome.architecture_json, "budget": outcome.budget, "budget_name": cfg.budget,
        "retrain": to_dict(b.retrain), "data_fingerprint": data.fingerprint, "split_sizes": data.sizes(),
        "settings": settings, "config_hash": key, "versions": library_versions(),
        "started": started, "finished": time.time(),
        "val_curve": [row["val_acc"] for row in outcome.fit.get("history", [])], **outcome.extra,
    }
    atomic_write_json(path, record)
    progress({"stage": "done", "method": method, "skipped": False, **record})
    return record


def run_comparison(cfg: CompareConfig, methods: list[str] | None = None, progress: Progress | None = None,
                   force: bool = False) -> list[dict]:
    """Run ``methods`` (default: the config's) one after another on the same data; returns their records."""
    from ..data import SplitSizes, load_task

    methods = methods or cfg.methods
    for m in methods:
        check_method(m)
    b = cfg.active
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed,
                     sizes=b.samples)
    atomic_write_json(target_dir(cfg) / "config.json", to_dict(cfg))
    return [run_method(cfg, m, progress, force, data) for m in methods]


def load_records(folder: str | Path) -> list[dict]:
    """Every method record under a results directory (a target's folder or the folder of several targets)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TanasError(f"{folder}: no such results directory")
    records = []
    for path in sorted(folder.rglob("*.json")):
        if "work" in path.relative_to(folder).parts or path.name == "config.json":
            continue
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(rec, dict) and "method" in rec and "test_error" in rec:
            records.append(rec)
    return records
