"""The parameter budget (``--max-params``): candidates scaled down to it, the winner within it, bad values refused."""
from __future__ import annotations

import json

import pytest

from tanas_nni.cli import main
from tanas_nni.core.errors import TanasError
from tanas_nni.space import Architecture, fit_to_budget, parameter_count
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
