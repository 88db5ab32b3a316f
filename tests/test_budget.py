"""The parameter budget (``--max-params``): candidates scaled down to it, the winner within it, bad values refused."""
from __future__ import annotations

import itertools
import json

import pytest

from tanas_nni.cli import main
from tanas_nni.core.errors import TanasError
from tanas_nni.space import (Architecture, Skeleton, TaskAwareSpace, cell_space, fit_to_budget, load_space,
                             parameter_count)
from tanas_nni.space.nni_spaces import architecture_from_sample
from tests.test_search import TINY_BUDGET, error_line, tiny_space  # noqa: F401  (fixture)

ARCH = {"skeleton": {"stem": 16, "cells": 3, "reductions": [0, 2]},
        "cell": {"nodes": 3, "edges": [[0, 1, "sep_conv_3x3"], [1, 2, "dil_conv_3x3"], [0, 2, "skip_connect"]]}}


def test_scaling_keeps_the_cell_and_fits_the_budget():
    arch = Architecture.from_dict(ARCH)
    full = parameter_count(arch, 2, (1, 28, 28))
    small = fit_to_budget(arch, full // 3, 2, (1, 28, 28))
    assert small is not None and small.cell == arch.cell
    assert parameter_count(small, 2, (1, 28, 28)) <= full // 3 < full
    assert fit_to_budget(arch, full, 2, (1, 28, 28)) == arch  # a fitting one is left alone
    assert fit_to_budget(arch, 5, 2, (1, 28, 28)) is None  # a classifier alone needs more than 5


def test_scaling_shrinks_depth_and_width_together_and_fills_the_budget():
    """A deep, wide design under a quarter of its size loses cells and keeps most of its width (compound scaling),
    rather than keeping every cell at a fraction of the width; and what it keeps uses most of the budget."""
    deep = Architecture.from_dict({**ARCH, "skeleton": {"stem": 48, "cells": 6, "reductions": [2, 4]}})
    full = parameter_count(deep, 2, (1, 28, 28))
    small = fit_to_budget(deep, full // 4, 2, (1, 28, 28))
    assert small.skeleton.cells < 6 and small.skeleton.stem >= 24
    assert small.skeleton.reductions == tuple(r for r in (2, 4) if r < small.skeleton.cells)
    count = parameter_count(small, 2, (1, 28, 28))
    assert full // 8 < count <= full // 4
    wider = Architecture(Skeleton(small.skeleton.stem + 1, small.skeleton.cells, small.skeleton.reductions), deep.cell)
    assert small.skeleton.stem == 48 or parameter_count(wider, 2, (1, 28, 28)) > full // 4  # no width left unused


def test_tiny_search_winner_respects_the_budget(data_dir, tiny_space, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--max-params", "300", "-q", *TINY_BUDGET])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["max_params"] == 300 and metrics["parameters"] <= 300
    space = json.loads((out / "space.json").read_text())
    assert space["parameters"] and max(space["parameters"]) <= 300
    assert len(space["parameters"]) == len(space["candidates"])
    assert "parameters" in (out / "ranking.csv").read_text().splitlines()[0]


def test_a_cell_space_under_a_budget_exports_only_networks_within_it():
    """The cell space NNI's strategies search: its skeleton narrowed until its largest member fits, so every sample
    (every operation on every edge, the extremes included) builds a network within the budget."""
    spec = load_space()
    topo = next(c for c in spec.cells if len(c.edges) == 3)
    space = TaskAwareSpace.standard(spec)
    full = cell_space(space, 2, skeleton=Skeleton(32, 4, (1, 3)), topology=topo)
    budget = 20_000
    bounded = cell_space(space, 2, skeleton=Skeleton(32, 4, (1, 3)), topology=topo, max_params=budget)
    assert bounded.skeleton.stem < full.skeleton.stem and bounded.operations == full.operations
    labels = [f"edge_{i}_{j}" for i, j in topo.edges]
    sizes = [parameter_count(architecture_from_sample(bounded, dict(zip(labels, ops))), 2, (1, 28, 28))
             for ops in itertools.product(bounded.operations, repeat=len(labels))]
    assert max(sizes) <= budget < max(parameter_count(architecture_from_sample(full, dict(zip(labels, ops))), 2,
                                                      (1, 28, 28)) for ops in itertools.product(full.operations,
                                                                                                 repeat=len(labels)))
    with pytest.raises(TanasError, match="max_params"):
        cell_space(space, 2, skeleton=Skeleton(32, 4, (1, 3)), topology=topo, max_params=5)


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "many"])
def test_bad_max_params_is_one_line(value, data_dir, tiny_space, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--max-params", value, *TINY_BUDGET])
    assert rc == 2
    line = error_line(capsys)
    assert "max" in line and "param" in line
    assert not out.exists()


def test_bad_max_params_in_a_config_and_an_impossible_budget(data_dir, tiny_space, tmp_path, capsys):
    cfg = tmp_path / "search.yml"
    cfg.write_text("target: mnist:0-vs-rest\nmax_params: 2.5\n")
    assert main(["search", "--config", str(cfg)]) == 2
    assert "max_params" in error_line(capsys)
    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--max-params", "5", "-q", *TINY_BUDGET])
    assert rc == 2
    assert "no candidate fits in 5 parameters" in error_line(capsys)
    with pytest.raises(TanasError):
        from tanas_nni.pipeline import SearchConfig
        SearchConfig(target="mnist:0-vs-rest", max_params=True)
