"""``tanas dictionary add``: a solved target (an export folder) becomes a base task that later targets draw from."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tanas_nni.cli import main
from tanas_nni.dictionary import DictionaryStore
from tanas_nni.pipeline import entry_architecture, task_aware_space
from tanas_nni.space import Architecture
from tests.conftest import TINY_SPACE, _disk_state
from tests.test_search import TINY_BUDGET, error_line
from tests.test_task_aware import with_fake_architectures

SOLVED = "mnist:2-vs-rest"


@pytest.fixture(scope="module")
def export(data_dir, tmp_path_factory):
    """The export folder of a tiny standard-space search for mnist:2-vs-rest."""
    root = tmp_path_factory.mktemp("grow")
    (root / "tiny.yml").write_text(TINY_SPACE)
    out = root / "out"
    rc = main(["search", "--target", SOLVED, "--space", "standard", "--space-file", str(root / "tiny.yml"),
               "--data-dir", str(data_dir), "--out", str(out), *TINY_BUDGET])
    assert rc == 0
    return out


@pytest.fixture()
def store(tiny_dictionary, tmp_path):
    """A writable copy of the tiny dictionary, every entry with an architecture."""
    return with_fake_architectures(tiny_dictionary, tmp_path / "dictionary")


def test_added_target_is_a_base_task_with_its_architecture(export, store, data_dir, capsys):
    before = {t: store.get(t).checksum for t in store.task_ids()}
    assert main(["dictionary", "add", str(export), "-d", str(store.root), "--data-dir", str(data_dir)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and f"{SOLVED}: added to" in err
    # The other entries are untouched; the new one was trained with their recipe.
    assert {t: store.get(t).checksum for t in before} == before
    entry = store.get(SOLVED)
    other = store.get(next(iter(before)))
    assert entry.meta["settings_hash"] == other.meta["settings_hash"]
    assert entry.meta["settings"] == other.meta["settings"]
    assert entry.meta["split_sizes"] == other.meta["split_sizes"]
    assert entry.load_network()(__import__("torch").zeros(1, 1, 28, 28)).shape == (1, 2)
    # Its architecture is the export's winner, with its retrained score and where it came from.
    exported = json.loads((export / "architecture.json").read_text())
    metrics = json.loads((export / "metrics.json").read_text())
    arch = entry.architecture
    assert arch["arch"] == exported["arch"] and arch["key"] == exported["key"]
    assert arch["score"]["test_error"] == metrics["test_error"] and arch["score"]["parameters"] == metrics["parameters"]
    assert arch["space"] == "standard" and arch["strategy"] == "fuse"
    assert arch["source"]["folder"] == str(export.resolve()) and arch["source"]["config"]["target"] == SOLVED
    assert arch["source"]["added"]

    assert main(["dictionary", "list", "-d", str(store.root)]) == 0
    listed = capsys.readouterr().out
    row = next(line for line in listed.splitlines() if line.startswith(SOLVED))
    assert f"added (search winner, test error {metrics['test_error']:.2%})" in row and "5 entries" in listed

    # A later, similar target can draw from it: with every entry as a neighbour, the new one is one, with its
    # architecture, and its distance is a real (Fisher) distance computed from its stored network.
    space = task_aware_space("mnist:3-vs-rest", store, k=5, data_dir=data_dir)
    near = {t: d for t, d, _ in space.neighbours}
    assert SOLVED in near and near[SOLVED] > 0
    assert entry_architecture(store, SOLVED) == Architecture.from_dict(exported["arch"])
    assert Architecture.from_dict(exported["arch"]) in space.base_architectures

    # --force replaces the entry (same recipe and seed: the same network), leaving the others alone.
    assert main(["dictionary", "add", str(export), "-d", str(store.root), "--data-dir", str(data_dir), "--force"]) == 0
    again = store.get(SOLVED)
    assert again.meta["files"]["weights.pt"] == entry.meta["files"]["weights.pt"]
    assert again.architecture["arch"] == exported["arch"]
    assert {t: store.get(t).checksum for t in before} == before


def test_bad_add_inputs(export, store, data_dir, tmp_path, capsys, monkeypatch):
    def refused(args, *expect):
        state = _disk_state(store.root, export)
        assert main(["dictionary", "add", *args, "-d", str(store.root), "--data-dir", str(data_dir)]) == 2
        line = error_line(capsys)
        assert line.startswith("tanas: error:") and all(e in line for e in expect), line
        assert _disk_state(store.root, export) == state

    # a folder that is not an export folder (empty; missing; one without metrics.json)
    (tmp_path / "empty").mkdir()
    refused([str(tmp_path / "empty")], "architecture.json", "export folder")
    refused([str(tmp_path / "nowhere")], "not a folder")
    partial = tmp_path / "partial"
    shutil.copytree(export, partial)
    (partial / "metrics.json").unlink()
    refused([str(partial)], "metrics.json: not found")
    # a target already in the dictionary
    other = tmp_path / "other"
    shutil.copytree(export, other)
    metrics = json.loads((other / "metrics.json").read_text())
    (other / "metrics.json").write_text(json.dumps({**metrics, "target": "mnist:0-vs-rest"}))
    refused([str(other)], "mnist:0-vs-rest is in it already", "--force")
    # a target whose data the dictionary's datasets cannot load (a user dataset it does not register)
    (other / "metrics.json").write_text(json.dumps({**metrics, "target": "pets:dog-vs-rest"}))
    refused([str(other)], "pets:dog-vs-rest", "does not load")
    # a dictionary that is read-only (root ignores mode bits, so there the permission check is told what they say)
    import tanas_nni.dictionary.store as store_module

    real_access = os.access
    entries = str(store.root / "entries")
    monkeypatch.setattr(store_module.os, "access",
                        lambda p, mode: False if str(p) == entries and mode & os.W_OK else real_access(p, mode))
    refused([str(export)], "not writable")
    monkeypatch.setattr(store_module.os, "access", real_access)
    # a dictionary whose entries were built with different recipes
    store.update("mnist:1-vs-rest", settings_hash="other")
    refused([str(export)], "different settings")
    assert SOLVED not in store.task_ids()
