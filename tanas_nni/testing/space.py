"""The search-space conformance suite: what a :class:`~tanas_nni.space.TaskAwareSpace` (a construction of one, or a
space file) must satisfy for the strategies to search it.

::

    from tanas_nni.testing import check_space
    check_space(TaskAwareSpace.from_distances(distances, architectures, k=3, target=target))

The checks: priors are probability distributions over exactly the space's skeletons, cells and operations; candidates
are distinct members of the space, the neighbours' own architectures first, and the same seed gives the same list;
every candidate builds a torch network with one output per class; the space's NNI forms (whole networks, cells) export
only architectures of the space.
"""
from __future__ import annotations

import math

import torch

from ..space import (CANDIDATE_LABEL, Architecture, TaskAwareSpace, architecture_from_sample, build_model, cell_space,
                     whole_network_space)

__all__ = ["check_space", "check_priors", "check_candidates", "check_networks", "check_nni_forms"]


def check_priors(space: TaskAwareSpace) -> None:
    for what, prior, items in (("operation", space.operation_prior, space.spec.operations),
                               ("skeleton", space.skeleton_prior, space.spec.skeletons),
                               ("cell", space.cell_prior, space.spec.cells)):
        assert list(prior) == list(items), f"the {what} prior is not over exactly the space's {what}s"
        assert all(p > 0 and math.isfinite(p) for p in prior.values()), f"a {what} of the space has prior <= 0"
        assert abs(sum(prior.values()) - 1.0) < 1e-9, f"the {what} prior sums to {sum(prior.values())}"


def check_candidates(space: TaskAwareSpace, n: int = 8, seed: int = 0) -> list[Architecture]:
    cands = space.candidates(n, seed=seed)
    assert cands, "the space gave no candidates"
    assert len({a.key for a in cands}) == len(cands), "candidates repeat"
    outside = [str(a) for a in cands if not space.contains(a)]
    assert not outside, f"candidates outside the space: {outside[:2]}"
    base = [a.key for a in space.base_architectures]
    assert [a.key for a in cands[:len(base)]] == base[:len(cands)], "the neighbours' architectures are not first"
    again = space.candidates(n, seed=seed)
    assert [a.key for a in again] == [a.key for a in cands], "the same seed gave other candidates"
    rest = space.candidates(n, seed=seed, exclude=cands)
    assert not {a.key for a in rest} & {a.key for a in cands}, "excluded candidates came back"
    return cands


def check_networks(candidates: list[Architecture], num_classes: int = 2, input_shape=(1, 28, 28)) -> None:
    for arch in candidates:
        net = build_model(arch, num_classes, input_shape).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, *input_shape))
        assert tuple(out.shape) == (2, num_classes), f"{arch}: output shape {tuple(out.shape)}"


def check_nni_forms(space: TaskAwareSpace, candidates: list[Architecture], num_classes: int = 2) -> None:
    whole = whole_network_space(candidates, num_classes)
    for i in range(len(candidates)):
        assert architecture_from_sample(whole, {CANDIDATE_LABEL: i}) == candidates[i], "whole-network export differs"
    cells = cell_space(space, num_classes)
    for label, choice in cells.simplify().items():
        values = list(getattr(choice, "values", []))
        assert values, f"cell space choice {label} has no values"
    sample = {label: c.values[-1] for label, c in cells.simplify().items()}
    assert space.contains(architecture_from_sample(cells, sample)), "the cell space exports outside the space"


def check_space(space: TaskAwareSpace, n: int = 8, num_classes: int = 2, input_shape=(1, 28, 28)) -> None:
    """Every check of the suite on ``space``."""
    check_priors(space)
    cands = check_candidates(space, n)
    check_networks(cands, num_classes, input_shape)
    check_nni_forms(space, cands, num_classes)
