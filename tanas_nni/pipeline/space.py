"""The task-aware space of a target, composed from the dictionary, a distance and the space construction.

:mod:`tanas_nni.space` builds a space from what it is handed (distances and architectures); this module hands it the
dictionary's: the distances from every entry to the target (:func:`tanas_nni.distance.distances_to`, cached in the
dictionary) and the architectures recorded in the nearest entries.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..core.errors import TanasError
from ..core.progress import Message, ProgressFn
from ..data import canonical_task_id
from ..dictionary import DictionaryStore
from ..distance import distances_to
from ..space import Architecture, TaskAwareSpace
from .config import SearchConfig

__all__ = ["entry_architecture", "task_aware_space", "build_space"]


def entry_architecture(store: DictionaryStore, task_id: str) -> Architecture:
    """The architecture recorded in ``task_id``'s dictionary entry (a one-line error when it has none)."""
    info = store.get(task_id).architecture
    if not info or not isinstance(info, dict) or "arch" not in info:
        raise TanasError(f"dictionary entry {task_id}: it has no architecture; run `tanas dictionary architectures "
                         f"<config.yml>` first")
    return Architecture.from_dict(info["arch"], f"dictionary entry {task_id}: architecture")


def task_aware_space(target: str, store: DictionaryStore | str | Path, method: str = "fisher", k: int = 3,
                     tau: float | None = None, data_dir: str | Path | None = None, seed: int = 0,
                     log: Callable[[str], None] | None = None, **distance_options) -> TaskAwareSpace:
    """The task-aware space of ``target``: distances from every dictionary entry, the ``k`` nearest entries'
    architectures, the construction of :class:`~tanas_nni.space.TaskAwareSpace`."""
    if not isinstance(store, DictionaryStore):
        store = DictionaryStore.open(store)
    target = canonical_task_id(target, "target")
    options = dict(distance_options)
    if log is not None:
        options["log"] = log
    pairs = distances_to(target, store, method=method, data_dir=data_dir, seed=seed, **options)
    distances = {str(t): float(d) for t, d in pairs}
    return TaskAwareSpace.from_distances(distances, lambda t: entry_architecture(store, t), k=k, tau=tau,
                                         target=target, method=method, seed=seed)


def build_space(cfg: SearchConfig, store: DictionaryStore | None = None,
                progress: ProgressFn | None = None) -> TaskAwareSpace:
    """The space a search config asks for: the task-aware space of its target, or the standard space."""
    if cfg.space == "standard":
        return TaskAwareSpace.standard(cfg.space_file, seed=cfg.seed)
    store = store or DictionaryStore.open(cfg.dictionary)
    others = [t for t in store.task_ids() if t != cfg.target]
    if not others:
        raise TanasError(f"dictionary {store.root}: no base tasks; build one with `tanas dictionary build`")
    if cfg.k > len(others):
        raise TanasError(f"k: {cfg.k} is larger than the dictionary ({len(others)} base tasks in {store.root}); "
                         f"use --k {len(others)} or fewer")
    missing = [t for t in others if not store.get(t).architecture]
    if missing:
        raise TanasError(f"dictionary {store.root}: {len(missing)} base task(s) have no architecture "
                         f"(e.g. {missing[0]}); run `tanas dictionary architectures <config.yml>` first")

    def log(text: str) -> None:
        if progress:
            progress(Message("space", text=text))

    log(f"distances ({cfg.method}) from {len(others)} base tasks to {cfg.target}")
    return task_aware_space(cfg.target, store, method=cfg.method, k=cfg.k, tau=cfg.tau, data_dir=cfg.data_dir,
                            seed=cfg.seed, log=log)
