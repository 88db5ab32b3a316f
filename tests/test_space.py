"""The standard space as data, architectures, networks, the candidate generator and the NNI model spaces."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from tanas_nni.core.errors import TanasError
from tanas_nni.space import (Architecture, CandidateGenerator, CellSpace, TaskAwareSpace, WholeNetworkSpace,
                             architecture_from_sample, build_model, cell_space, load_space, whole_network_space)
from tanas_nni.space.architecture import CellTopology, Skeleton
from tanas_nni.training import count_parameters

ARCH = {"skeleton": {"stem": 16, "cells": 3, "reductions": [1, 2]},
        "cell": {"nodes": 4, "edges": [[0, 1, "sep_conv_3x3"], [0, 2, "skip_connect"], [1, 3, "max_pool_3x3"],
                                       [2, 3, "dil_conv_3x3"], [1, 2, "none"]]}}

GOOD = """
operations: [sep_conv_3x3, skip_connect, none]
skeletons:
  - {stem: [16, 32], cells: 3, reductions: [1, 2]}
cells:
  - {name: chain, nodes: 3, edges: [[0, 1], [1, 2]]}
"""


def write(tmp_path, text: str):
    path = tmp_path / "space.yml"
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------------------------------------------------- spec
def test_standard_space_loads():
    spec = load_space()
    assert spec.operations == ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3", "dil_conv_5x5",
                               "conv_7x1_1x7", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "none")
    assert {s.stem for s in spec.skeletons} == {16, 24, 32, 48}
    assert {s.cells for s in spec.skeletons} == {2, 3, 4, 5, 6}
    assert all(len(s.reductions) == 2 for s in spec.skeletons)  # 28 -> 14 -> 7
    assert len(spec.cells) == len(set(spec.cells)) >= 4


def test_small_space_file_loads(tmp_path):
    spec = load_space(write(tmp_path, GOOD))
    assert spec.skeletons == (Skeleton(16, 3, (1, 2)), Skeleton(32, 3, (1, 2)))
    assert spec.cells == (CellTopology(3, ((0, 1), (1, 2))),)
    assert spec.cell_names == ("chain",)


BAD = {
    "unknown operation": (GOOD.replace("skip_connect,", "conv_9x9,"), "conv_9x9"),
    "cyclic cell": (GOOD.replace("[[0, 1], [1, 2]]", "[[0, 1], [1, 2], [2, 1]]"), "cycle"),
    "disconnected cell": (GOOD.replace("nodes: 3, edges: [[0, 1], [1, 2]]", "nodes: 4, edges: [[0, 1], [1, 3]]"),
                          "disconnected"),
    "empty operations": (GOOD.replace("[sep_conv_3x3, skip_connect, none]", "[]"), "operations"),
    "empty skeletons": ("operations: [skip_connect]\nskeletons: []\ncells: [{nodes: 2, edges: [[0, 1]]}]\n",
                        "skeletons"),
    "empty cells": ("operations: [skip_connect]\nskeletons: [{stem: 16, cells: 2}]\ncells: []\n", "cells"),
    "empty edges": (GOOD.replace("edges: [[0, 1], [1, 2]]", "edges: []"), "edges"),
    "unknown key": (GOOD + "colour: blue\n", "colour"),
    "unknown skeleton key": (GOOD.replace("cells: 3,", "cells: 3, depth: 2,"), "depth"),
    "wrong type": (GOOD.replace("nodes: 3", "nodes: three"), "nodes"),
    "stem not a number": (GOOD.replace("[16, 32]", "[16, wide]"), "stem"),
    "reduction outside": (GOOD.replace("reductions: [1, 2]", "reductions: [1, 5]"), "reductions"),
    "edge outside": (GOOD.replace("[[0, 1], [1, 2]]", "[[0, 1], [1, 7]]"), "edges"),
    "duplicate operation": (GOOD.replace("[sep_conv_3x3, skip_connect, none]", "[skip_connect, skip_connect]"),
                            "twice"),
    "only none": (GOOD.replace("[sep_conv_3x3, skip_connect, none]", "[none]"), "none"),
    "missing list": ("operations: [skip_connect]\nskeletons: [{stem: 16, cells: 2}]\n", "cells"),
    "not yaml": ("operations: [skip_connect\n", "malformed"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_space_is_refused_with_one_line(tmp_path, case):
    text, word = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(TanasError) as e:
        load_space(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(path) in msg, msg
    assert word in msg, msg


def test_missing_space_file(tmp_path):
    with pytest.raises(TanasError, match="not found"):
        load_space(tmp_path / "nope.yml")


# ----------------------------------------------------------------------------------------------------- architecture
def test_architecture_round_trip_and_stable_key():
    arch = Architecture.from_dict(ARCH)
    assert Architecture.from_dict(arch.to_dict()) == arch
    assert Architecture.from_dict(arch.to_json()) == arch
    assert Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    # Edge order in the input does not matter; the key is a function of the content only.
    shuffled = dict(ARCH, cell={"nodes": 4, "edges": list(reversed(ARCH["cell"]["edges"]))})
    assert Architecture.from_dict(shuffled) == arch and Architecture.from_dict(shuffled).key == arch.key
    assert hash(Architecture.from_dict(shuffled)) == hash(arch)
    assert arch.operations() == {"sep_conv_3x3", "skip_connect", "max_pool_3x3", "dil_conv_3x3", "none"}
    assert "stem16" in str(arch) and "\n" not in str(arch)
    # The key is the same in another process (no salted hash).
    code = ("from tanas_nni.space import Architecture; import json, sys; "
            "print(Architecture.from_dict(json.loads(sys.argv[1])).key)")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(ARCH)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == arch.key


@pytest.mark.parametrize("bad,word", [
    ({"skeleton": ARCH["skeleton"], "cell": {"nodes": 2, "edges": [[0, 1, "conv_9x9"]]}}, "conv_9x9"),
    ({"skeleton": ARCH["skeleton"], "cell": {"nodes": 3, "edges": [[0, 1, "none"], [1, 2, "skip_connect"]]}},
     "disconnected"),
    ({"skeleton": ARCH["skeleton"], "cell": {"nodes": 3, "edges": [[0, 1, "skip_connect"], [1, 0, "skip_connect"],
                                                                  [1, 2, "skip_connect"]]}}, "cycle"),
    ({"skeleton": {"stem": 16, "cells": 2, "reductions": [2]}, "cell": ARCH["cell"]}, "reductions"),
    ({"skeleton": ARCH["skeleton"]}, "cell"),
    ({"skeleton": ARCH["skeleton"], "cell": ARCH["cell"], "extra": 1}, "extra"),
])
def test_invalid_architecture_is_refused(bad, word):
    with pytest.raises(TanasError, match=word):
        Architecture.from_dict(bad)


def test_build_forward_and_parameter_count():
    model = build_model(ARCH, num_classes=3)
    assert model(torch.randn(4, 1, 28, 28)).shape == (4, 3)
    assert model.features(torch.randn(2, 1, 28, 28)).shape == (2, 64)  # 16 -> 32 -> 64 channels
    # An exact count on the smallest network: stem 16, two reducing cells with one skip edge each.
    tiny = {"skeleton": {"stem": 16, "cells": 2, "reductions": [0, 1]},
            "cell": {"nodes": 2, "edges": [[0, 1, "skip_connect"]]}}
    stem = 1 * 16 * 9 + 2 * 16
    cell0 = (16 * 32 + 2 * 32) + (2 * 32 * 16 + 2 * 32)      # 1x1 projection + BN, factorised reduce + BN
    cell1 = (32 * 64 + 2 * 64) + (2 * 64 * 32 + 2 * 64)
    head = 64 * 2 + 2
    assert count_parameters(build_model(tiny, 2)) == stem + cell0 + cell1 + head
    assert build_model(tiny, 2)(torch.randn(2, 1, 28, 28)).shape == (2, 2)


def test_none_edges_and_dead_nodes_are_not_built():
    base = {"skeleton": {"stem": 16, "cells": 2, "reductions": [1]},
            "cell": {"nodes": 4, "edges": [[0, 1, "sep_conv_3x3"], [1, 3, "skip_connect"], [0, 2, "sep_conv_5x5"],
                                           [2, 3, "max_pool_3x3"]]}}
    cut = json.loads(json.dumps(base))
    cut["cell"]["edges"][0][2] = "none"  # node 1 loses its input: its outgoing skip is dead as well
    full, pruned = build_model(base, 2), build_model(cut, 2)
    assert count_parameters(pruned) < count_parameters(full)
    assert all("0_1" not in name and "1_3" not in name for name, _ in pruned.named_modules())
    assert pruned(torch.randn(2, 1, 28, 28)).shape == (2, 2)


def test_odd_resolutions_and_three_reductions():
    arch = {"skeleton": {"stem": 8, "cells": 3, "reductions": [0, 1, 2]},
            "cell": {"nodes": 3, "edges": [[0, 1, "conv_7x1_1x7"], [0, 2, "skip_connect"], [1, 2, "avg_pool_3x3"]]}}
    assert build_model(arch, 2)(torch.randn(2, 1, 28, 28)).shape == (2, 2)  # 28 -> 14 -> 7 -> 4
    assert build_model(arch, 5, (3, 32, 32))(torch.randn(2, 3, 32, 32)).shape == (2, 5)


# ------------------------------------------------------------------------------------------------------- generator
def test_generator_is_seeded_and_distinct():
    spec = load_space()
    a = CandidateGenerator(spec, seed=3).sample(20)
    b = CandidateGenerator(spec, seed=3).sample(20)
    c = CandidateGenerator(spec, seed=4).sample(20)
    assert a == b and a != c
    assert len({x.key for x in a}) == 20
    assert all(spec.contains(x) for x in a)
    more = CandidateGenerator(spec, seed=3).sample(5, exclude=a[:3] + [a[3].key])
    assert not {x.key for x in more} & {x.key for x in a[:4]}


def test_generator_follows_priors_and_exhausts_small_spaces(tmp_path):
    spec = load_space(write(tmp_path, GOOD))
    gen = CandidateGenerator(spec, operation_prior={"skip_connect": 1.0}, skeleton_prior=[0, 1], seed=0)
    # Only one cell and one skeleton remain possible: asking for more returns the one there is.
    out = gen.sample(5)
    assert len(out) == 1 and out[0].operations() == {"skip_connect"} and out[0].skeleton.stem == 32
    # Uniform: a chain is connected only without `none`: 2 skeletons x 2 ops ^ 2 edges = 8 architectures.
    everything = CandidateGenerator(spec, seed=1).sample(100)
    assert len(everything) == 8 and len({a.key for a in everything}) == 8
    with pytest.raises(TanasError, match="operation_prior"):
        CandidateGenerator(spec, operation_prior={"none": 1.0})
    with pytest.raises(TanasError, match="skeleton_prior"):
        CandidateGenerator(spec, skeleton_prior=[1.0])
    with pytest.raises(TanasError, match="operation_prior"):
        CandidateGenerator(spec, operation_prior={"sep_conv_7x7": 1.0})


# ------------------------------------------------------------------------------------------------------ NNI spaces
def test_whole_network_space_constructs_and_maps_samples():
    archs = CandidateGenerator(load_space(), seed=0).sample(3)
    space = whole_network_space(archs, num_classes=2)
    assert isinstance(space, WholeNetworkSpace)
    assert space(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    assert list(space.simplify()) == ["candidate"]
    # Plain-data constructor arguments: NNI can trace and rebuild the space elsewhere.
    assert json.loads(json.dumps(space.trace_kwargs))["archs"][1] == archs[1].to_dict()
    for i in range(3):
        assert architecture_from_sample(space, {"candidate": i}) == archs[i]
        frozen = space.freeze({"candidate": i})
        assert frozen(torch.randn(2, 1, 28, 28)).shape == (2, 2)
        assert count_parameters(frozen) == count_parameters(build_model(archs[i], 2))
    with pytest.raises(TanasError, match="empty"):
        whole_network_space([], 2)


def test_cell_space_shares_edge_choices_and_round_trips():
    spec = load_space()
    topo = next(c for c in spec.cells if len(c.edges) == 6)
    space = cell_space(TaskAwareSpace.standard(spec), 2, skeleton=Skeleton(16, 3, (1, 2)), topology=topo)
    assert isinstance(space, CellSpace)
    choices = space.simplify()
    assert sorted(choices) == sorted(f"edge_{i}_{j}" for i, j in topo.edges)  # one decision per edge, all cells
    assert all("none" not in c.values for c in choices.values())
    assert space(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    sample = {label: c.values[k % len(c.values)] for k, (label, c) in enumerate(sorted(choices.items()))}
    arch = architecture_from_sample(space, sample)
    model = space.freeze(sample)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    assert count_parameters(model) == count_parameters(build_model(arch, 2))
    assert arch.skeleton == Skeleton(16, 3, (1, 2)) and arch.cell.topology == topo
