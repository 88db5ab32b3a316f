"""A dictionary that grows: a solved target (an export folder of ``tanas search``) becomes a base task.

The new entry is what every other entry is: the dictionary's representative network (trained on the target with the
recipe the other entries record in their ``settings``, so Fisher and transfer distances to it mean the same), plus the
architecture the search found and its retrained score, read from the export folder. Reading export folders is the
pipeline's (:mod:`tanas_nni.pipeline.export`), so this lives here and not in :mod:`tanas_nni.dictionary`.
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import Callable

import yaml

from ..core.errors import TanasError
from ..data import TaskSpec, canonical_task_id, load_dataset
from ..dictionary import DictionaryStore, Entry, recipe_of, train_entry
from .export import read_architecture

__all__ = ["add_to_dictionary", "read_export"]


def read_export(folder: str | Path) -> tuple[dict, dict, dict]:
    """``(architecture.json, metrics.json, config.yml)`` of an export folder; a one-line error naming what is wrong."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise TanasError(f"{folder}: not a folder; give the export folder of a `tanas search` run")
    arch, arch_meta = read_architecture(folder)
    docs = {}
    for name, parse in (("metrics.json", json.loads), ("config.yml", yaml.safe_load)):
        path = folder / name
        if not path.is_file():
            raise TanasError(f"{path}: not found; is {folder} an export folder of `tanas search`?")
        try:
            docs[name] = parse(path.read_text())
        except (ValueError, yaml.YAMLError) as e:
            raise TanasError(f"{path}: unreadable ({str(e).splitlines()[0]})") from None
        if not isinstance(docs[name], dict):
            raise TanasError(f"{path}: expected a mapping; is {folder} an export folder of `tanas search`?")
    metrics, config = docs["metrics.json"], docs["config.yml"]
    for key in ("target", "test_error", "parameters"):
        if key not in metrics:
            raise TanasError(f"{folder / 'metrics.json'}: field {key!r} is missing; rerun `tanas search` to export "
                             f"the folder again")
    arch_meta = {**arch_meta, "arch": arch.to_dict(), "key": arch.key, "str": str(arch)}
    return arch_meta, metrics, config


def add_to_dictionary(export: str | Path, dictionary: str | Path, data_dir: str | Path | None = None,
                      force: bool = False, log: Callable[[str], None] | None = None) -> Entry:
    """Store the target of ``export`` as a base task of ``dictionary``; returns the new entry.

    Everything is checked before anything is trained (an export folder, a writable dictionary with one recipe, a target
    not in it unless ``force``, data that loads), and the entry is installed with one atomic ``put``: on refusal or
    interruption the dictionary is as it was.
    """
    log = log or (lambda m: None)
    export = Path(export).expanduser().resolve()
    arch_meta, metrics, config = read_export(export)
    target = canonical_task_id(str(metrics["target"]), f"{export / 'metrics.json'}: target")
    store = DictionaryStore.open(dictionary)
    store.check_writable()
    if target in store.task_ids() and not force:
        raise TanasError(f"dictionary {store.root}: {target} is in it already; pass --force to replace its entry")
    data_dir = data_dir if data_dir is not None else config.get("data_dir")
    cfg = recipe_of(store, data_dir=None if data_dir is None else str(data_dir))
    spec = TaskSpec.parse(target)
    try:
        load_dataset(spec.dataset, cfg.data_dir, cfg.max_per_class)
    except TanasError as e:
        raise TanasError(f"{export}: target {target}: its data does not load for dictionary {store.root} ({e})") from None

    t0 = time.perf_counter()
    epochs = cfg.training.epochs
    task, meta, state = train_entry(target, cfg, on_epoch=lambda ep, row: log(
        f"{target}: epoch {ep}/{epochs} val acc {row['val_acc']:.2%}"))
    meta["architecture"] = {
        "arch": arch_meta["arch"], "key": arch_meta["key"], "str": arch_meta["str"],
        "score": {"test_error": metrics["test_error"], "test_acc": metrics.get("test_acc"),
                  "val_acc": metrics.get("val_acc"), "parameters": metrics["parameters"],
                  "search_seconds": metrics.get("search_seconds")},
        "space": metrics.get("space", config.get("space")), "strategy": metrics.get("strategy", config.get("strategy")),
        "settings": {"data_fingerprint": metrics.get("data_fingerprint"), "split_sizes": metrics.get("split_sizes")},
        "source": {"folder": str(export), "config": config, "neighbours": metrics.get("neighbours", []),
                   "added": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
    }
    entry = store.put(task, meta, state_dict=state)
    log(f"{task}: added to {store.root} (network test acc {entry.metrics['test_acc']:.2%}, architecture {arch_meta['str']}"
        f", test error {metrics['test_error']:.2%}; {time.perf_counter() - t0:.1f} s)")
    return entry
