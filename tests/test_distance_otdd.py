"""The ``otdd`` distance's pieces against closed forms: the Bures (Gaussian W2) cost and the exact class transport."""
from __future__ import annotations

import numpy as np
import pytest

from tanas_nni.core.errors import TanasError
from tanas_nni.distance import get_distance
from tanas_nni.distance.otdd import class_transport, gaussian_w2


def test_identical_gaussians_are_at_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    cov = a @ a.T + 0.1 * np.eye(6)
    mean = rng.normal(size=6)
    assert gaussian_w2(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-9)


def test_diagonal_covariances_match_the_closed_form():
    # Commuting (diagonal) covariances: W2² = ||m1 - m2||² + Σ (√a - √b)².
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.0])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([3.0, -1.0, 2.0])
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert gaussian_w2(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def test_a_rotated_pair_matches_the_closed_form_and_is_symmetric():
    # Rotating both Gaussians by the same orthogonal matrix changes nothing; the cost itself is symmetric.
    a, b = np.array([2.0, 0.5]), np.array([0.5, 3.0])
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(2, 2)))[0]
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert gaussian_w2(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected, rel=1e-9)
    assert gaussian_w2(np.zeros(2), s2, np.zeros(2), s1) == pytest.approx(expected, rel=1e-9)


def test_the_transport_picks_the_cheaper_matching():
    cost = np.array([[5.0, 1.0], [2.0, 7.0]])  # crossing (1 + 2) beats the diagonal (5 + 7)
    value, plan = class_transport([0.5, 0.5], [0.5, 0.5], cost)
    assert value == pytest.approx(1.5)
    assert plan == pytest.approx(np.array([[0.0, 0.5], [0.5, 0.0]]), abs=1e-9)


def test_the_transport_respects_unequal_priors():
    # The source's mass 0.8 on class 0 cannot all go to the cheap target class 1 (weight 0.3).
    cost = np.array([[4.0, 0.0], [0.0, 4.0]])
    value, plan = class_transport([0.8, 0.2], [0.7, 0.3], cost)
    assert plan.sum(1) == pytest.approx([0.8, 0.2]) and plan.sum(0) == pytest.approx([0.7, 0.3])
    assert value == pytest.approx(4.0 * 0.5)  # 0.5 of class 0 must go to target class 0


def test_pixel_features_on_the_tiny_dictionary(tiny_dictionary, data_dir):
    # 784-d pixels with fewer examples per class than dimensions: the ridge keeps the square roots finite.
    from tanas_nni.distance import prepare_target

    target = prepare_target("mnist:0-vs-rest", tiny_dictionary, data_dir, 0, log=lambda m: None)
    pixels, learned = get_distance("otdd", features="pixels", samples=32), get_distance("otdd", samples=32)
    d = {e.task: pixels.distance(e, target) for e in tiny_dictionary.entries()}
    assert d["mnist:0-vs-rest"] == 0.0
    assert all(np.isfinite(v) and v > 0 for t, v in d.items() if t != "mnist:0-vs-rest")
    other = tiny_dictionary.get("mnist:1-vs-rest")
    assert learned.distance(other, target) != d["mnist:1-vs-rest"]


def test_bad_settings_are_one_line_errors():
    with pytest.raises(TanasError, match="samples: must be >= 2"):
        get_distance("otdd", samples=1)
    with pytest.raises(TanasError, match="ridge: must be >= 0"):
        get_distance("otdd", ridge=-1.0)
    with pytest.raises(TanasError):
        get_distance("otdd", features="logits")
