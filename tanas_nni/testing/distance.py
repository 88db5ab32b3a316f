"""The task-distance conformance suite: what every registered :class:`~tanas_nni.distance.TaskDistance` must satisfy.

A plugin author runs it on their own distance and dictionary::

    from tanas_nni.testing import check_distance
    check_distance(MyDistance({"samples": 64}), store, data_dir)

Each check raises ``AssertionError`` with what failed. The checks: d(a, a) = 0 for every entry; distances are finite
and non-negative; the same seed gives the same value; only the target's train and validation splits are read (the
test split is poisoned and must change nothing); the declared symmetry holds (a symmetric distance is symmetric, an
asymmetric one shows it on at least one pair).
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, Sequence

import torch

from ..dictionary import DictionaryStore
from ..distance import DISTANCES, TaskDistance, api, get_distance, prepare_target

__all__ = ["check_distance", "check_zero_for_itself", "check_non_negative", "check_deterministic",
           "check_train_and_val_only", "check_symmetry", "check_registry", "poisoned_test_split"]


def _target(store: DictionaryStore, data_dir, task: str, seed: int = 0):
    return prepare_target(task, store, data_dir, seed, log=lambda m: None)


def _pairs(tasks: Sequence[str], limit: int = 4) -> list[tuple[str, str]]:
    """Up to ``limit`` (a, b) pairs of different tasks, across datasets first (where asymmetry shows most)."""
    tasks = sorted(tasks)
    dataset = {t: t.split(":")[0] for t in tasks}
    pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    pairs.sort(key=lambda ab: dataset[ab[0]] == dataset[ab[1]])  # stable: cross-dataset pairs first
    return pairs[:limit]


def check_zero_for_itself(distance: TaskDistance, store: DictionaryStore, data_dir=None) -> None:
    for e in store.entries():
        d = distance.distance(e, _target(store, data_dir, e.task))
        assert d == 0.0, f"{distance.name}: d({e.task} -> itself) = {d}, expected 0"


def check_non_negative(distance: TaskDistance, store: DictionaryStore, data_dir=None, target: str | None = None) -> None:
    target = target or store.task_ids()[-1]
    tgt = _target(store, data_dir, target)
    for e in store.entries():
        d = distance.distance(e, tgt)
        assert d >= 0 and math.isfinite(d), f"{distance.name}: d({e.task} -> {target}) = {d}"


def check_deterministic(distance: TaskDistance, store: DictionaryStore, data_dir=None, seed: int = 3) -> None:
    a_task, b_task = _pairs(store.task_ids())[0]
    src = store.get(a_task)
    first = distance.distance(src, _target(store, data_dir, b_task, seed=seed))
    again = distance.distance(src, _target(store, data_dir, b_task, seed=seed))
    assert first == again, f"{distance.name}: the same seed gave {first} and {again}"


@contextlib.contextmanager
def poisoned_test_split() -> Iterator[None]:
    """While active, every task the distances load has a test split of NaN images with flipped labels."""
    real = api.load_task

    def poisoned(*args, **kwargs):
        data = real(*args, **kwargs)
        data.x["test"] = torch.full_like(data.x["test"], float("nan"))
        data.y["test"] = 1 - data.y["test"]
        return data

    api._load_train_val_cached.cache_clear()  # the next targets read their data through the poisoned loader
    api.load_task = poisoned
    try:
        yield
    finally:
        api.load_task = real
        api._load_train_val_cached.cache_clear()


def check_train_and_val_only(distance: TaskDistance, store: DictionaryStore, data_dir=None) -> None:
    a_task, b_task = _pairs(store.task_ids())[0]
    src = store.get(a_task)
    clean = distance.distance(src, _target(store, data_dir, b_task))
    with poisoned_test_split():
        target = _target(store, data_dir, b_task)
        assert "test" not in target.data.x and "test" not in target.data.y, "the target kept its test split"
        poisoned = distance.distance(src, target)
    assert poisoned == clean, f"{distance.name}: the target's test split changed the distance ({clean} -> {poisoned})"


def check_symmetry(distance: TaskDistance, store: DictionaryStore, data_dir=None) -> None:
    gaps = []
    for a, b in _pairs(store.task_ids()):
        ab = distance.distance(store.get(a), _target(store, data_dir, b))
        ba = distance.distance(store.get(b), _target(store, data_dir, a))
        gaps.append(abs(ab - ba))
    if type(distance).symmetric:
        assert max(gaps) <= 1e-9, f"{distance.name} is declared symmetric but d(a,b) - d(b,a) = {max(gaps)}"
    else:
        assert max(gaps) > 0, f"{distance.name} is declared asymmetric but every pair tried was symmetric"


def check_registry() -> None:
    for name, cls in DISTANCES.items():
        assert cls.name == name and get_distance(name).name == name, f"distance {name}: registered as {cls.name}"


def check_distance(distance: TaskDistance, store: DictionaryStore, data_dir=None) -> None:
    """Every check of the suite on ``distance`` over ``store`` (at least two entries, ideally of two datasets)."""
    assert len(store.task_ids()) >= 2, "the conformance suite needs a dictionary of at least two entries"
    check_zero_for_itself(distance, store, data_dir)
    check_non_negative(distance, store, data_dir)
    check_deterministic(distance, store, data_dir)
    check_train_and_val_only(distance, store, data_dir)
    check_symmetry(distance, store, data_dir)
