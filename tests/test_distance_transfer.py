"""Pruning schedule and scoring of the ``transfer`` distance (pure functions, no training)."""
from __future__ import annotations

import math

import pytest

from tanas_nni.distance.transfer import TransferSettings, curve_score, pruning_densities
from tanas_nni.core.errors import TanasError


def test_geometric_schedule_removes_a_fraction_of_what_is_left():
    d = pruning_densities(TransferSettings(schedule="geometric", step=0.3, min_density=0.01))
    assert d[:3] == pytest.approx([0.7, 0.49, 0.343])
    assert min(d) >= 0.01 and d[-1] * 0.7 < 0.01


def test_linear_schedule_is_the_reference_five_percent():
    d = pruning_densities(TransferSettings(schedule="linear", step=0.05))
    assert d[0] == pytest.approx(0.95) and d[-1] == pytest.approx(0.05) and len(d) == 19


def test_score_interpolates_the_epsilon_crossing_in_log_density():
    curve = [(1.0, 0.9), (0.7, 0.89), (0.49, 0.80)]  # ε line at 0.85: crossed 4/9 of the way from 0.7 to 0.49
    exact = 100 * math.exp(math.log(0.7) + (0.04 / 0.09) * (math.log(0.49) - math.log(0.7)))
    assert curve_score(curve, TransferSettings(epsilon=0.05)) == pytest.approx(exact)
    assert curve_score(curve, TransferSettings(epsilon=0.05, interpolate=False)) == pytest.approx(70.0)
    never_crossed = [(1.0, 0.9), (0.7, 0.88)]
    assert curve_score(never_crossed, TransferSettings(epsilon=0.05)) == pytest.approx(70.0)


def test_unknown_schedule_is_a_one_line_error():
    with pytest.raises(TanasError, match="schedule"):
        TransferSettings(schedule="cosine")


def _features(n=200, d=8, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    x = {sp: torch.randn(n, d, generator=g).relu() for sp in ("train", "val")}
    y = {sp: (x[sp] @ torch.randn(d, d, generator=g)).relu() for sp in ("train", "val")}
    labels = (y["val"].sum(1) > y["val"].sum(1).median()).long()
    return x, y, labels


def test_recorded_criteria_share_the_curve_and_the_default_curve_is_unchanged():
    import torch
    from tanas_nni.distance.transfer import transfer_curve, transfer_curves
    x, y, labels = _features()
    head = torch.nn.Linear(8, 2)
    s = TransferSettings(criterion="r2", hidden=[8], epochs=2, finetune_epochs=1, epsilon=0.01)
    curves = transfer_curves(x, y, labels, head, s, seed=3, record=("probe", "r2-white"), full=True)
    assert set(curves) == {"r2", "probe", "r2-white"}
    densities = [d for d, _ in curves["r2"]]
    assert densities == [1.0, *pruning_densities(s)]  # full: down to the last density whatever ε says
    assert all([d for d, _ in c] == densities for c in curves.values())
    stopped = transfer_curve(x, y, labels, head, s, seed=3)
    assert stopped == curves["r2"][:len(stopped)]  # same network, same values, stopped at the ε crossing
    assert len(stopped) < len(densities) or stopped[-1][1] >= stopped[0][1] - s.epsilon


def test_probe_without_a_head_and_unknown_recorded_criterion_are_one_line_errors():
    from tanas_nni.distance.transfer import transfer_curves
    x, y, labels = _features()
    s = TransferSettings(hidden=[8], epochs=1)
    with pytest.raises(TanasError, match="head"):
        transfer_curves(x, y, labels, None, s, seed=0, record=("probe",))
    with pytest.raises(TanasError, match="criterion"):
        transfer_curves(x, y, labels, None, s, seed=0, record=("r3",))
