"""The NNI way, from a user's folder: `tanas init DIR`, then `nnictl create --config DIR/experiments/dictionary.yml`
builds the same dictionary, one trial per task."""
from __future__ import annotations

import yaml

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.experiment import nnictl
from tanas_nni.cli import main


def test_nnictl_dictionary_experiment(tmp_path, data_dir):
    # The shipped experiment as `tanas init` writes it, at a tiny budget: same trial command, trial folder and tuner;
    # the stage config it names replaced by a tiny one; two tasks and a bad one.
    work = tmp_path / "work"
    assert main(["init", str(work)]) == 0
    stage = work / "configs" / "dictionary.yml"
    stage.write_text(yaml.safe_dump({
        "dictionary": str(tmp_path / "dict"), "data_dir": str(data_dir), "tasks": ["mnist:0-vs-rest"],
        "samples": {"train": 400, "val": 200, "test": 200}, "network": {"width": 8, "features": 32},
        "training": {"epochs": 2, "batch_size": 64}, "threads": 1}))
    cfg = work / "experiments" / "dictionary.yml"
    exp = yaml.safe_load(cfg.read_text())
    assert exp["trialCodeDirectory"] == ".." and "--config configs/dictionary.yml" in exp["trialCommand"]
    exp["searchSpace"]["task"]["_value"] = ["mnist:0-vs-rest", "fashion-mnist:trouser-vs-rest", "mnist:sock-vs-rest"]
    exp["maxTrialNumber"] = 3
    exp["experimentWorkingDirectory"] = str(tmp_path / "nni")
    cfg.write_text(yaml.safe_dump(exp))

    port = nnictl.free_port()
    exp_id = nnictl.start(cfg, port)
    try:
        nnictl.wait(port, timeout=240)
        listed = nnictl.trials(port)
        # Keyed by the task each trial reports it ran: NNI 3.0's REST API and web UI may show a trial with another
        # trial's parameters (microsoft/nni#5726, #5693), so its final metric names its unit of work.
        trials = {t["final"]["task"]: t for t in listed if t["final"]}
        curve = nnictl.intermediate(port, trials["mnist:0-vs-rest"]["id"])
    finally:
        nnictl.stop(exp_id, port)
    assert sorted(trials) == ["fashion-mnist:trouser-vs-rest", "mnist:0-vs-rest"]
    assert all(t["status"] == "SUCCEEDED" for t in trials.values())
    assert sorted(t["parameters"]["task"] for t in listed) == sorted(
        ["mnist:0-vs-rest", "fashion-mnist:trouser-vs-rest", "mnist:sock-vs-rest"])  # each grid point once
    # a bad task fails its own trial, with its one-line error in that trial's log, and the others go on
    failed = [t for t in listed if not t["final"]]
    assert len(failed) == 1 and failed[0]["status"] == "FAILED"
    stderr = list((tmp_path / "nni" / exp_id).rglob(f"{failed[0]['id']}/trial.stderr"))
    assert len(stderr) == 1
    assert "tanas: error: unknown class 'sock'" in stderr[0].read_text() and "Traceback" not in stderr[0].read_text()
    assert len(curve) == 2 and "val_acc" in curve[0]

    store = DictionaryStore.open(tmp_path / "dict")
    assert store.task_ids() == ["fashion-mnist:trouser-vs-rest", "mnist:0-vs-rest"]
    for task, t in trials.items():
        entry = store.get(task)
        assert t["final"]["test_acc"] == entry.metrics["test_acc"] > 0.5
        assert t["final"]["data_fingerprint"] == entry.meta["data_fingerprint"]
