"""Fuzzing every entry point that reads what a user types or writes: task ids, config documents, ``.npy`` files.

Each example ends in success or in a one-line error (exit 2 from the command); never a traceback, never a file written
outside the roots given. Derandomised, so CI runs the same examples every time.
"""
from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanas_nni.cli import main
from tanas_nni.core.errors import TanasError
from tanas_nni.data import canonical_task_id, task_folder
from tanas_nni.data.datasets import _read_array
from tanas_nni.pipeline import load_dictionary_config, load_search_config

EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Task ids: mostly near-valid ones (where the bugs live), plus anything at all.
_word = st.text(alphabet=st.sampled_from("abcXYZ019 -_+:./\\\t\n\x00é☃"), max_size=12)
task_ids = st.one_of(
    st.text(max_size=40),
    st.builds(lambda d, c: f"{d}:{c}-vs-rest", st.sampled_from(["mnist", "fashion-mnist", "quickdraw", "MNIST", ""]),
              _word),
    st.builds(lambda d, a, b: f"{d}:{a}+{b}", st.sampled_from(["mnist", "quickdraw", "x"]), _word, _word),
    st.builds(lambda w: f"mnist:{w}", _word),
)


def one_line(e: Exception) -> bool:
    return bool(str(e)) and "\n" not in str(e)


@EXAMPLES
@given(task_ids)
def test_task_ids(tid):
    try:
        canonical = canonical_task_id(tid)
    except TanasError as e:
        assert one_line(e)
        return
    assert canonical_task_id(canonical) == canonical
    folder = task_folder(tid)
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", folder) and ".." not in folder, folder


@EXAMPLES
@given(task_ids)
def test_task_ids_through_the_command(tid):
    with tempfile.TemporaryDirectory() as root:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["dictionary", "show", tid, "--dictionary", str(Path(root) / "none")])
        lines = err.getvalue().strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("tanas: error:"), lines
        assert not any(Path(root).iterdir())


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                     st.text(max_size=10), st.sampled_from(["mnist:0-vs-rest", "fuse", "standard", "1e-3", ".inf"]))
_keys = st.sampled_from(["target", "space", "strategy", "k", "method", "tau", "seed", "candidates", "threads",
                         "samples", "fuse", "retrain", "train", "val", "rounds", "epochs", "lr", "bogus", "tasks",
                         "network", "width", "architecture_search", "datasets", "out", "dictionary"])
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(_keys, inner, max_size=4)), max_leaves=8)
documents = st.one_of(
    st.dictionaries(_keys, _values, max_size=6).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(alphabet=st.sampled_from("ab: {}[]-,\n'\"#&*!|>%@`\t0.9é"), max_size=60),
)


@EXAMPLES
@given(documents, st.sampled_from(["search", "dictionary"]))
def test_config_documents(text, kind):
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "config.yml"
        path.write_text(text)
        try:
            (load_search_config if kind == "search" else load_dictionary_config)(path)
        except TanasError as e:
            assert one_line(e), str(e)
            assert str(e).startswith(str(path)) or str(e).startswith("target:"), str(e)
        assert sorted(p.name for p in Path(root).iterdir()) == ["config.yml"]


_dtypes = st.sampled_from(["<u1", "|u1", "<f4", "<i8", "|O", "<U3", "|b1", "<c8", "V8", "bogus"])
_shapes = st.lists(st.integers(-2, 800), max_size=4).map(tuple)


@st.composite
def npy_files(draw):
    """A ``.npy`` file: a real array, a well-formed header over too little or too much data, or a damaged header."""
    kind = draw(st.sampled_from(["array", "header", "garbage"]))
    if kind == "array":
        shape = draw(st.lists(st.integers(0, 30), min_size=1, max_size=3))
        buf = io.BytesIO()
        np.save(buf, np.zeros(shape, draw(st.sampled_from([np.uint8, np.float32, np.int16, bool]))))
        data = buf.getvalue()
        return data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) else data
    if kind == "header":
        header = repr({"descr": draw(_dtypes), "fortran_order": draw(st.booleans()), "shape": draw(_shapes)})
        header = (header + " " * (64 - (10 + len(header) + 1) % 64) + "\n").encode("latin1")
        magic = b"\x93NUMPY" + bytes([1, 0]) + len(header).to_bytes(2, "little")
        return magic + header + draw(st.binary(max_size=200))
    return draw(st.binary(max_size=120))


@EXAMPLES
@given(npy_files())
def test_npy_files(data):
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "x.npy"
        path.write_bytes(data)
        try:
            arr = _read_array(path)
            assert arr.dtype.kind in "uifb"
        except TanasError as e:
            assert one_line(e) and str(path) in str(e), str(e)
