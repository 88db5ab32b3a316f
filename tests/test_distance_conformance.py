"""Every registered task distance passes the conformance suite of :mod:`tanas_nni.testing.distance`.

A new distance gets small settings in ``SMALL`` so that each check takes seconds on the tiny dictionary.
"""
from __future__ import annotations

import shutil

import pytest

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import distance_names, get_distance
from tanas_nni.distance.fisher import FisherDistance
from tanas_nni.testing import distance as suite

SMALL = {
    "fisher": {"samples": 64},
    "otdd": {"samples": 64},
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


def test_zero_for_itself(method, store, data_dir):
    suite.check_zero_for_itself(method, store, data_dir)


def test_non_negative_and_finite(method, store, data_dir):
    suite.check_non_negative(method, store, data_dir, target="mnist:1-vs-rest")


def test_deterministic_under_a_seed(method, store, data_dir):
    suite.check_deterministic(method, store, data_dir)


def test_uses_only_train_and_val_of_the_target(method, store, data_dir):
    suite.check_train_and_val_only(method, store, data_dir)


def test_declared_symmetry_holds(method, store, data_dir):
    suite.check_symmetry(method, store, data_dir)


def test_registry_names_match():
    suite.check_registry()


def test_the_suite_catches_a_distance_that_reads_the_test_split(store, data_dir):
    class Peeking(FisherDistance):
        """The Fisher distance plus the mean of whatever test images the target holds: a leak the suite must see."""

        def distance(self, source, target):
            d = super().distance(source, target)
            if source.task == target.task:
                return d
            test = self._test_images(target)
            return d + (float(test.mean()) if test is not None else 0.0)

        def _test_images(self, target):
            from tanas_nni.distance import api
            data = api.load_task(target.task, data_dir, seed=0)  # reads the test split behind the API's back
            return data.x["test"]

    with pytest.raises(AssertionError, match="test split changed the distance"):
        suite.check_train_and_val_only(Peeking({"samples": 64}), store, data_dir)


def test_the_suite_catches_a_false_symmetry_claim(store, data_dir):
    class ClaimsSymmetry(FisherDistance):
        symmetric = True

    with pytest.raises(AssertionError, match="declared symmetric"):
        suite.check_symmetry(ClaimsSymmetry({"samples": 64}), store, data_dir)
