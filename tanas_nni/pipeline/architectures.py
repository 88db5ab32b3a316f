"""Each base task's architecture: sampled from the standard space, ranked cheaply, the best few retrained with the
dictionary's own recipe, and the best retrained one kept (selected on validation, never on test).

This is the pipeline applied to the dictionary itself, so it lives here and not in :mod:`tanas_nni.dictionary`, which
only stores what it is given. Architectures found for the default dictionary ship as package data
(``tanas_nni/resources/architectures/<name>.json``) and are used when the config matches (:func:`search_key`).
"""
from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from importlib import resources
from typing import Callable

import torch

from ..core.config import config_hash, to_dict
from ..core.errors import TanasError
from ..core.progress import ProgressFn
from ..data import SplitSizes, TaskData, load_task
from ..dictionary import DictionaryStore
from ..space import Architecture, TaskAwareSpace, build_model
from ..training import TrainConfig, count_parameters, derive_seed
from .config import ArchitectureSearchConfig, DictionaryPipelineConfig
from .search import retrain, retrain_finalists

__all__ = ["dictionary_architectures", "arch_parameters", "search_key", "shipped_architectures",
           "select_architecture"]


def arch_parameters(arch: Architecture, data: TaskData) -> int:
    """Parameters of ``arch``'s network for ``data``'s inputs and classes."""
    return count_parameters(build_model(arch, data.num_classes, data.input_shape))


def search_key(dict_cfg: DictionaryPipelineConfig) -> str:
    """Hash of every field that decides the search's result: tasks, samples, recipe, seed and the search's budget."""
    return config_hash({"tasks": list(dict_cfg.tasks), "samples": to_dict(dict_cfg.samples),
                        "training": to_dict(dict_cfg.training), "seed": dict_cfg.seed,
                        "max_per_class": dict_cfg.max_per_class,
                        "architecture_search": to_dict(dict_cfg.architecture_search)})


def shipped_architectures(key: str) -> dict | None:
    """The shipped record (``{"key", "tasks": {task: record}, ...}``) found for config hash ``key``, if any."""
    folder = resources.files("tanas_nni.resources") / "architectures"
    if not folder.is_dir():
        return None
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".json"):
            continue
        try:
            rec = json.loads(f.read_text())
        except ValueError as e:
            raise TanasError(f"{f}: not valid JSON ({e}); reinstall the package") from None
        if rec.get("key") == key:
            return rec
    return None


def select_architecture(task_id: str, dict_cfg: DictionaryPipelineConfig, network_val_acc: float,
                        log: Callable[[str], None] = lambda m: None) -> dict:
    """Sample, rank cheaply, retrain the top few with the dictionary's recipe; the best retrained one (validation)."""
    cfg: ArchitectureSearchConfig = dict_cfg.architecture_search
    seed = derive_seed(dict_cfg.seed if cfg.seed is None else cfg.seed, task_id)
    space = TaskAwareSpace.standard(cfg.space_file, seed=seed)
    small = load_task(task_id, dict_cfg.data_dir, seed=dict_cfg.seed, sizes=SplitSizes(cfg.train, cfg.val, 2),
                      max_per_class=dict_cfg.max_per_class)
    full = load_task(task_id, dict_cfg.data_dir, seed=dict_cfg.seed, sizes=dict_cfg.samples.sizes(),
                     max_per_class=dict_cfg.max_per_class)
    rank_recipe = TrainConfig(**{**to_dict(dict_cfg.training), "epochs": cfg.rank_epochs})
    tried, retrained, best = [], [], None
    t0 = time.perf_counter()
    for rnd in range(cfg.extra_rounds + 1):
        pool = space.candidates(cfg.candidates, seed=seed + rnd, exclude=[t["key"] for t in tried])
        ranked = []
        for arch in pool:
            _, r = retrain(arch, small, rank_recipe, seed=seed, evaluate_test=False, stage="architecture search")
            ranked.append((r["val_acc"], arch))
            tried.append({"key": arch.key, "str": str(arch), "rank_val_acc": r["val_acc"], "round": rnd})
            log(f"{task_id}: rank {len(tried)} {arch} val acc {r['val_acc']:.2%}")
        ranked.sort(key=lambda t: -t[0])  # stable: equal scores keep the pool's order
        top = [arch for _, arch in ranked[:cfg.retrain_top]]
        if not top:  # the space holds no architecture not tried yet: keep the best so far
            break
        # The top few trained in full and the best kept on validation: the search pipeline's finalists, untested.
        kept, _, r, rows = retrain_finalists(top, full, dict_cfg.training, seed=seed, evaluate_test=False,
                                             stage="architecture search")
        for arch, f in zip(top, rows):
            retrained.append({"key": arch.key, "str": str(arch), "val_acc": f["val_acc"],
                              "parameters": arch_parameters(arch, full), "round": rnd})
            log(f"{task_id}: retrained {arch} val acc {f['val_acc']:.2%} (network {network_val_acc:.2%})")
        if best is None or r["val_acc"] > best["val_acc"]:
            best = {"arch": kept.to_dict(), "key": kept.key, "str": str(kept), "val_acc": r["val_acc"],
                    "parameters": arch_parameters(kept, full)}
        if best["val_acc"] >= network_val_acc:
            break
    if best is None:
        raise TanasError(f"{task_id}: the standard space ({cfg.space_file or 'search_spaces/standard.yml'}) gave no "
                         f"candidate architecture; check its skeletons, cells and operations")
    return {"arch": best["arch"], "key": best["key"], "str": best["str"],
            "score": {"retrained_val_acc": best["val_acc"], "network_val_acc": network_val_acc,
                      "parameters": best["parameters"], "search_seconds": time.perf_counter() - t0,
                      "reaches_network": best["val_acc"] >= network_val_acc},
            "space": "standard", "strategy": "sample-rank-retrain",
            "settings": {**to_dict(cfg), "seed": seed, "data_fingerprint": full.fingerprint},
            "ranking": tried, "retrained": retrained}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=str(resources.files("tanas_nni"))).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def dictionary_architectures(dict_cfg: DictionaryPipelineConfig, force: bool = False,
                             log: Callable[[str], None] | None = None,
                             progress: ProgressFn | None = None) -> DictionaryStore:
    """Give every base task of a dictionary its architecture; resumable (tasks that have one are skipped).

    When the config matches a shipped record (:func:`search_key`) its architectures are installed without a search,
    unless ``force``. Each architecture is stored with ``store.update(task, architecture={...})``, with its retrained
    validation accuracy beside the dictionary network's and its provenance.
    """
    log = log or (lambda m: None)
    if dict_cfg.threads:
        torch.set_num_threads(dict_cfg.threads)
    dict_cfg.register_datasets()
    store = DictionaryStore.open(dict_cfg.dictionary)
    store.check_writable()
    task_ids = store.task_ids()
    if not task_ids:
        raise TanasError(f"dictionary {store.root}: no entries; run `tanas dictionary build` first")
    key = search_key(dict_cfg)
    shipped = None if force else shipped_architectures(key)
    start = time.perf_counter()
    for i, task_id in enumerate(task_ids, 1):
        prefix = f"[{i}/{len(task_ids)}] {task_id}"
        entry = store.get(task_id)
        if entry.architecture and not force:
            log(f"{prefix}: has an architecture already ({entry.architecture.get('strategy', '?')})")
            continue
        if shipped and task_id in shipped["tasks"]:
            store.update(task_id, architecture={**shipped["tasks"][task_id],
                                                "provenance": {**shipped["provenance"], "shipped": True}})
            log(f"{prefix}: shipped architecture (config {key}); --force searches again")
            continue
        rec = select_architecture(task_id, dict_cfg, entry.metrics.get("val_acc", float("nan")),
                                  log=lambda m, p=prefix: log(f"{p}: {m.split(': ', 1)[-1]}"))
        rec["provenance"] = {"search": rec["strategy"], "config_key": key, "seed": rec["settings"]["seed"],
                             "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "commit": _commit()}
        store.update(task_id, architecture=rec)
        s = rec["score"]
        log(f"{prefix}: {rec['str']} retrained val acc {s['retrained_val_acc']:.2%} vs network "
            f"{s['network_val_acc']:.2%} ({s['search_seconds']:.0f} s)")
    log(f"dictionary {store.root}: architectures done ({time.perf_counter() - start:.0f} s)")
    return store
