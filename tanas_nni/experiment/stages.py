"""The trial stages: each runs one unit of the pipeline in-process and reports it through a :class:`Reporter`.

A stage is ``fn(reporter, args, params) -> final metrics dict`` registered with :func:`register_stage`; ``args`` are
the trial command's options (:func:`tanas_nni.experiment.trial.main`), ``params`` the unit of work NNI's tuner handed
out (a base task, a distance target, a method to compare). ``default`` in the final dict is what NNI's tuner and web UI
rank by.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from ..core.config import PATH, load_config
from ..core.errors import TanasError
from ..core.logs import quiet_libraries
from ..core.progress import Epoch, Event, Message, PhaseEnd, Step
from ..data import TaskSpec
from ..dictionary import CorruptEntryError, DictionaryStore, build_dictionary, build_entry
from ..distance import distances_to
from ..distance.base import DistanceConfig
from ..pipeline import (default_out, dictionary_architectures, load_dictionary_config, load_search_config,
                        run_pipeline)
from .compare import SearchEpoch, check_method, load_compare_config, run_method
from .reporter import Reporter

__all__ = ["STAGES", "StageFn", "register_stage", "DistanceTrialConfig"]

StageFn = Callable[[Reporter, argparse.Namespace, dict], dict]
STAGES: dict[str, StageFn] = {}


def register_stage(name: str):
    """Register ``fn(reporter, args, params) -> final metrics dict`` as trial stage ``name``."""
    def deco(fn: StageFn) -> StageFn:
        STAGES[name] = fn
        return fn
    return deco


@register_stage("dictionary")
def _dictionary_stage(reporter: Reporter, args, params: dict) -> dict:
    """Build (or reuse) the dictionary entry of one base task: parameter ``task``."""
    if "task" not in params:
        raise TanasError("the dictionary trial needs a 'task' parameter (a task id) from the search space")
    cfg = load_dictionary_config(args.config, {"dictionary": args.dictionary, "data_dir": args.data_dir})
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.register_datasets()
    task_id = str(TaskSpec.parse(params["task"]))
    store = DictionaryStore.open(cfg.dictionary, create=True)
    try:
        entry = store.get(task_id)
        reporter.log(f"{task_id}: finished already in {store.root}; reusing it")
    except CorruptEntryError as e:
        reporter.log(f"warning: {e}; rebuilding it")
        entry = None
    except TanasError:
        entry = None
    if entry is None:
        entry = build_entry(store, task_id, cfg, on_epoch=lambda ep, row: reporter.intermediate(
            {"default": row["val_acc"], "val_acc": row["val_acc"], "train_loss": row["train_loss"], "epoch": ep}))
    m = entry.metrics
    return {"default": m["test_acc"], "test_acc": m["test_acc"], "val_acc": m["val_acc"], "task": task_id,
            "seconds": m["seconds"], "data_fingerprint": entry.meta["data_fingerprint"]}


@dataclass
class DistanceTrialConfig:
    """The distance trial's config file (``configs/distance.yml``): the dictionary, the data and the distance."""

    dictionary: str = field(default="runs/dictionary", metadata=PATH)
    data_dir: Optional[str] = field(default=None, metadata=PATH)
    distance: DistanceConfig = field(default_factory=DistanceConfig)


@register_stage("distance")
def _distance_stage(reporter: Reporter, args, params: dict) -> dict:
    """Distances from every dictionary entry to one target (a column of the matrix): parameters ``target`` and
    optionally ``method``. The column is cached in the dictionary, so ``tanas distance-matrix`` gathers the trials'
    work into the matrix report at once, and a rerun reuses finished columns."""
    if "target" not in params:
        raise TanasError("the distance trial needs a 'target' parameter (a task id) from the search space")
    cfg = load_config(DistanceTrialConfig, args.config, {"dictionary": args.dictionary, "data_dir": args.data_dir})
    dist = cfg.distance
    method = params.get("method", dist.method)
    settings = dist.settings if method == dist.method else {}
    store = DictionaryStore.open(cfg.dictionary)
    rows = distances_to(str(params["target"]), store, method, cfg.data_dir, dist.seed, log=reporter.log, **settings)
    for source, d in rows:
        reporter.intermediate({"default": d, "source": source})
    nearest = next(((s, d) for s, d in rows if s != params["target"]), rows[0])
    return {"default": nearest[1], "target": str(params["target"]), "method": method, "nearest": nearest[0],
            "distances": dict(rows)}


@register_stage("pipeline")
def _pipeline_stage(reporter: Reporter, args, params: dict) -> dict:
    """The whole TA-NAS run for one target: dictionary (built if missing, with architectures), distances, task-aware
    space, FUSE, retraining. ``--config`` is a search config; parameters (``target``, ``space``, ``method``, ``k``,
    ``seed``) override it. ``--dictionary-config`` says how to build the dictionary when it is missing."""
    keys = ("target", "space", "method", "k", "seed")
    cfg = load_search_config(args.config, {**{k: params.get(k) for k in keys},
                                           "dictionary": args.dictionary, "data_dir": args.data_dir})
    if cfg.space == "task-aware":
        # Build what the dictionary lacks (both steps skip finished work, so concurrent trials only wait on a lock).
        dict_cfg = load_dictionary_config(args.dictionary_config,
                                          {"dictionary": cfg.dictionary, "data_dir": cfg.data_dir})
        with DictionaryStore.open(cfg.dictionary, create=True).lock("pipeline-build"):
            build_dictionary(dict_cfg, log=reporter.log)
            dictionary_architectures(dict_cfg, log=reporter.log)

    def on_progress(event: Event) -> None:
        if isinstance(event, Epoch) and event.val_acc is not None:
            reporter.intermediate({"default": event.val_acc, "stage": "retrain", "epoch": event.epoch})
        elif isinstance(event, PhaseEnd):
            reporter.intermediate({"default": event.max_probability, "stage": "search", "round": event.round,
                                   "phase": event.phase, **event.probabilities})
        elif isinstance(event, Message):
            reporter.log(f"{event.stage}: {event.text}")

    # Each target's export in a folder of its own, named like `tanas search`'s default, under the config's `out` (else
    # runs/search): trials of several targets never share one, and a rerun of a stopped experiment resumes from it.
    cfg.out = str(Path(cfg.out or "runs/search") / default_out(cfg).name)
    result = run_pipeline(cfg, progress=on_progress)
    metrics = result.metrics
    arch = metrics["architecture"]
    return {"default": metrics["test_error"] * 100, "test_error_pct": metrics["test_error"] * 100,
            "params_m": metrics["parameters_m"], "search_seconds": metrics["search_seconds"],
            "retrain_seconds": metrics["retrain_seconds"], "device": metrics["device"], "architecture": arch,
            "target": metrics["target"], "space": cfg.space, "out": str(result.out)}


def _search_metrics(event: Event, fuse_epochs: int) -> dict | None:
    """A search-progress event as the numbers of an intermediate result: how far the search is (0..1) and its own
    numbers; None for other events."""
    if event.stage != "search":
        return None
    if isinstance(event, PhaseEnd):  # FUSE's phase-epochs, counted over all rounds and cycles
        done, total = event.epoch, fuse_epochs
        numbers = {"epoch": event.epoch, "epochs": fuse_epochs, "max_probability": event.max_probability}
    elif isinstance(event, Epoch):  # a one-shot supernet's epochs
        done, total = event.epoch, event.epochs
        numbers = {"epoch": event.epoch, "epochs": event.epochs, "train_loss": event.train_loss,
                   "train_acc": event.train_acc if isinstance(event, SearchEpoch) else None, "val_acc": event.val_acc}
    elif isinstance(event, Step):  # random-search trials, scored subnets
        done, total = event.index, event.total
        numbers = {event.unit: event.index, f"{event.unit}s": event.total, "val_acc": event.val_acc}
    else:
        return None
    frac = done / max(total, 1)
    return {"default": frac, "stage": "search", "search_progress": frac,
            **{k: v for k, v in numbers.items() if v is not None}}


@register_stage("compare")
def _compare_stage(reporter: Reporter, args, params: dict) -> dict:
    """One method of the comparison as an NNI trial: parameter ``method`` (optional ``target``, ``force``)."""
    if "method" not in params:
        raise TanasError("the compare trial needs a 'method' parameter from the search space")
    cfg = load_compare_config(args.config, {"target": params.get("target"), "dictionary": args.dictionary,
                                            "data_dir": args.data_dir})
    method = check_method(str(params["method"]))
    fuse_epochs = cfg.active.fuse.epochs_total()

    # The web UI plots `default`: the search's progress (0..1) while searching, then validation accuracy per
    # retraining epoch.
    def progress(event: Event) -> None:
        search = _search_metrics(event, fuse_epochs)
        if search is not None:
            reporter.intermediate(search)
        elif isinstance(event, Epoch) and event.stage == "retrain":
            reporter.intermediate({"default": event.val_acc, "stage": "retrain", "epoch": event.epoch,
                                   "val_acc": event.val_acc, "train_loss": event.train_loss})
        elif isinstance(event, Message):
            reporter.log(f"[{method}] {event.text}")

    quiet_libraries(silence_stdout=False)  # the trial's stdout is its log in the web UI
    record = run_method(cfg, method, progress, force=bool(params.get("force", False)))
    final = {k: v for k, v in record.items() if isinstance(v, (int, float, str)) or v is None}
    final["budget"] = json.dumps(record["budget"], sort_keys=True)
    # `default`: test error in percent (the paper's column; lower is better).
    return {"default": record["test_error"], **final}
