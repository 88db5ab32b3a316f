"""Running the comparison: one method (or its finished record), all of them on the same data, the records.

Each method writes one record, ``<results>/<target folder>/<method>.json`` (atomic; the folder name is
:func:`tanas_nni.data.task_folder` of the target), so a rerun skips finished methods; a record made with other settings
is refused rather than mixed in (``force`` reruns it).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ...core.config import config_hash, to_dict
from ...core.errors import TanasError
from ...core.progress import Finished, ProgressFn, tagged
from ...core.records import atomic_write_json, library_versions
from ...data import load_task, task_folder
from ...pipeline import device_description
from .config import CompareConfig
from .registry import Context, check_method, method_spec

__all__ = ["target_dir", "record_path", "settings_of", "run_method", "run_comparison", "load_records"]


def target_dir(cfg: CompareConfig) -> Path:
    return Path(cfg.results) / task_folder(cfg.target)


def record_path(cfg: CompareConfig, method: str) -> Path:
    return target_dir(cfg) / f"{method}.json"


def settings_of(cfg: CompareConfig, method: str) -> dict:
    """What a method's result depends on; a finished record is reused only if these are equal."""
    spec = method_spec(method)
    b = cfg.active
    s: dict[str, Any] = {"method": method, "target": cfg.target, "seed": cfg.seed, "samples": to_dict(b.samples),
                         "retrain": to_dict(b.retrain)}
    s.update(spec.settings_of(cfg, b.method(method)))
    return s


def run_method(cfg: CompareConfig, method: str, progress: ProgressFn | None = None, force: bool = False,
               data: Any = None) -> dict:
    """Run one method (or reuse its finished record) and return its record.

    The record is written atomically to :func:`record_path`. ``data`` (a loaded :class:`~tanas_nni.data.TaskData`)
    saves reloading the target when several methods run in one process. ``progress`` gets the method's
    :mod:`tanas_nni.core.progress` events with ``method`` set, and a :class:`~tanas_nni.core.progress.Finished` at its
    end.
    """
    spec = method_spec(method)
    progress = tagged(progress or (lambda event: None), method=method)
    path = record_path(cfg, method)
    settings = settings_of(cfg, method)
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
            progress(Finished("compare", skipped=True, out=str(path)))
            return old
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    b = cfg.active
    if data is None:
        data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed, sizes=b.samples)
    workdir = target_dir(cfg) / "work" / method
    if force:
        # FUSE resumes from the checkpoints in its work folder; a forced rerun must start from nothing.
        shutil.rmtree(workdir, ignore_errors=True)
    ctx = Context(cfg, method, data, workdir, progress)
    started = time.time()
    outcome = spec.run(ctx)
    params = outcome.parameters
    test_acc = float(outcome.fit["test_acc"])
    record = {
        "method": method, "target": str(data.spec), "seed": cfg.seed, "kind": spec.kind,
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
    progress(Finished("compare", test_error=1.0 - test_acc, parameters=params,
                      search_seconds=record["search_seconds"], retrain_seconds=record["retrain_seconds"],
                      out=str(path)))
    return record


def run_comparison(cfg: CompareConfig, methods: list[str] | None = None, progress: ProgressFn | None = None,
                   force: bool = False) -> list[dict]:
    """Run ``methods`` (default: the config's) one after another on the same data; returns their records."""
    methods = methods or cfg.methods
    for m in methods:
        check_method(m)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed, sizes=cfg.active.samples)
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
        except (ValueError, UnicodeDecodeError) as e:
            # Records are written atomically, so a damaged one was changed by hand or by a full disk: say which.
            raise TanasError(f"{path}: not a readable record ({e}); delete it (its method reruns with `tanas compare`)"
                             ) from None
        if isinstance(rec, dict) and "method" in rec:
            records.append(_checked_record(path, rec))
    return records


_RECORD_FIELDS = {"method": str, "target": str, "test_error": (int, float), "params": (int, float),
                  "search_seconds": (int, float)}


def _checked_record(path: Path, rec: dict) -> dict:
    for name, kind in _RECORD_FIELDS.items():
        value = rec.get(name)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise TanasError(f"{path}: {name}: expected {'a number' if kind != str else 'a string'}, got {value!r}; "
                             f"delete the record (its method reruns with `tanas compare`)")
    return rec
