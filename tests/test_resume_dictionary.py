"""Kill-and-resume: SIGKILL a dictionary build at several points, rerun it, and get what an uninterrupted run gets."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import yaml

from tanas_nni.dictionary import DictionaryStore

TASKS = ["mnist:2-vs-rest", "fashion-mnist:dress-vs-rest", "mnist:4-vs-rest"]


def _config(tmp_path, data_dir, name):
    cfg = tmp_path / f"{name}.yml"
    cfg.write_text(yaml.safe_dump({
        "dictionary": str(tmp_path / name), "data_dir": str(data_dir), "tasks": TASKS, "threads": 1,
        "samples": {"train": 300, "val": 100, "test": 100}, "network": {"width": 8, "features": 16},
        "training": {"epochs": 2, "batch_size": 64}}))
    return cfg


def _build(run_killed, cfg, kill_after: str | None = None) -> int:
    """Run `tanas dictionary build` in a real process, SIGKILLed on the first stderr line with ``kill_after``."""
    return run_killed([sys.executable, "-m", "tanas_nni.cli", "dictionary", "build", str(cfg)], kill_after)


def _content(root):
    """What must not depend on interruptions: weights, metrics (but time), data fingerprints."""
    store = DictionaryStore.open(root)
    out = {}
    for e in store.entries():
        metrics = {k: v for k, v in e.metrics.items() if k != "seconds"}
        out[e.task] = (e.meta["files"]["weights.pt"]["sha256"], metrics, e.meta["data_fingerprint"])
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir, run_killed):
    tmp = tmp_path_factory.mktemp("ref")
    assert _build(run_killed, _config(tmp, data_dir, "ref")) == 0
    return _content(tmp / "ref")


@pytest.mark.parametrize("kill_after", [
    "[1/3] mnist:2-vs-rest: epoch 1/2",            # in the middle of the first network's training
    "[1/3] mnist:2-vs-rest: test acc",              # right after the first entry was installed
    "[3/3] mnist:4-vs-rest: epoch 2/2",             # during the last entry, before its install
])
def test_killed_build_resumes_to_the_same_dictionary(tmp_path, data_dir, reference, kill_after, run_killed):
    cfg = _config(tmp_path, data_dir, "d")
    assert _build(run_killed, cfg, kill_after) == -signal.SIGKILL
    done_before = set(DictionaryStore.open(tmp_path / "d").task_ids())
    assert done_before < set(TASKS)  # really interrupted
    assert _build(run_killed, cfg) == 0
    assert _content(tmp_path / "d") == reference
    assert not [p for p in (tmp_path / "d" / "entries").iterdir() if p.name.startswith(".")]


def test_two_processes_building_one_dictionary(tmp_path, data_dir, reference):
    cfg = _config(tmp_path, data_dir, "d")
    procs = [subprocess.Popen([sys.executable, "-m", "tanas_nni.cli", "dictionary", "build", str(cfg)],
                              stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _content(tmp_path / "d") == reference  # every entry valid and complete, whoever wrote it
