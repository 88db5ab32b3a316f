"""Distances from the dictionary's entries to a target: target preparation, caching, the full matrix."""
from __future__ import annotations

import functools
import io
import sys
import time
from typing import Callable

import torch

from ..core.config import config_hash, from_dict
from ..data import SplitSizes, TaskData, TaskSpec, load_task
from ..dictionary import DictionaryStore, Entry
from ..core.errors import TanasError
from ..models import build_network
from ..training import TrainConfig, fit, seeded_init
from .base import DistanceTarget, TaskDistance, get_distance

__all__ = ["prepare_target", "distances_to", "distance_matrix", "check_entries"]

CACHE = "distances"
TARGET_CACHE = "distance-targets"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_entries(store: DictionaryStore) -> list[Entry]:
    """The dictionary's entries, verified; errors for an empty dictionary or entries on different input shapes."""
    entries = store.entries()
    if not entries:
        raise TanasError(f"dictionary {store.root} has no entries; build it with `tanas dictionary build <config.yml>`")
    shapes = {tuple(e.meta["input_shape"]) for e in entries}
    if len(shapes) > 1:
        by = {tuple(e.meta["input_shape"]): e.task for e in entries}
        raise TanasError(f"dictionary {store.root}: entries were trained on different input shapes "
                         f"({'; '.join(f'{t}: {list(s)}' for s, t in by.items())}); distances need one shape")
    return entries


def _train_val_only(data: TaskData) -> TaskData:
    """The task's train and validation splits; the test split is dropped so that no distance can read it."""
    keep = ("train", "val")
    return TaskData(data.spec, data.class_names, {k: data.x[k] for k in keep}, {k: data.y[k] for k in keep}, data.seed)


def _load_train_val(task: str, entry_like: Entry, data_dir) -> TaskData:
    settings = entry_like.meta.get("settings", {})
    samples = settings.get("samples", {})
    return _load_train_val_cached(task, str(data_dir) if data_dir else None, entry_like.meta.get("seed", 0),
                                  samples.get("train"), samples.get("val"), settings.get("max_per_class"))


@functools.lru_cache(maxsize=32)
def _load_train_val_cached(task, data_dir, seed, train, val, max_per_class) -> TaskData:
    # Cached: a matrix reads every source task's data once per target otherwise.
    # The test split is sampled (load_task always builds three splits) but small and dropped at once.
    data = load_task(task, data_dir, seed=seed, sizes=SplitSizes(train, val, 2), max_per_class=max_per_class)
    return _train_val_only(data)


def _target_network(store: DictionaryStore, data: TaskData, reference: Entry, log: Callable[[str], None]) -> torch.nn.Module:
    """A target outside the dictionary gets a network trained with the dictionary's own recipe (read from an entry's
    settings) on its train split, selected on its validation split; it is cached beside the distance cache."""
    settings = reference.meta.get("settings", {})
    net_cfg = reference.meta["network"]
    train_cfg = from_dict(TrainConfig, settings.get("training", {}), where=f"{reference.task} settings.training")
    seed = reference.meta.get("seed", 0)
    key = config_hash({"task": str(data.spec), "network": net_cfg, "training": settings.get("training"),
                       "samples": settings.get("samples"), "seed": seed}, 16)
    path = store.root / "cache" / TARGET_CACHE / f"{key}.pt"
    with seeded_init(seed):  # initial weights from the seed alone, as for dictionary entries
        model = build_network(net_cfg["name"], data.num_classes, data.input_shape, **net_cfg.get("kwargs", {}))
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except Exception:  # a damaged cache file is retrained, not fatal
            log(f"distance: retraining the network of {data.spec} (cached weights unreadable)")
    log(f"distance: training a network for {data.spec} (not in the dictionary; recipe of {reference.task})")
    fit(model, data, train_cfg, seed=seed, stage="distance target network", evaluate_test=False,
        on_epoch=lambda ep, row: log(f"  epoch {ep}: val acc {row['val_acc']:.3f}"))
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    store.cache_write(path, buf.getvalue())
    return model.cpu().eval()  # fit() trains on the default device; distances read every network on the CPU


def prepare_target(target: str, store: DictionaryStore, data_dir=None, seed: int = 0,
                   entries: list[Entry] | None = None, log: Callable[[str], None] = _log) -> DistanceTarget:
    """Resolve ``target`` (any task id) into its train/val data and representative network."""
    entries = entries if entries is not None else check_entries(store)
    task = str(TaskSpec.parse(target))
    own = next((e for e in entries if e.task == task), None)
    reference = own or entries[0]
    data = _load_train_val(task, reference, data_dir)
    task = str(data.spec)  # canonical class names (fashion-mnist:1-vs-rest -> trouser)
    own = own or next((e for e in entries if e.task == task), None)
    shape = list(data.input_shape)
    if shape != list(reference.meta["input_shape"]):
        raise TanasError(f"target {task}: its images have shape {shape} but the dictionary's networks were trained on "
                         f"{reference.meta['input_shape']}")
    network = own.load_network() if own is not None else _target_network(store, data, reference, log)
    return DistanceTarget(task, data, network, seed=seed, entry=own,
                          source_data=lambda e: _load_train_val(e.task, e, data_dir))


def _network_identity(entry: Entry) -> tuple[str, str, str]:
    """What a distance depends on: the task, its network's weights and its data. Not the whole entry, whose metadata
    changes when an architecture is added to it (that must not throw the distances away)."""
    return entry.task, entry.meta["files"]["weights.pt"]["sha256"], entry.meta.get("data_fingerprint", "")


def _cache_key(target: str, method: TaskDistance, seed: int, entries: list[Entry]) -> str:
    # The thread count is part of the key: torch's reductions sum in another order with another number of threads,
    # and the distances differ in their last digits (a Fisher distance of 0.04452 with 1 thread, 0.04529 with 2).
    return config_hash({"target": target, "method": method.name, "settings": method.settings_dict(), "seed": seed,
                        "entries": sorted(_network_identity(e) for e in entries),
                        "threads": torch.get_num_threads()}, 24)


def distances_to(target: str, store: DictionaryStore, method: str = "fisher", data_dir=None, seed: int = 0,
                 log: Callable[[str], None] = _log, **settings) -> list[tuple[str, float]]:
    """d(entry → target) for every dictionary entry, nearest first (ties by task id).

    Results are cached in the dictionary under the target, the method and its settings, the seed, the thread count
    and every entry's network weights and data fingerprint (a rebuilt entry invalidates them; adding an architecture
    does not), so a repeated call returns at once.

    Examples
    --------
    >>> store = DictionaryStore.open("runs/dictionary")            # doctest: +SKIP
    >>> distances_to("quickdraw:cat-vs-rest", store, "fisher")[:2]  # doctest: +SKIP
    [('fashion-mnist:trouser-vs-rest', 0.21), ('mnist:1-vs-rest', 0.24)]
    """
    dist = get_distance(method, **settings)
    entries = check_entries(store)
    task = str(TaskSpec.parse(target))
    key = _cache_key(task, dist, seed, entries)
    cached = store.cache_get(CACHE, key)
    if cached is None:
        tgt = prepare_target(target, store, data_dir, seed, entries, log)
        if tgt.task != task:  # an alias (class index) of a canonical id: cache under the canonical one too
            task = tgt.task
            key = _cache_key(task, dist, seed, entries)
            cached = store.cache_get(CACHE, key)
    if cached is None:
        start = time.perf_counter()
        values = {}
        for i, e in enumerate(entries):
            t0 = time.perf_counter()
            values[e.task] = float(dist.distance(e, tgt))
            log(f"distance[{dist.name}] {e.task} -> {task}: {values[e.task]:.4g} ({time.perf_counter() - t0:.1f}s, "
                f"{i + 1}/{len(entries)})")
        cached = {"target": task, "method": dist.name, "settings": dist.settings_dict(), "seed": seed,
                  "distances": values, "seconds": time.perf_counter() - start}
        store.cache_put(CACHE, key, cached)
    return sorted(cached["distances"].items(), key=lambda kv: (kv[1], kv[0]))


def distance_matrix(store: DictionaryStore, method: str = "fisher", data_dir=None, seed: int = 0,
                    log: Callable[[str], None] = _log, **settings) -> tuple[list[str], list[list[float]], float]:
    """The full matrix over the dictionary: ``(tasks, M, seconds)`` with ``M[i][j] = d(tasks[i] → tasks[j])``."""
    entries = check_entries(store)
    tasks = [e.task for e in entries]
    start = time.perf_counter()
    cols = {}
    for j, t in enumerate(tasks):
        log(f"distance-matrix[{method}]: target {j + 1}/{len(tasks)} {t}")
        cols[t] = dict(distances_to(t, store, method, data_dir, seed, log=lambda m: None, **settings))
    matrix = [[cols[t][s] for t in tasks] for s in tasks]
    return tasks, matrix, time.perf_counter() - start
