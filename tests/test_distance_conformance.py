"""Conformance suite: every registered task distance must pass these (parametrised over the registry).

A new distance gets small settings in ``SMALL`` so that each test takes seconds on the tiny dictionary.
"""
from __future__ import annotations

import math
import shutil

import pytest
import torch

import tanas_nni.distance.api as api
from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import DISTANCES, distance_names, get_distance, prepare_target

SMALL = {
    "fisher": {"samples": 64},
    "transfer": {"hidden": [16], "epochs": 3, "finetune_epochs": 1, "step": 0.1},
}


@pytest.fixture(scope="module")
def store(tiny_dictionary, tmp_path_factory):
    root = tmp_path_factory.mktemp("conf") / "dictionary"
    shutil.copytree(tiny_dictionary.root, root)
    return DictionaryStore.open(root)


@pytest.fixture(params=distance_names())
def method(request):
    return get_distance(request.param, **SMALL.get(request.param, {}))


def _target(store, data_dir, task, seed=0):
    return prepare_target(task, store, data_dir, seed, log=lambda m: None)


def test_zero_for_itself(method, store, data_dir):
    for e in store.entries():
        assert method.distance(e, _target(store, data_dir, e.task)) == 0.0


def test_non_negative_and_finite(method, store, data_dir):
    target = _target(store, data_dir, "mnist:1-vs-rest")
    for e in store.entries():
        d = method.distance(e, target)
        assert d >= 0 and math.isfinite(d), (e.task, d)


def test_deterministic_under_a_seed(method, store, data_dir):
    src = store.get("fashion-mnist:coat-vs-rest")
    a = method.distance(src, _target(store, data_dir, "mnist:0-vs-rest", seed=3))
    b = method.distance(src, _target(store, data_dir, "mnist:0-vs-rest", seed=3))
    assert a == b


def test_uses_only_train_and_val_of_the_target(method, store, data_dir, monkeypatch):
    src = store.get("mnist:1-vs-rest")
    clean = method.distance(src, _target(store, data_dir, "fashion-mnist:trouser-vs-rest"))
    real = api.load_task

    def poisoned(*args, **kwargs):
        data = real(*args, **kwargs)
        data.x["test"] = torch.full_like(data.x["test"], float("nan"))
        data.y["test"] = 1 - data.y["test"]
        return data
    monkeypatch.setattr(api, "load_task", poisoned)
    api._load_train_val_cached.cache_clear()  # make the next target read its data through the poisoned loader
    target = _target(store, data_dir, "fashion-mnist:trouser-vs-rest")
    assert "test" not in target.data.x and "test" not in target.data.y
    assert method.distance(src, target) == clean
    api._load_train_val_cached.cache_clear()


def test_declared_symmetry_holds(method, store, data_dir):
    pairs = [("mnist:0-vs-rest", "fashion-mnist:coat-vs-rest"), ("mnist:1-vs-rest", "fashion-mnist:trouser-vs-rest")]
    gaps = []
    for a, b in pairs:
        ab = method.distance(store.get(a), _target(store, data_dir, b))
        ba = method.distance(store.get(b), _target(store, data_dir, a))
        gaps.append(abs(ab - ba))
    if type(method).symmetric:
        assert max(gaps) == pytest.approx(0.0, abs=1e-9)
    else:  # an asymmetric distance must show it on at least one pair
        assert max(gaps) > 0


def test_registry_names_match():
    for name, cls in DISTANCES.items():
        assert cls.name == name and get_distance(name).name == name
