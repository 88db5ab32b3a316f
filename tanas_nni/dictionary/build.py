"""Building the dictionary: one trained ε-representative network per base task.

The same :func:`build_entry` serves the ``tanas dictionary build`` command (all tasks in one process) and the nnictl
experiment ``experiments/dictionary.yml`` (one NNI trial per task), so both produce the same directory.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..core.config import PATH, check_range, check_seed, config_hash, to_dict
from ..data import SplitSizes, TaskSpec, canonical_task_id, load_dataset, load_task, register_dataset
from ..core.errors import TanasError
from ..models import NETWORKS, build_network
from ..training import TrainConfig, default_device, fit, seeded_init
from ..core.records import library_versions
from .store import CorruptEntryError, DictionaryStore, Entry

__all__ = ["DictionaryConfig", "build_dictionary", "build_entry", "train_entry", "recipe_of", "DEFAULT_TASKS"]

# The paper's 10 base tasks: MNIST digits 0-4 and Fashion-MNIST classes 0-4, each one-vs-rest.
DEFAULT_TASKS = [f"mnist:{d}-vs-rest" for d in range(5)] + [
    f"fashion-mnist:{c}-vs-rest" for c in ("t-shirt", "trouser", "pullover", "dress", "coat")]


@dataclass
class NetworkConfig:
    name: str = "tasknet"
    width: int = 32
    features: int = 128

    def __post_init__(self):
        if self.name not in NETWORKS:
            raise TanasError(f"name: unknown network {self.name!r} (known: {', '.join(sorted(NETWORKS))})")
        check_range("width", self.width, 1)
        check_range("features", self.features, 1)

    def kwargs(self) -> dict:
        return {"width": self.width, "features": self.features}


@dataclass
class UserDatasetConfig:
    """A user's own images, usable in task ids by the key they are registered under."""

    kind: str
    path: str = field(metadata=PATH)


@dataclass
class DictionaryConfig:
    """What a dictionary holds and how its networks are trained (``configs/dictionary.yml``)."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    dictionary: str = field(default="runs/dictionary", metadata=PATH)
    data_dir: str | None = field(default=None, metadata=PATH)
    seed: int = 0
    samples: SplitSizes = field(default_factory=lambda: SplitSizes(4000, 1000, 2000))
    max_per_class: int | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3))
    datasets: dict[str, UserDatasetConfig] = field(default_factory=dict)
    threads: int | None = None

    def __post_init__(self):
        if not self.tasks:
            raise TanasError("tasks: the list of base tasks is empty")
        self.tasks = [canonical_task_id(t, f"tasks[{i}]") for i, t in enumerate(self.tasks)]
        dup = {t for t in self.tasks if self.tasks.count(t) > 1}
        if dup:
            raise TanasError(f"tasks: {sorted(dup)[0]} is listed twice")
        check_range("max_per_class", self.max_per_class, 1)
        check_seed("seed", self.seed)
        check_range("threads", self.threads, 1)

    def register_datasets(self) -> None:
        for name, ds in self.datasets.items():
            register_dataset(name, ds.kind, ds.path)

    def entry_settings(self) -> dict:
        """Everything that decides an entry's content; an entry built with other settings is rebuilt on request."""
        return {"seed": self.seed, "samples": to_dict(self.samples), "max_per_class": self.max_per_class,
                "network": to_dict(self.network), "training": to_dict(self.training)}


def train_entry(task_id: str, cfg: DictionaryConfig,
                on_epoch: Callable[[int, dict], None] | None = None) -> tuple[str, dict, dict]:
    """Train one task's representative network: ``(canonical task id, entry metadata, state dict)``, nothing stored."""
    data = load_task(task_id, cfg.data_dir, seed=cfg.seed, sizes=cfg.samples.sizes(), max_per_class=cfg.max_per_class)
    with seeded_init(cfg.seed):  # the initial weights depend on the seed alone, not on what ran before in the process
        model = build_network(cfg.network.name, data.num_classes, data.input_shape, **cfg.network.kwargs())
    result = fit(model, data, cfg.training, seed=cfg.seed, stage="dictionary build",
                 on_epoch=on_epoch)
    meta = {
        "task_spec": data.spec.to_dict(),
        "class_names": list(data.class_names),
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "network": {"name": cfg.network.name, "kwargs": cfg.network.kwargs()},
        "metrics": {k: result[k] for k in ("train_acc", "val_acc", "test_acc", "best_epoch", "seconds")},
        "history": result["history"],
        "seed": cfg.seed,
        "settings": cfg.entry_settings(),
        "settings_hash": config_hash(cfg.entry_settings()),
        "split_sizes": data.sizes(),
        "data_fingerprint": data.fingerprint,
        "versions": library_versions(),
        "device": default_device(),
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return str(data.spec), meta, state


def build_entry(store: DictionaryStore, task_id: str, cfg: DictionaryConfig,
                on_epoch: Callable[[int, dict], None] | None = None) -> Entry:
    """Train and install the entry for one task (overwriting what is there)."""
    task, meta, state = train_entry(task_id, cfg, on_epoch)
    return store.put(task, meta, state_dict=state)


def recipe_of(store: DictionaryStore, data_dir: str | None = None) -> DictionaryConfig:
    """The recipe a dictionary's entries were built with, read from their ``settings`` (no config file needed).

    A dictionary whose entries disagree (built with several configs) has no one recipe: refused."""
    from ..core.config import from_dict

    entries = store.entries()
    if not entries:
        raise TanasError(f"dictionary {store.root}: no entries to read its recipe from; build it with "
                         f"`tanas dictionary build <config.yml>`")
    hashes = {e.meta.get("settings_hash") for e in entries}
    if len(hashes) != 1 or None in hashes or "settings" not in entries[0].meta:
        raise TanasError(f"dictionary {store.root}: its entries were built with different settings (or none recorded); "
                         f"rebuild it with one config (`tanas dictionary build <config.yml> --force`)")
    s = entries[0].meta["settings"]
    where = f"dictionary entry {entries[0].task}: settings"
    return DictionaryConfig(tasks=[entries[0].task], dictionary=str(store.root), data_dir=data_dir, seed=s["seed"],
                            samples=from_dict(SplitSizes, s["samples"], f"{where}.samples"),
                            max_per_class=s.get("max_per_class"),
                            network=from_dict(NetworkConfig, s["network"], f"{where}.network"),
                            training=from_dict(TrainConfig, s["training"], f"{where}.training"))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_dictionary(cfg: DictionaryConfig, force: bool = False, log: Callable[[str], None] = _log) -> DictionaryStore:
    """Build every task of ``cfg`` that the dictionary lacks; resumable (finished entries are skipped).

    A corrupt entry is rebuilt with a warning; an entry built with other settings is kept (with a note) unless ``force``.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.register_datasets()
    # Resolve every task id (and its data) before training anything, so a typo fails in a second, not after an hour.
    task_ids = []
    for t in cfg.tasks:
        spec = TaskSpec.parse(t)
        pools = load_dataset(spec.dataset, cfg.data_dir, cfg.max_per_class)
        task_ids.append(str(spec.canonical(pools)))
    store = DictionaryStore.open(cfg.dictionary, create=True)
    store.check_writable()
    removed = store.clean_tmp()
    if removed:
        log(f"removed {removed} unfinished write(s) left by an interrupted run")
    want = config_hash(cfg.entry_settings())
    start = time.perf_counter()
    for i, task_id in enumerate(task_ids, 1):
        prefix = f"[{i}/{len(task_ids)}] {task_id}"
        try:
            entry = store.get(task_id)
            if not force:
                note = "" if entry.meta.get("settings_hash") == want else " (built with other settings; --force rebuilds)"
                log(f"{prefix}: done already, test acc {entry.metrics['test_acc']:.2%}{note}")
                continue
        except CorruptEntryError as e:
            log(f"warning: {e}; rebuilding it")
        except TanasError:
            pass
        t0 = time.perf_counter()
        entry = build_entry(store, task_id, cfg,
                            on_epoch=lambda ep, row, p=prefix: log(f"{p}: epoch {ep}/{cfg.training.epochs} "
                                                                  f"val acc {row['val_acc']:.2%}"))
        log(f"{prefix}: test acc {entry.metrics['test_acc']:.2%} ({time.perf_counter() - t0:.1f} s)")
    log(f"dictionary {store.root}: {len(store.task_ids())} entries ({time.perf_counter() - start:.0f} s)")
    return store
