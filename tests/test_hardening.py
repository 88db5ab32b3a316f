"""Shared storage and caches: files made with the user's umask; distance caches keyed by the thread count."""
from __future__ import annotations

import os
import shutil
import stat

import pytest
import torch

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import distances_to


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_shared_dictionary_is_readable_by_the_team(tmp_path, umask_022):
    store = DictionaryStore.open(tmp_path / "d", create=True)
    store.put("mnist:0-vs-rest", {"metrics": {}}, state_dict={"w": torch.zeros(2)})
    entry = store.entry_dir("mnist:0-vs-rest")
    assert mode(entry) == 0o755
    assert {mode(p) for p in entry.iterdir()} == {0o644}
    store.cache_put("test", "key", {"x": 1})
    assert mode(store.cache_path("test", "key")) == 0o644


def test_the_distance_cache_tells_thread_counts_apart(tiny_dictionary, tmp_path, data_dir):
    shutil.copytree(tiny_dictionary.root, tmp_path / "d")
    store = DictionaryStore.open(tmp_path / "d")
    computed = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 1):
            torch.set_num_threads(n)
            distances_to("mnist:1-vs-rest", store, "fisher", data_dir, samples=64, log=computed.append)
    finally:
        torch.set_num_threads(threads)
    runs = [m for m in computed if m.startswith("distance[fisher] fashion-mnist:coat-vs-rest")]
    assert len(runs) == 2  # one per thread count; the third call came from the cache


def test_non_finite_weights_or_metrics_are_never_stored(tmp_path):
    from tanas_nni.core.errors import NumericalError
    from tests.test_bad_input_files import snapshot

    store = DictionaryStore.open(tmp_path / "d", create=True)
    before = snapshot(tmp_path)
    with pytest.raises(NumericalError, match="weight w holds NaN or infinite values; the entry is not stored"):
        store.put("mnist:0-vs-rest", {"metrics": {}}, state_dict={"w": torch.tensor([1.0, float("nan")])})
    with pytest.raises(NumericalError, match="metric test_acc is nan"):
        store.put("mnist:0-vs-rest", {"metrics": {"test_acc": float("nan")}}, state_dict={"w": torch.zeros(1)})
    assert snapshot(tmp_path) == before


def test_sample_sizes_beyond_the_data_are_said(data_dir, capsys):
    from tanas_nni.data import SplitSizes, load_task

    data = load_task("quickdraw:cat-vs-rest", data_dir, sizes=SplitSizes(100, 100, 100000))
    assert data.sizes()["test"] < 100000
    err = capsys.readouterr().err
    assert (f"tanas: warning: quickdraw:cat-vs-rest: the test split has {data.sizes()['test']} examples, fewer than the "
            f"100000 asked for") in err


def test_a_read_only_dictionary_is_used_uncached(tiny_dictionary, tmp_path, data_dir, capsys, monkeypatch):
    """Distances from a dictionary that cannot be written (a team's read-only copy): computed, a warning, no cache."""
    from tanas_nni.core import records
    from tests.test_bad_input_files import snapshot

    shutil.copytree(tiny_dictionary.root, tmp_path / "d")
    store = DictionaryStore.open(tmp_path / "d")
    before = snapshot(tmp_path)

    def read_only(path, data):  # what a read-only mount does (root ignores file modes, so chmod cannot show it)
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr("tanas_nni.dictionary.store.atomic_write_bytes", read_only)
    rows = distances_to("mnist:1-vs-rest", store, "fisher", data_dir, samples=64, log=lambda m: None)
    assert len(rows) == 4 and snapshot(tmp_path) == before
    assert "cannot write its cache (Read-only file system); results are not cached" in capsys.readouterr().err
    assert records.atomic_write_bytes is not read_only
