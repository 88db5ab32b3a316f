"""The parameter budget (``--max-params``): candidates scaled down to it, the winner within it, bad values refused."""
from __future__ import annotations

import itertools
import json

import pytest

from tanas_nni.cli import main
from tanas_nni.core.errors import TanasError
from tanas_nni.space import (Architecture, Skeleton, TaskAwareSpace, cell_space, fit_to_budget,
                             grow_to_budget, load_space, parameter_count)
from tanas_nni.space.budget import MAX_GROWTH_PHI
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


def test_growing_spends_the_budget_with_depth_and_width_together():
    """A small design grown to a budget keeps its cell, gains cells and channels (compound scaling), keeps its
    reductions at the same relative depth, ends within the budget with no channel left that would still fit, and a
    design already over the budget is not grown."""
    small = Architecture.from_dict({**ARCH, "skeleton": {"stem": 16, "cells": 3, "reductions": [1, 2]}})
    before = parameter_count(small, 2, (1, 28, 28))
    budget = 3 * before  # under what φ = MAX_GROWTH_PHI reaches (about 4.4×), so the budget, not the bound, stops it
    grown = grow_to_budget(small, budget, 2, (1, 28, 28))
    assert grown.cell == small.cell
    assert grown.skeleton.cells > 3 and grown.skeleton.stem > 16
    assert len(grown.skeleton.reductions) == 2
    r1, r2 = grown.skeleton.reductions
    assert r1 < r2 < grown.skeleton.cells and r1 >= 1  # spread over the new depth, not left at the first cells
    count = parameter_count(grown, 2, (1, 28, 28))
    assert budget // 2 < count <= budget
    wider = Architecture(Skeleton(grown.skeleton.stem + 1, grown.skeleton.cells, grown.skeleton.reductions), small.cell)
    assert parameter_count(wider, 2, (1, 28, 28)) > budget
    assert grow_to_budget(small, before, 2, (1, 28, 28)) == small  # nothing to spend: left alone
    assert grow_to_budget(small, before - 1, 2, (1, 28, 28)) is None  # over it: shrinking is fit_to_budget's


def test_growing_is_bounded_for_a_cell_with_few_parameters():
    """A pooling cell has almost no parameters to scale: it grows to the bound (depth ×1.2^φ, width ×1.1^φ at
    φ = MAX_GROWTH_PHI) and no further, however large the budget."""
    pool = Architecture.from_dict({"skeleton": {"stem": 16, "cells": 2, "reductions": [0, 1]},
                                   "cell": {"nodes": 2, "edges": [[0, 1, "max_pool_3x3"]]}})
    grown = grow_to_budget(pool, 10_000_000, 2, (1, 28, 28))
    assert grown.skeleton.cells == round(2 * 1.2 ** MAX_GROWTH_PHI)
    assert grown.skeleton.stem == round(16 * 1.1 ** MAX_GROWTH_PHI)
    assert grown.skeleton.reductions == (0, 2)


def test_fill_budget_retrains_the_finalists_grown(data_dir, tiny_space, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--max-params", "20000", "--fill-budget",
               "--retrain-top", "2", "-q", *TINY_BUDGET])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["fill_budget"] is True and metrics["parameters"] <= 20000
    space = json.loads((out / "space.json").read_text())
    names = [str(Architecture.from_dict(c)) for c in space["candidates"]]
    assert len(metrics["finalists"]) == 2
    for row in metrics["finalists"]:
        i = names.index(row["searched"])
        grown = grow_to_budget(Architecture.from_dict(space["candidates"][i]), 20000, 2, (1, 28, 28))
        assert row["architecture"] == str(grown)
        assert parameter_count(grown, 2, (1, 28, 28)) > space["parameters"][i]  # the tiny space's are far smaller
        if row["kept"]:
            assert metrics["architecture"] == str(grown)
            assert metrics["parameters"] == parameter_count(grown, 2, (1, 28, 28))
    assert "fill_budget: true" in (out / "config.yml").read_text()
    kept = next(r for r in metrics["finalists"] if r["kept"])
    from tanas_nni.cli.search import summary
    assert f"searched as  {kept['searched']}" in summary(metrics, out)


def test_finalists_that_grow_into_one_network_are_trained_once(data_dir):
    from tanas_nni.data import load_task
    from tanas_nni.data.tasks import SplitSizes
    from tanas_nni.pipeline.search import grown_finalists

    data = load_task("mnist:0-vs-rest", str(data_dir), sizes=SplitSizes(train=8, val=4, test=4))
    small = Architecture.from_dict(ARCH)
    other = Architecture.from_dict({**ARCH, "cell": {"nodes": 2, "edges": [[0, 1, "sep_conv_5x5"]]}})
    pairs = grown_finalists([small, other, small], 100_000, data)
    assert [len(group) for _, group in pairs] == [2, 1]
    assert pairs[0][0] == grow_to_budget(small, 100_000, 2, (1, 28, 28)) and pairs[0][1] == [small, small]


def test_fill_budget_without_a_budget_is_one_line(data_dir, tiny_space, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--fill-budget", *TINY_BUDGET])
    assert rc == 2
    line = error_line(capsys)
    assert "fill_budget" in line
    assert "max_params" in line and not out.exists()
    cfg = tmp_path / "search.yml"
    cfg.write_text("target: mnist:0-vs-rest\nmax_params: 20000\nfill_budget: maybe\n")
    assert main(["search", "--config", str(cfg)]) == 2
    assert "fill_budget" in error_line(capsys)


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
