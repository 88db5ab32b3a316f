"""The comparison's built-in methods, each registered once with :func:`~.registry.register_method`.

``fuse-task-aware``, ``fuse-standard``
    The search pipeline (:func:`tanas_nni.pipeline.run_pipeline`): FUSE over whole networks drawn from the task-aware
    space (distances from the dictionary, k nearest tasks) or the standard space. Search cost includes building the
    space (the distances), because that is part of what the method costs.
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
FUSE's candidate pool by default, each trained like the final network (the retraining recipe's epochs). Every searched
winner is retrained from scratch with the same :class:`~tanas_nni.training.TrainConfig` and evaluated once on the test
split; the test split never reaches a search (weights: train split; every decision: val).
"""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nni
import nni.nas.strategy as strategies  # before anything of nni.nas.oneshot: docs/nni.md, "import order"
import torch
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.evaluator.pytorch import Classification
from nni.nas.experiment import NasExperimentConfig
from pytorch_lightning import Callback

from ...core.config import check_range, to_dict
from ...core.errors import TanasError
from ...core.progress import Epoch, Event, Finished, Step
from ...models import build_network
from ...models.handcrafted import HANDCRAFTED
from ...pipeline import retrain, run_pipeline
from ...space import SCALING_RULE, architecture_from_sample, cell_space, fit_to_budget, grow_to_budget
from ...strategy import SeededRandomOneShot, TensorBatches, nas_experiment
from ...training import (TrainConfig, count_parameters, evaluate, fit, recalibrate_bn, reinitialise, seed_everything,
                         seeded_init)
from .registry import Context, MethodFn, Outcome, SearchEpoch, register_method

__all__ = ["OneShotBudget", "RandomBudget", "HandcraftedBudget"]


# --- budgets of the methods that have one ---------------------------------------------------------------------------
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


# --- what a record depends on ---------------------------------------------------------------------------------------
# Options added after records existed, each (by its dotted place in a method's settings) with the value those records
# ran: a method's settings leave an option out while it has that value, so that the records keep their hash. One rule
# for every such option; a new option goes here with the value the code ran before it existed. (A field of a config
# dataclass that is hashed whole, such as the training recipe, is marked core.config.LATER instead: its hash is taken
# outside these settings too, by dictionary entries and the shipped architectures.)
_LATER_OPTIONS = {"fuse.selection": "rounds", "max_params": None, "budget_scaling": None, "retrain_top": 1,
                  "fill_budget": False}
# FUSE options the NNI strategies do not read; what of them reaches the NNI strategies (their supernet epochs, FUSE's
# pool) is put in their settings as such (_searched_settings).
_FUSE_ONLY_OPTIONS = ("selection",)


def _without_later_options(s: dict) -> dict:
    """``s`` without the options of ``_LATER_OPTIONS`` that hold the value records made before them ran."""
    for dotted, old in _LATER_OPTIONS.items():
        *parents, name = dotted.split(".")
        d = s
        for p in parents:
            d = d.get(p) if isinstance(d, dict) else None
        if isinstance(d, dict) and name in d and d[name] == old:
            del d[name]
    return s


def _space_settings(cfg, space: str = "task-aware", fuse_reads_it: bool = True) -> dict:
    """The search's settings: FUSE's budget (the NNI strategies' epochs and weights derive from it), the space, and
    the parameter budget with the rule that scales to it."""
    fuse = to_dict(cfg.active.fuse)
    if not fuse_reads_it:
        for name in _FUSE_ONLY_OPTIONS:
            fuse.pop(name, None)
    s = {"fuse": fuse, "space_file": cfg.space_file}
    if space == "task-aware":
        s.update(dictionary=str(Path(cfg.dictionary).resolve()), k=cfg.k, distance=cfg.distance, tau=cfg.tau)
    b = cfg.active.max_params
    s.update(max_params=b, budget_scaling=SCALING_RULE if b is not None else None, fill_budget=cfg.active.fill_budget)
    return s


def _fuse_method_settings(space: str):
    """A FUSE method's settings: its space's (with the parameter budget) and how many finalists it retrains."""
    def settings(cfg, budget) -> dict:
        return _without_later_options({**_space_settings(cfg, space), "retrain_top": cfg.active.retrain_top})
    return settings


def _searched_settings(key: str, supernet: bool):
    """The space's settings, the parameter budget and the method's budget under ``key`` (the names records have always
    used). ``supernet``: the method trains a supernet for FUSE's weight epochs, which go in its settings when a FUSE-only
    option (``selection: halving``) makes them other than ``rounds × cycles × weight_epochs``."""
    def settings(cfg, budget) -> dict:
        s = {**_space_settings(cfg, fuse_reads_it=False), key: to_dict(budget)}
        f = cfg.active.fuse
        if supernet and f.weight_epochs_total() != f.rounds * f.cycles * f.weight_epochs:
            s["fuse_weight_epochs"] = f.weight_epochs_total()
        return _without_later_options(s)
    return settings


# --- FUSE -----------------------------------------------------------------------------------------------------------
def _retrain(ctx: Context, arch):
    return retrain(arch, ctx.data, ctx.budget.retrain, seed=ctx.cfg.seed, progress=ctx.progress)


def _within_budget(ctx: Context, arch):
    """An NNI strategy's exported winner scaled to the budget's ``max_params`` by the rule that scales FUSE's
    candidates (:func:`tanas_nni.space.fit_to_budget`: depth and width together), so every method's
    retrained network fills the same budget. NNI searches the cell space at its own width: a supernet strategy cannot
    honour a per-network budget during the search, and a skeleton narrowed until its largest member fits leaves the
    typical member a tenth of the budget. With ``fill_budget`` it is then scaled up to spend the budget, as FUSE's
    finalists are."""
    b = ctx.budget.max_params
    if b is None:
        return arch
    fitted = fit_to_budget(arch, b, ctx.data.num_classes, ctx.data.input_shape)
    if fitted is None:
        raise TanasError(f"max_params: the exported network {arch} does not fit in {b} parameters even with one cell "
                         f"and a one-channel stem; raise max_params")
    if ctx.budget.fill_budget:
        fitted = grow_to_budget(fitted, b, ctx.data.num_classes, ctx.data.input_shape)
    return fitted


def _nni_outcome(ctx: Context, space, sample: dict, seconds: float, budget: dict, extra: dict | None = None) -> Outcome:
    """An NNI strategy's exported ``sample``, scaled to the budget, retrained and tested: its :class:`Outcome`."""
    exported = architecture_from_sample(space, sample)
    arch = _within_budget(ctx, exported)
    model, result = _retrain(ctx, arch)
    return Outcome(str(arch), arch.to_dict(), count_parameters(model), result, seconds,
                   {**budget, "operations": list(space.operations), "skeleton": space.skeleton.to_dict()},
                   {"sample": sample, "exported": str(exported), **(extra or {})})


def _fuse(space: str) -> MethodFn:
    def run(ctx: Context) -> Outcome:
        def progress(event: Event) -> None:
            if not isinstance(event, Finished):  # the comparison reports the method's end itself
                ctx.progress(event)

        result = run_pipeline(ctx.search_config(space), progress=progress, data=ctx.data)
        metrics, out = result.metrics, result.out
        fit_result = {"test_acc": metrics["test_acc"], "val_acc": metrics["val_acc"],
                      "train_acc": metrics["train_acc"], "best_epoch": metrics["best_epoch"],
                      "seconds": metrics["retrain_seconds"], "history": result.history}
        ctx.space_seconds = metrics["space_seconds"]
        return Outcome(str(result.architecture), result.architecture.to_dict(), metrics["parameters"], fit_result,
                       metrics["search_seconds"],
                       {"fuse": to_dict(ctx.budget.fuse), "max_params": ctx.budget.max_params,
                        "fill_budget": ctx.budget.fill_budget,
                        "candidates": metrics["candidates"], "space": space, "retrain_top": ctx.budget.retrain_top,
                        "k": ctx.cfg.k if space == "task-aware" else None,
                        "distance": ctx.cfg.distance if space == "task-aware" else None},
                       {"export": str(out), "rounds_run": metrics["rounds_run"],
                        "strategy_winner": metrics["strategy_winner"], "finalists": metrics["finalists"]})
    return run


register_method("fuse-task-aware", _fuse("task-aware"), display="TA-NAS: FUSE, task-aware space",
                settings=_fuse_method_settings("task-aware"))
register_method("fuse-standard", _fuse("standard"), display="FUSE, standard space",
                settings=_fuse_method_settings("standard"))


# --- NNI's strategies on the cell form of the task-aware space ------------------------------------------------------
def _nni_config(ctx: Context, max_trials: int | None = None) -> NasExperimentConfig:
    config = NasExperimentConfig("sequential", "raw")
    # NNI's own records of the inner experiment stay next to the comparison, not in ~/nni-experiments.
    config.experiment_working_directory = str(ctx.workdir / "nni")
    if max_trials is not None:
        config.max_trial_number = max_trials
    return config


def _epoch_callback(ctx: Context, epochs: int) -> Callback:
    """A Lightning callback that reports each supernet epoch as search progress."""

    class EpochProgress(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 2)() == 1}
            ctx.progress(SearchEpoch("search", epoch=trainer.current_epoch + 1, epochs=epochs,
                                     train_loss=metrics.get("train_loss"), train_acc=metrics.get("train_acc")))

    return EpochProgress()


def _oneshot_evaluator(ctx: Context, epochs: int) -> Classification:
    """NNI's ``Classification`` evaluator on the target's train/val splits, with FUSE's weight optimiser and batches."""
    d, f = ctx.data, ctx.budget.fuse
    return Classification(learning_rate=f.weight_lr, weight_decay=f.weight_decay, optimizer=torch.optim.AdamW,
                          train_dataloaders=TensorBatches(d.x["train"], d.y["train"], f.batch_size, seed=ctx.cfg.seed),
                          val_dataloaders=TensorBatches(d.x["val"], d.y["val"], f.batch_size, seed=ctx.cfg.seed + 1),
                          num_classes=d.num_classes, max_epochs=epochs, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                          accelerator="gpu" if torch.cuda.is_available() else "cpu",
                          callbacks=[_epoch_callback(ctx, epochs)])


def _cell_space(ctx: Context):
    """The cell form of the task-aware space; its supernet's initial weights come from the seed alone."""
    space = ctx.task_aware_space()
    with seeded_init(ctx.cfg.seed):
        return cell_space(space, ctx.data.num_classes, ctx.data.input_shape)


def _evaluator_budget(ctx: Context, b: OneShotBudget) -> int:
    return b.epochs or ctx.budget.fuse_weight_epochs()


@register_method("darts", display="NNI DARTS", budget=OneShotBudget,
                 settings=_searched_settings("darts", supernet=True))
def _darts(ctx: Context) -> Outcome:
    epochs = _evaluator_budget(ctx, ctx.method_budget)
    space = _cell_space(ctx)
    strategy = strategies.DARTS()  # NNI's defaults (arc_learning_rate 3e-4, no warm-up); only the epochs are ours
    arc_lr = inspect.signature(strategies.DARTS.__init__).parameters["arc_learning_rate"].default
    seed_everything(ctx.cfg.seed)
    t0 = time.perf_counter()
    with nas_experiment(space, _oneshot_evaluator(ctx, epochs), strategy, _nni_config(ctx)) as exp:
        exp.run()
        sample = exp.export_top_models(formatter="dict")[0]
    seconds = time.perf_counter() - t0
    return _nni_outcome(ctx, space, sample, seconds,
                        {"epochs": epochs, "strategy": repr(strategy), "arc_learning_rate": arc_lr,
                         "weight_lr": ctx.budget.fuse.weight_lr, "batch_size": ctx.budget.fuse.batch_size})


@register_method("random", display="NNI random search", budget=RandomBudget,
                 settings=_searched_settings("random", supernet=False))
def _random(ctx: Context) -> Outcome:
    b = ctx.method_budget
    trials = b.trials or ctx.budget.fuse_pool()
    epochs = b.epochs or ctx.budget.retrain.epochs
    recipe = TrainConfig(**{**asdict(ctx.budget.retrain), "epochs": epochs})
    space = _cell_space(ctx)
    state = {"n": 0}

    # A FunctionalEvaluator, not NNI's Lightning Classification: the latter, reused across models on the sequential
    # engine, fails with KeyError 'val_acc' (docs/nni.md, "evaluators"). Each trial trains with the shared recipe for
    # `epochs` epochs and is scored on validation only.
    def trial(model):
        reinitialise(model, ctx.cfg.seed)  # NNI's engine built it: its initial weights from the seed, as retraining's
        result = fit(model, ctx.data, recipe, seed=ctx.cfg.seed, stage="random search",
                     evaluate_test=False)
        state["n"] += 1
        ctx.progress(Step("search", unit="trial", index=state["n"], total=trials, val_acc=result["val_acc"]))
        nni.report_final_result(result["val_acc"])

    t0 = time.perf_counter()
    strategy = strategies.Random(seed=ctx.cfg.seed)
    with nas_experiment(space, FunctionalEvaluator(trial), strategy, _nni_config(ctx, trials)) as exp:
        exp.run()
        sample = exp.export_top_models(top_k=1, formatter="dict")[0]
    seconds = time.perf_counter() - t0
    return _nni_outcome(ctx, space, sample, seconds,
                        {"trials": trials, "epochs_per_trial": epochs, "strategy": repr(strategy)},
                        {"trials_run": state["n"]})


def _subnet_scorer(ctx: Context, state: dict):
    """NNI FunctionalEvaluator body: a subnet with the supernet's weights, BN statistics recomputed, scored on val."""

    def score(model):
        recalibrate_bn(model, ctx.data.x["train"], ctx.budget.retrain.bn_recalibration or 1024)
        acc = evaluate(model, ctx.data.x["val"], ctx.data.y["val"])["acc"]
        state["n"] += 1
        ctx.progress(Step("search", unit="subnet", index=state["n"], total=state["total"], val_acc=acc))
        nni.report_final_result(acc)

    return score


@register_method("random-one-shot", display="NNI RandomOneShot", budget=OneShotBudget,
                 default=lambda: OneShotBudget(subnets=10),
                 settings=_searched_settings("random_one_shot", supernet=True))
def _random_one_shot(ctx: Context) -> Outcome:
    b = ctx.method_budget
    epochs = _evaluator_budget(ctx, b)
    space = _cell_space(ctx)
    seed_everything(ctx.cfg.seed)
    t0 = time.perf_counter()
    strategy = SeededRandomOneShot(seed=ctx.cfg.seed)  # NNI's RandomOneShot, its path sampling seeded
    with nas_experiment(space, _oneshot_evaluator(ctx, epochs), strategy, _nni_config(ctx)) as exp:
        exp.run()
        if not b.subnets:
            sample = exp.export_top_models(formatter="dict")[0]
    if b.subnets:
        # NNI's documented second stage: sample subnets of the trained supernet and score them (the sequential engine
        # with the raw format keeps the supernet object, so subnets inherit its weights; NNI infers the same). A
        # FunctionalEvaluator rather than Classification(max_epochs=0): NNI's Lightning evaluator reused across models
        # fails on the sequential engine (docs/nni.md, "evaluators").
        state = {"n": 0, "total": b.subnets}
        with nas_experiment(space, FunctionalEvaluator(_subnet_scorer(ctx, state)),
                            strategies.Random(seed=ctx.cfg.seed), _nni_config(ctx, b.subnets)) as stage2:
            stage2.run()
            sample = stage2.export_top_models(top_k=1, formatter="dict")[0]
    seconds = time.perf_counter() - t0
    return _nni_outcome(ctx, space, sample, seconds,
                        {"epochs": epochs, "subnets": b.subnets, "strategy": repr(strategy),
                         "weight_lr": ctx.budget.fuse.weight_lr, "batch_size": ctx.budget.fuse.batch_size})


# --- handcrafted networks -------------------------------------------------------------------------------------------
def build_handcrafted(spec: dict, data, seed: int) -> torch.nn.Module:
    """A handcrafted network as its method builds it, initialised from ``seed``. ``spec`` is a record's
    ``architecture_json``: ``{"network": name, **build options}`` (the stem's stride for the ResNets and DenseNet)."""
    options = {k: v for k, v in spec.items() if k != "network"}
    name = spec["network"]
    with seeded_init(seed):
        model = build_network(name, data.num_classes, data.input_shape, **options)
    try:  # a stem stride too large for the input fails deep inside torch; say what to change instead
        with torch.no_grad():
            model.eval()(torch.zeros(2, *data.input_shape))
    except RuntimeError as e:
        raise TanasError(f"methods.{name}.stem_stride: {options.get('stem_stride')} is too large for "
                         f"{tuple(data.input_shape)} inputs ({str(e).splitlines()[0]}); use 1 or 2") from None
    return model


def _handcrafted(name: str) -> MethodFn:
    def run(ctx: Context) -> Outcome:
        b = ctx.method_budget
        kwargs = {} if name == "cnn5" else {"stem_stride": b.stem_stride}
        model = build_handcrafted({"network": name, **kwargs}, ctx.data, ctx.cfg.seed)
        recipe = TrainConfig(**{**asdict(ctx.budget.retrain), "epochs": b.epochs or ctx.budget.retrain.epochs})

        def on_epoch(epoch: int, row: dict) -> None:
            ctx.progress(Epoch("retrain", epoch=epoch, epochs=recipe.epochs, train_loss=row.get("train_loss"),
                               val_acc=row.get("val_acc")))

        result = fit(model, ctx.data, recipe, seed=ctx.cfg.seed, stage=f"training {name}",
                     on_epoch=on_epoch, evaluate_test=True)
        label = name if name == "cnn5" else f"{name} (stem stride {b.stem_stride})"
        return Outcome(label, {"network": name, **kwargs}, count_parameters(model), result, 0.0,
                       {"epochs": recipe.epochs, **kwargs})
    return run


_HANDCRAFTED_DISPLAY = {"resnet18": "ResNet-18", "resnet34": "ResNet-34", "densenet161": "DenseNet-161",
                        "cnn5": "5-conv CNN"}

for _name in HANDCRAFTED:
    register_method(_name, _handcrafted(_name), display=_HANDCRAFTED_DISPLAY.get(_name, _name), kind="handcrafted",
                    budget=HandcraftedBudget, settings=lambda cfg, budget: {"handcrafted": to_dict(budget)})
