"""The comparison the NNI way: `nnictl create --config experiments/quickdraw_compare.yml` (tiny budget), then
`tanas report <experiment id>` after the experiment is stopped, from NNI's own records."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from tanas_nni.cli import main
from tanas_nni.experiment import nnictl


def test_nnictl_compare_experiment_and_report_after_stop(tmp_path, data_dir):
    work = tmp_path / "work"  # a user's folder, as `tanas init` writes it
    assert main(["init", str(work)]) == 0
    stage = work / "configs" / "compare.yml"
    stage.write_text(yaml.safe_dump({
        "target": "mnist:3-vs-rest", "data_dir": str(data_dir), "results": str(tmp_path / "results"), "threads": 1,
        "budget": "tiny", "budgets": {"tiny": {
            "samples": {"train": 192, "val": 96, "test": 96}, "retrain": {"epochs": 2, "batch_size": 64},
            "fuse": {"candidates_per_round": 2, "rounds": 1, "cycles": 1, "batch_size": 64}}},
        "space_file": None}))
    cfg = work / "experiments" / "quickdraw_compare.yml"
    exp = yaml.safe_load(cfg.read_text())
    # Two real methods and one that does not exist: its trial fails, the others go on.
    exp["searchSpace"]["method"]["_value"] = ["cnn5", "fuse-standard", "nasnet"]
    exp["maxTrialNumber"] = 3
    # One trial at a time, as shipped: with two concurrent local trials NNI 3.0 can hand a trial the other's
    # parameters (seen here: the web UI then labels one method's metrics with the other's name).
    assert exp["trialConcurrency"] == 1
    exp["experimentWorkingDirectory"] = str(tmp_path / "nni")
    cfg.write_text(yaml.safe_dump(exp))

    port = nnictl.free_port(8170, 8199)
    exp_id = nnictl.start(cfg, port)
    try:
        nnictl.wait(port, timeout=300)
        listed = nnictl.trials(port)
        # Keyed by the method each trial reports it ran (NNI 3.0 may list a trial with another's parameters:
        # microsoft/nni#5726); the one without a final metric is the failed one.
        trials = {t["final"]["method"] if t["final"] else "failed": t for t in listed}
        curve = nnictl.intermediate(port, trials["cnn5"]["id"])
    finally:
        nnictl.stop(exp_id, port)

    assert sorted(trials) == ["cnn5", "failed", "fuse-standard"]
    assert trials["cnn5"]["status"] == "SUCCEEDED" and trials["fuse-standard"]["status"] == "SUCCEEDED"
    assert trials["failed"]["status"] == "FAILED"
    # Which method failed is read from the trial's own stderr, not from NNI's (possibly mixed-up) parameter listing.
    stderr = list((tmp_path / "nni" / exp_id).rglob(f"{trials['failed']['id']}/trial.stderr"))
    assert len(stderr) == 1 and "unknown method 'nasnet'" in stderr[0].read_text()
    assert sorted(t["parameters"]["method"] for t in listed) == ["cnn5", "fuse-standard", "nasnet"]
    final = trials["fuse-standard"]["final"]
    record = json.loads((tmp_path / "results" / "mnist__3-vs-rest" / "fuse-standard.json").read_text())
    assert final["default"] == record["test_error"] and final["params"] == record["params"]
    assert final["search_seconds"] > 0 and final["architecture"] == record["architecture"]
    assert json.loads(final["budget"])["fuse"]["rounds"] == 1
    assert [p["epoch"] for p in curve if p["stage"] == "retrain"] == [1, 2]  # val accuracy per retraining epoch

    # The experiment is stopped: the report reads NNI's database, found through NNI's experiment registry.
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "tanas_nni.cli", "report", exp_id, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    table = (out / "report.md").read_text()
    assert f"| 5-conv CNN | {trials['cnn5']['final']['test_error']:.2f} |" in table
    assert "| FUSE, standard space |" in table and "| FAILED |" in table
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
