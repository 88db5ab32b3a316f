"""The shipped spaces and the task-aware construction pass the space conformance suite; the suite can fail."""
from __future__ import annotations

import pytest

from tanas_nni.space import TaskAwareSpace, load_space
from tanas_nni.testing import check_space
from tanas_nni.testing.space import check_candidates, check_priors
from tests.conftest import TINY_SPACE
from tests.test_task_aware import ARCHS, DIST, TARGET


def test_the_standard_space():
    check_space(TaskAwareSpace.standard(seed=1), n=6)


def test_a_tiny_space_file(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(TINY_SPACE)
    check_space(TaskAwareSpace.standard(load_space(path)), n=4)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_task_aware_spaces(k):
    check_space(TaskAwareSpace.from_distances(DIST, ARCHS, k=k, target=TARGET), n=8)


def test_the_suite_catches_a_broken_space():
    space = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET)
    space.operation_prior = {**space.operation_prior, "ghost_op": 0.5}
    with pytest.raises(AssertionError, match="operation prior"):
        check_priors(space)
    shuffled = TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET)
    # Candidates in another order: the suite insists that the nearest tasks' own architectures come first.
    real = shuffled.candidates
    shuffled.candidates = lambda n, seed=0, exclude=(): list(reversed(real(n, seed, exclude)))
    with pytest.raises(AssertionError, match="first"):
        check_candidates(shuffled, 6)
