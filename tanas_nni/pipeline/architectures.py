"""Each base task's architecture: the search (:func:`tanas_nni.pipeline.search`) run once per dictionary entry.

This is the pipeline applied to the dictionary itself, so it lives here and not in :mod:`tanas_nni.dictionary`, which
only stores what it is given.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

import torch

from ..core.config import to_dict
from ..core.errors import TanasError
from ..core.progress import ProgressFn, tagged
from ..data import SplitSizes, TaskData, load_task, task_folder
from ..dictionary import DictionaryStore
from ..space import Architecture, TaskAwareSpace, build_model
from ..training import count_parameters, derive_seed
from .config import ArchitectureSearchConfig, DictionaryPipelineConfig
from .search import search

__all__ = ["dictionary_architectures", "arch_parameters"]


def arch_parameters(arch: Architecture, data: TaskData) -> int:
    """Parameters of ``arch``'s network for ``data``'s inputs and classes."""
    return count_parameters(build_model(arch, data.num_classes, data.input_shape))


def dictionary_architectures(dict_cfg: DictionaryPipelineConfig, force: bool = False,
                             log: Callable[[str], None] | None = None,
                             progress: ProgressFn | None = None) -> DictionaryStore:
    """Give every base task of a dictionary the architecture FUSE finds for it on the standard space; resumable.

    Tasks whose entry has an architecture already are skipped (unless ``force``). Each winner is stored with
    ``store.update(task, architecture={"arch", "score", "space": "standard", "strategy": "fuse", "settings"})``.
    FUSE's checkpoints live in ``<dictionary>/cache/architecture-search/<task>/`` while a task runs, so an interrupted
    task resumes where it stopped.
    """
    log = log or (lambda m: None)
    cfg: ArchitectureSearchConfig = dict_cfg.architecture_search
    seed = dict_cfg.seed if cfg.seed is None else cfg.seed
    if dict_cfg.threads:
        torch.set_num_threads(dict_cfg.threads)
    dict_cfg.register_datasets()
    store = DictionaryStore.open(dict_cfg.dictionary)
    store.check_writable()
    space = TaskAwareSpace.standard(cfg.space_file, seed=seed)
    task_ids = store.task_ids()
    if not task_ids:
        raise TanasError(f"dictionary {store.root}: no entries; run `tanas dictionary build` first")
    settings = {"train": cfg.train, "val": cfg.val, "seed": seed, "fuse": to_dict(cfg.fuse),
                "space_file": cfg.space_file or "search_spaces/standard.yml"}
    start = time.perf_counter()
    for i, task_id in enumerate(task_ids, 1):
        prefix = f"[{i}/{len(task_ids)}] {task_id}"
        entry = store.get(task_id)
        if entry.architecture and not force:
            log(f"{prefix}: has an architecture already ({entry.architecture.get('strategy', '?')})")
            continue
        t0 = time.perf_counter()
        data = load_task(task_id, dict_cfg.data_dir, seed=seed, sizes=SplitSizes(cfg.train, cfg.val, 2),
                         max_per_class=dict_cfg.max_per_class)
        workdir = Path(store.root) / "cache" / "architecture-search" / task_folder(task_id)
        # Each task draws its own candidate pool (and initial weights): one shared pool would give every base task one
        # of the same few architectures and leave task-aware spaces nothing to choose from.
        result = search(data, space, cfg.fuse, seed=derive_seed(seed, task_id), workdir=workdir,
                        progress=tagged(progress, task=task_id))
        seconds = time.perf_counter() - t0
        arch = result.winner
        store.update(task_id, architecture={
            "arch": arch.to_dict(), "key": arch.key, "str": str(arch),
            "score": {"alpha": result.winner_probability, "search_val_acc": result.winner_val_acc,
                      "parameters": arch_parameters(arch, data), "search_seconds": seconds},
            "space": "standard", "strategy": "fuse",
            "settings": {**settings, "data_fingerprint": data.fingerprint},
            "ranking": [{k: r[k] for k in ("key", "architecture", "probability", "round")} for r in result.ranking],
        })
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"{prefix}: {arch} (α {result.winner_probability:.2f}, search val acc {result.winner_val_acc:.2%}, "
            f"{seconds:.0f} s)")
    log(f"dictionary {store.root}: architectures done ({time.perf_counter() - start:.0f} s)")
    return store
