"""benchmarks/warm_start.py: what a scaled network inherits from a base network's weights."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tanas_nni.space import Architecture, build_model, fit_to_budget

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "tanas_nni" / "resources" / "architectures" / "default.json"


@pytest.fixture(scope="module")
def warm():
    spec = importlib.util.spec_from_file_location("tanas_warm_start", REPO / "benchmarks" / "warm_start.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_network_scaled_to_a_budget_inherits_the_leading_slice_of_each_tensor_it_shares(warm):
    # coat-vs-rest's shipped architecture: 0.72 M parameters, four cells, scaled to two under the budget
    arch = Architecture.from_dict(json.loads(SHIPPED.read_text())["tasks"]["fashion-mnist:coat-vs-rest"]["arch"])
    base = build_model(arch, 2)
    scaled = fit_to_budget(arch, 139_426, 2, (1, 28, 28))
    assert scaled.skeleton.cells < arch.skeleton.cells  # the budget drops cells: their tensors have no counterpart
    model = build_model(scaled, 2)
    state = base.state_dict()
    copied, total = warm.inherit(model, state)
    assert 0 < copied == total  # the kept cells' names and the head exist in the base, each at least as large
    got = model.state_dict()
    for name, t in got.items():
        assert torch.equal(t, state[name][tuple(slice(0, n) for n in t.shape)]), name
    fresh = build_model(scaled, 2)
    before = fresh.state_dict()["classifier.weight"].clone()
    copied_head, _ = warm.inherit(fresh, state, skip=("classifier.",))
    assert copied_head == copied - 2  # the classifier's weight and bias stay as initialised
    assert torch.equal(fresh.state_dict()["classifier.weight"], before)


def test_a_mode_that_does_not_exist_is_refused_before_anything_trains(warm):
    with pytest.raises(SystemExit, match="--modes: lukewarm not one of scratch, warm"):
        warm.main(["--data-dir", "x", "--bases", "mnist:0-vs-rest", "--targets", "quickdraw:cat-vs-rest",
                   "--modes", "scratch,lukewarm"])
