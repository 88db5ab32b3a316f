"""The task-aware space: neighbours, weights, priors, candidates, and the space in front of NNI strategies."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.core.errors import TanasError
from tanas_nni.pipeline import entry_architecture
from tanas_nni.strategy import TaskAware
from tanas_nni.space import (DEFAULT_TAU, Architecture, CellSpace, TaskAwareSpace, WholeNetworkSpace,
                             architecture_from_sample, build_model, cell_space, closeness_weights, load_space,
                             whole_network_space)

# One architecture per base task of the tiny dictionary, deliberately different in skeleton, cell and operations.
FAKE = {
    "mnist:0-vs-rest": {"skeleton": {"stem": 16, "cells": 3, "reductions": [1, 2]},
                        "cell": {"nodes": 3, "edges": [[0, 1, "sep_conv_3x3"], [1, 2, "sep_conv_3x3"],
                                                       [0, 2, "skip_connect"]]}},
    "mnist:1-vs-rest": {"skeleton": {"stem": 24, "cells": 4, "reductions": [1, 3]},
                        "cell": {"nodes": 3, "edges": [[0, 1, "dil_conv_3x3"], [1, 2, "max_pool_3x3"]]}},
    "fashion-mnist:trouser-vs-rest": {"skeleton": {"stem": 32, "cells": 2, "reductions": [0, 1]},
                                      "cell": {"nodes": 2, "edges": [[0, 1, "conv_7x1_1x7"]]}},
    "fashion-mnist:coat-vs-rest": {"skeleton": {"stem": 48, "cells": 5, "reductions": [2, 4]},
                                   "cell": {"nodes": 4, "edges": [[0, 1, "avg_pool_3x3"], [0, 2, "sep_conv_7x7"],
                                                                  [1, 3, "dil_conv_5x5"], [2, 3, "none"],
                                                                  [1, 2, "skip_connect"]]}},
}
# Distances to a target (mnist:2-vs-rest, not in the dictionary): the two MNIST tasks are nearest.
DIST = {"mnist:0-vs-rest": 30.0, "mnist:1-vs-rest": 40.0, "fashion-mnist:trouser-vs-rest": 80.0,
        "fashion-mnist:coat-vs-rest": 75.0}
TARGET = "mnist:2-vs-rest"
ARCHS = {task: Architecture.from_dict(arch) for task, arch in FAKE.items()}


def with_fake_architectures(dictionary, root) -> DictionaryStore:
    """A copy of ``dictionary`` at ``root`` with the (fake) architecture of :data:`FAKE` in every entry."""
    shutil.copytree(dictionary.root, root)
    s = DictionaryStore.open(root)
    for task, arch in FAKE.items():
        s.update(task, architecture={"arch": Architecture.from_dict(arch).to_dict(), "score": {"val_acc": 0.9},
                                     "space": "standard", "strategy": "fuse", "settings": {}})
    return s


@pytest.fixture(scope="module")
def store(tiny_dictionary, tmp_path_factory):
    return with_fake_architectures(tiny_dictionary, tmp_path_factory.mktemp("ta") / "dictionary")


def test_holds_only_what_the_k_nearest_use(store):
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET)
    near = [Architecture.from_dict(FAKE[t]) for t in ("mnist:0-vs-rest", "mnist:1-vs-rest")]
    assert [t for t, _, _ in space.neighbours] == ["mnist:0-vs-rest", "mnist:1-vs-rest"]
    assert space.base_architectures == near
    assert set(space.spec.skeletons) == {a.skeleton for a in near}
    assert set(space.spec.cells) == {a.cell.topology for a in near}
    assert set(space.spec.operations) == set().union(*(a.operations() for a in near))
    # Whatever the space generates stays inside what the neighbours use.
    for arch in space.candidates(30, seed=1):
        assert arch.skeleton in space.spec.skeletons and arch.cell.topology in space.spec.cells
        assert arch.operations() <= set(space.spec.operations)
    for arch in space.generator.sample(10):
        assert space.contains(arch)
    # The far tasks' operations are not in it.
    assert not {"conv_7x1_1x7", "avg_pool_3x3", "sep_conv_7x7", "none"} & set(space.spec.operations)


def test_weights_and_priors(store):
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET)
    sigma = float(torch.tensor(list(DIST.values())).std(unbiased=False))
    w = [math.exp(-(30 - 30) / sigma), math.exp(-(40 - 30) / sigma)]
    w = [x / sum(w) for x in w]
    assert [n[2] for n in space.neighbours] == pytest.approx(w)
    assert space.tau == DEFAULT_TAU
    for prior in (space.operation_prior, space.skeleton_prior, space.cell_prior):
        assert sum(prior.values()) == pytest.approx(1.0)
        assert all(p > 0 for p in prior.values())
    # Operation prior = w-weighted frequency of each operation in the neighbours' cells.
    assert space.operation_prior["sep_conv_3x3"] == pytest.approx(w[0] * 2 / 3)
    assert space.operation_prior["skip_connect"] == pytest.approx(w[0] * 1 / 3)
    assert space.operation_prior["dil_conv_3x3"] == pytest.approx(w[1] / 2)
    assert space.skeleton_prior[Architecture.from_dict(FAKE["mnist:1-vs-rest"]).skeleton] == pytest.approx(w[1])
    # Distances on another scale (x 1000, shifted) give the same weights: the construction normalises them.
    scaled = {t: 5 + 1000 * d for t, d in DIST.items()}
    other = TaskAwareSpace.from_distances(scaled, ARCHS, k=2, target=TARGET)
    assert [n[2] for n in other.neighbours] == pytest.approx(w)
    # Large τ -> uniform; small τ -> the nearest only (numerically).
    assert closeness_weights([1.0, 2.0], [1.0, 2.0, 3.0], tau=1e6) == pytest.approx([0.5, 0.5], abs=1e-5)
    assert closeness_weights([1.0, 2.0], [1.0, 2.0, 3.0], tau=1e-3)[0] == pytest.approx(1.0)
    assert closeness_weights([4.0, 4.0], [4.0, 4.0]) == [0.5, 0.5]
    with pytest.raises(TanasError, match="tau"):
        closeness_weights([1.0], [1.0, 2.0], tau=0)


def test_candidates_order_distinctness_and_seed(store):
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=3, target=TARGET)
    out = space.candidates_with_origin(12, seed=0)
    origins = [o for _, o in out]
    assert origins[:3] == ["base"] * 3
    assert [a for a, _ in out[:3]] == space.base_architectures  # nearest first
    assert origins[3:9] == ["recombination"] * 6  # 3 x 2 (skeleton of i, cell of j)
    assert set(origins[9:]) <= {"mutation", "sample"}
    archs = [a for a, _ in out]
    assert len({a.key for a in archs}) == 12
    # Recombinations are ordered by w_i * w_j: the first pairs the two nearest.
    b = space.base_architectures
    assert archs[3] == Architecture(b[0].skeleton, b[1].cell)
    assert space.candidates(12, seed=0) == archs
    assert space.candidates(12, seed=1)[:9] == archs[:9] and space.candidates(30, seed=1) != space.candidates(30)
    rest = space.candidates(5, seed=0, exclude=archs[:3])
    assert not {a.key for a in rest} & {a.key for a in archs[:3]}
    for arch in space.candidates(4):
        assert build_model(arch, 2)(torch.randn(2, 1, 28, 28)).shape == (2, 2)


def test_bad_inputs(store, tiny_dictionary, tmp_path):
    with pytest.raises(TanasError, match="k: 5 is larger than the dictionary") as e:
        TaskAwareSpace.from_distances(DIST, ARCHS, k=5, target=TARGET)
    assert "\n" not in str(e.value)
    # A target that is in the dictionary is not its own neighbour (so at most 3 neighbours here).
    with pytest.raises(TanasError, match="besides the target"):
        TaskAwareSpace.from_distances({**DIST, "mnist:0-vs-rest": 0.0}, ARCHS, k=4, target="mnist:0-vs-rest")
    own = TaskAwareSpace.from_distances({**DIST, "mnist:0-vs-rest": 0.0}, ARCHS, k=1, target="mnist:0-vs-rest")
    assert own.neighbours[0][0] == "mnist:1-vs-rest"
    with pytest.raises(TanasError, match="k: must be a positive integer"):
        TaskAwareSpace.from_distances(DIST, ARCHS, k=0)
    with pytest.raises(TanasError, match="finite"):
        TaskAwareSpace.from_distances({**DIST, "mnist:1-vs-rest": float("nan")}, ARCHS, k=1)
    # The original tiny dictionary has no architectures yet.
    with pytest.raises(TanasError, match="it has no architecture; run `tanas dictionary architectures"):
        TaskAwareSpace.from_distances(DIST, lambda t: entry_architecture(tiny_dictionary, t), k=1, target=TARGET)
    with pytest.raises(TanasError, match="not in dictionary"):
        TaskAwareSpace.from_distances({"mnist:9-vs-rest": 1.0}, lambda t: entry_architecture(store, t), k=1)


def test_standard_space_and_describe(store):
    std = TaskAwareSpace.standard()
    spec = load_space()
    assert std.spec == spec and std.neighbours == [] and std.base_architectures == []
    assert list(std.operation_prior.values()) == pytest.approx([1 / len(spec.operations)] * len(spec.operations))
    cands = std.candidates(8, seed=2)
    assert len({a.key for a in cands}) == 8 and cands == std.candidates(8, seed=2)
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET, method="fisher")
    info = json.loads(json.dumps(space.describe()))
    assert info["kind"] == "task-aware" and info["target"] == TARGET and info["k"] == 2
    assert [n["task"] for n in info["neighbours"]] == ["mnist:0-vs-rest", "mnist:1-vs-rest"]
    assert sum(n["weight"] for n in info["neighbours"]) == pytest.approx(1.0)
    assert sum(info["operation_prior"].values()) == pytest.approx(1.0)
    assert json.loads(json.dumps(std.describe()))["kind"] == "standard"


def test_nni_spaces_of_the_task_aware_space(store):
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET)
    cs = cell_space(space, 2)
    assert isinstance(cs, CellSpace)
    # The most probable skeleton and cell: the nearest task's.
    assert cs.skeleton == space.base_architectures[0].skeleton
    assert cs.topology == space.base_architectures[0].cell.topology
    assert all(set(c.values) <= set(space.spec.operations) for c in cs.simplify().values())
    assert cs(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    sample = {label: c.values[0] for label, c in cs.simplify().items()}
    assert space.contains(architecture_from_sample(cs, sample))
    ws = whole_network_space(space.candidates(4), 2)
    assert isinstance(ws, WholeNetworkSpace) and architecture_from_sample(ws, {"candidate": 0}) == \
        space.base_architectures[0]


def test_task_aware_wrapper_builds_the_space_and_checks_it(store):
    from nni.nas.strategy import Random
    from nni.nas.space import RawFormatModelSpace

    ta = TaskAware(Random(), TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET))
    assert ta.space_kind == "cell" and isinstance(ta.space, CellSpace) and ta.num_classes == 2
    assert ta.task_space.k == 2 and "k=2" in repr(ta)
    whole = TaskAware(Random(), TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET), space_kind="whole",
                      candidates=5)
    assert isinstance(whole.space, WholeNetworkSpace) and len(whole.space.archs) == 5
    other = RawFormatModelSpace.from_model(cell_space(TaskAwareSpace.standard(), 2))
    with pytest.raises(TanasError, match="TaskAware.space"):
        ta.initialize(other, engine=None)
