"""The dictionary store: round trip, checksums, atomic writes, resume."""
from __future__ import annotations

import os
import shutil
import time

import pytest
import torch

from tanas_nni.dictionary import CorruptEntryError, DictionaryStore, build_dictionary
from tanas_nni.core.errors import TanasError
from tests.conftest import TINY_TASKS


@pytest.fixture
def store_copy(tiny_dictionary, tmp_path):
    shutil.copytree(tiny_dictionary.root, tmp_path / "d")
    return DictionaryStore.open(tmp_path / "d")


def test_built_dictionary_round_trip(tiny_dictionary, tiny_dictionary_config, data_dir):
    assert tiny_dictionary.task_ids() == sorted(TINY_TASKS)
    from tanas_nni.data import load_task

    for entry in tiny_dictionary.entries():
        assert entry.metrics["test_acc"] > 0.6
        for key in ("task_spec", "seed", "versions", "data_fingerprint", "checksum", "network", "settings"):
            assert key in entry.meta
        assert entry.meta["versions"]["nni"] == "3.0"
        net = entry.load_network()
        data = load_task(entry.task, data_dir, seed=0, sizes=tiny_dictionary_config.samples.sizes())
        assert data.fingerprint == entry.meta["data_fingerprint"]
        acc = (net(data.x["test"]).argmax(1) == data.y["test"]).float().mean().item()
        assert acc == pytest.approx(entry.metrics["test_acc"])


def test_truncated_weights_detected_with_entry_id(store_copy):
    w = store_copy.entry_dir("mnist:1-vs-rest") / "weights.pt"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(CorruptEntryError, match="mnist:1-vs-rest: weights.pt does not match its checksum"):
        store_copy.get("mnist:1-vs-rest")
    store_copy.get("mnist:0-vs-rest")  # the others are intact


def test_altered_metadata_detected(store_copy):
    meta = store_copy.entry_dir("mnist:0-vs-rest") / "entry.json"
    meta.write_text(meta.read_text().replace('"seed": 0', '"seed": 1'))
    with pytest.raises(CorruptEntryError, match="mnist:0-vs-rest: entry.json does not match"):
        store_copy.get("mnist:0-vs-rest")


def test_update_is_atomic_and_keeps_weights(store_copy):
    before = store_copy.get("mnist:0-vs-rest")
    after = store_copy.update("mnist:0-vs-rest", architecture={"arch": {"x": 1}, "score": {"val_acc": 0.9}})
    assert after.architecture["score"]["val_acc"] == 0.9
    assert after.meta["files"] == before.meta["files"]
    assert not [p for p in (store_copy.root / "entries").iterdir() if p.name.startswith(".")]


def test_half_written_entry_is_never_read(store_copy):
    # what a killed writer leaves: a temporary directory beside the entries
    tmp = store_copy.root / "entries" / ".tmp-mnist__5-vs-rest.abc"
    tmp.mkdir()
    (tmp / "entry.json").write_text("{")
    assert "mnist:5-vs-rest" not in store_copy.task_ids()
    assert store_copy.clean_tmp() == 1 and not tmp.exists()


def test_resume_skips_finished_and_rebuilds_corrupt(store_copy, tiny_dictionary_config):
    cfg = tiny_dictionary_config
    cfg = type(cfg)(**{**cfg.__dict__, "dictionary": str(store_copy.root)})
    w = store_copy.entry_dir("fashion-mnist:coat-vs-rest") / "weights.pt"
    w.write_bytes(b"garbage")
    untouched = store_copy.get("mnist:0-vs-rest").checksum
    logs = []
    build_dictionary(cfg, log=logs.append)
    text = "\n".join(logs)
    assert "warning: dictionary entry fashion-mnist:coat-vs-rest" in text and "rebuilding" in text
    assert text.count("done already") == 3
    assert store_copy.get("mnist:0-vs-rest").checksum == untouched
    rebuilt = store_copy.get("fashion-mnist:coat-vs-rest")
    assert rebuilt.meta["data_fingerprint"]


def test_open_errors(tmp_path):
    with pytest.raises(TanasError, match="does not exist"):
        DictionaryStore.open(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(TanasError, match="not a tanas dictionary"):
        DictionaryStore.open(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TanasError, match="cannot create dictionary"):
        DictionaryStore.open(tmp_path / "file" / "d", create=True)


def test_cache_round_trip(store_copy):
    assert store_copy.cache_get("distance", "k") is None
    store_copy.cache_put("distance", "k", {"a": 1.5})
    assert store_copy.cache_get("distance", "k") == {"a": 1.5}


def test_weights_are_plain_state_dicts(tiny_dictionary):
    e = tiny_dictionary.get("mnist:0-vs-rest")
    state = torch.load(e.path / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def _hold_lock(root: str, name: str, log: str, hold: float) -> None:
    from tanas_nni.dictionary import DictionaryStore

    with DictionaryStore(root).lock(name):
        with open(log, "a") as f:
            f.write(f"start {os.getpid()}\n")
        time.sleep(hold)
        with open(log, "a") as f:
            f.write(f"end {os.getpid()}\n")


def test_lock_serialises_two_writer_processes(tmp_path):
    # Two processes take the same entry's lock at once: the second starts only after the first has ended.
    import multiprocessing

    log = tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold_lock, args=(str(tmp_path / "dict"), "entry", str(log), 0.5)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in lines] == ["start", "end", "start", "end"]
    assert lines[0][1] == lines[1][1] and lines[2][1] == lines[3][1] != lines[0][1]
