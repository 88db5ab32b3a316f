"""Broken data files and config documents: one line naming the file (and field), exit 2, nothing on disk changed; a
broken file of one Quick, Draw! category leaves the others usable."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from tanas_nni.cli import main
from tanas_nni.data import load_task


def snapshot(*roots: Path) -> dict:
    """Every file and folder under ``roots`` with its content hash: what "nothing changed on disk" compares."""
    state = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            state[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return state


def one_error_line(capsys) -> str:
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("tanas: error:")]
    assert len(err) == 1, err
    return err[0]


def _write(kind: str, path: Path) -> None:
    if kind == "empty-file":
        path.write_bytes(b"")
    elif kind == "random-bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "no-rows":
        np.save(path, np.zeros((0, 784), np.uint8))
    elif kind == "wrong-shape":
        np.save(path, np.zeros((10, 28, 29), np.uint8))
    elif kind == "wrong-dtype":
        np.save(path, np.zeros((10, 784), np.float32))
    elif kind == "objects":
        np.save(path, np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    elif kind == "strings":
        np.save(path, np.array(["x"] * 10))
    elif kind == "truncated":
        np.save(path, np.zeros((100, 784), np.uint8))
        path.write_bytes(path.read_bytes()[:5000])
    elif kind == "header-only":
        np.save(path, np.zeros((100, 784), np.uint8))
        path.write_bytes(path.read_bytes()[:128])
    else:
        raise AssertionError(kind)


BROKEN = {
    "empty-file": "the file is empty (0 bytes)",
    "random-bytes": "not a numpy .npy file",
    "no-rows": "holds no images (shape (0, 784))",
    "wrong-shape": "got uint8 (10, 28, 29)",
    "wrong-dtype": "got float32 (10, 784)",
    "objects": "holds Python objects",
    "strings": "holds <U1 values, not numbers",
    "truncated": "truncated or damaged: the header says uint8 (100, 784)",
    "header-only": "truncated or damaged",
}


@pytest.fixture()
def quickdraw(tmp_path, data_dir):
    root = tmp_path / "data"
    (root / "quickdraw").mkdir(parents=True)
    for c in ("cat", "apple", "eye"):
        shutil.copy(data_dir / "quickdraw" / f"{c}.npy", root / "quickdraw")
    return root


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_category_file_is_one_line_naming_it(kind, quickdraw, tmp_path, capsys, monkeypatch):
    bad = quickdraw / "quickdraw" / "fish.npy"
    _write(kind, bad)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code = main(["search", "--target", "quickdraw:fish-vs-rest", "--space", "standard", "--data-dir", str(quickdraw),
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    line = one_error_line(capsys)
    assert str(bad) in line and BROKEN[kind] in line, line
    assert snapshot(tmp_path) == before


def test_a_broken_category_does_not_break_the_others(quickdraw, capsys):
    _write("truncated", quickdraw / "quickdraw" / "fish.npy")
    data = load_task("quickdraw:cat-vs-rest", quickdraw, seed=0)
    assert data.sizes()["train"] > 0 and "fish" not in data.class_names
    assert "tanas: warning:" in capsys.readouterr().err


CONFIGS = {
    "duplicate-key": ("target: mnist:0-vs-rest\nspace: standard\nk: 2\nk: 3\n", "key 'k' is given twice (lines 3 and 4)"),
    "duplicate-nested": ("target: mnist:0-vs-rest\nretrain: {epochs: 1, epochs: 2}\n", "key 'epochs' is given twice"),
    "empty": ("", "the config file is empty"),
    "comments-only": ("# nothing\n", "the config file is empty"),
    "inf-lr": ("target: mnist:0-vs-rest\nretrain: {lr: .inf}\n", "retrain.lr: must be a finite number, got inf"),
    "nan-lr": ("target: mnist:0-vs-rest\nretrain: {lr: .nan}\n", "retrain.lr: must be a finite number, got nan"),
    "nan-tau": ("target: mnist:0-vs-rest\ntau: .nan\n", "tau: must be a finite number"),
    "inf-alpha-lr": ("target: mnist:0-vs-rest\nfuse: {alpha_lr: .inf}\n", "fuse.alpha_lr: must be a finite number"),
    "negative-seed": ("target: mnist:0-vs-rest\nseed: -1\n", "seed: must be >= 0, got -1"),
    "huge-seed": ("target: mnist:0-vs-rest\nseed: 4294967296\n", "seed: must be <= 4294967295"),
    "traversal-target": ("target: mnist:../../../3-vs-rest\n", "'.' is not allowed"),
    "absolute-target": ("target: /etc/passwd:3-vs-rest\n", "'/' is not allowed"),
    "control-char": ("target: \"mnist:3\\t-vs-rest\"\n", "'\\t' is not allowed"),
    "unicode-class": ("target: quickdraw:chat-noir-\u00e9-vs-rest\n", "'\u00e9' is not allowed"),
    "nested-field": ("target: mnist:0-vs-rest\nfuse: {rounds: 0}\n", ": fuse.rounds: must be >= 1, got 0"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_bad_search_config_is_one_line_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    text, expected = CONFIGS[case]
    cfg = tmp_path / "search.yml"
    cfg.write_text(text)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert main(["search", "--config", str(cfg), "--quiet"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"tanas: error: {cfg}: ") and expected in line, line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("flags, expected", [
    (["--tau", "nan"], "tau: must be a finite number"),
    (["--seed", "-1"], "seed: must be >= 0"),
    (["--target", "mnist:..%2F3-vs-rest"], "'.' is not allowed"),
    (["--target", "mnist:3-vs-rest\x00"], "is not allowed"),
])
def test_bad_search_flags_are_one_line_and_write_nothing(flags, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["search", "--space", "standard", "--quiet", *flags]
    if "--target" not in flags:
        argv += ["--target", "mnist:0-vs-rest"]
    assert main(argv) == 2
    assert expected in one_error_line(capsys)
    assert not any(tmp_path.iterdir())
