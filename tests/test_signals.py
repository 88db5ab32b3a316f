"""SIGINT and SIGTERM at random moments of a real `tanas search`: a one-line message, exit 130 / 143, a rerun that
resumes to the same search result as an uninterrupted run."""
from __future__ import annotations

import importlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tanas_nni.core.signals import Interrupted, install_signal_handlers, restore_signal_handlers, signals_deferred
from tests.conftest import TINY_SPACE


def command(out, data_dir, space):
    return [sys.executable, "-m", "tanas_nni.cli", "search", "--target", "mnist:0-vs-rest", "--space", "standard",
            "--space-file", str(space), "--data-dir", str(data_dir), "--out", str(out), "--threads", "1",
            "--train-samples", "512", "--val-samples", "128", "--test-samples", "128", "--rounds", "2",
            "--candidates-per-round", "2", "--cycles", "2", "--retrain-epochs", "1"]


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("sig") / "tiny.yml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir, space):
    out = tmp_path_factory.mktemp("sig") / "full"
    subprocess.run(command(out, data_dir, space), check=True, capture_output=True,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return out


@pytest.mark.parametrize("sig, code, seed", [(signal.SIGINT, 130, 1), (signal.SIGTERM, 143, 2),
                                             (signal.SIGINT, 130, 3)])
def test_a_signal_at_a_random_moment_stops_cleanly_and_the_rerun_resumes(sig, code, seed, tmp_path, data_dir, space,
                                                                         uninterrupted):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(command(tmp_path / "cut", data_dir, space), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    # Anywhere from the interpreter's start-up to the middle of the search: imports, data, FUSE's phases.
    time.sleep(random.Random(seed).uniform(0.2, 6.0))
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal; nothing to check")
    lines = [l for l in err.splitlines() if l.strip()]
    assert proc.returncode == code, err[-3000:]
    assert lines[-1] == (f"tanas: interrupted ({signal.Signals(sig).name}); run the same command again to resume")
    assert "Traceback" not in err
    rerun = subprocess.run(command(tmp_path / "cut", data_dir, space), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for name in ("ranking.csv", "alpha_trajectory.csv", "architecture.json"):
        assert (tmp_path / "cut" / name).read_text() == (uninterrupted / name).read_text(), name
    full, cut = (torch.load(d / "weights.pt", weights_only=True) for d in (uninterrupted, tmp_path / "cut"))
    assert all(torch.equal(full[k], cut[k]) for k in full)


@pytest.mark.parametrize("sig, then_a_deferred_block", [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_signal_during_an_import_is_raised_once_the_import_has_finished(tmp_path, monkeypatch, sig,
                                                                          then_a_deferred_block):
    # Raised inside the import, the exception could cross a C++ extension's initialisation (torch's aborts the process);
    # so the module is imported whole and the stop comes right after.
    name = f"module_interrupted_by_{sig.name.lower()}"
    (tmp_path / f"{name}.py").write_text(
        f"import os, signal, time\nos.kill(os.getpid(), signal.{sig.name})\ntime.sleep(0.3)\nCOMPLETE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    previous = install_signal_handlers()
    try:
        with pytest.raises(Interrupted) as e:
            importlib.import_module(name)
            if then_a_deferred_block:
                with signals_deferred():  # ends before the signal comes again: it must not drop it
                    pass
            time.sleep(2)  # the signal comes again here, outside any import
            pytest.fail("the signal was lost")
        assert e.value.signum == sig and sys.modules[name].COMPLETE
    finally:
        restore_signal_handlers(previous)
        sys.modules.pop(name, None)


def test_an_entry_point_run_from_a_modules_top_level_is_still_stopped(tmp_path, monkeypatch):
    # The import that runs the entry point is not one to wait for: the signal is raised at once, not sent round again.
    (tmp_path / "module_that_runs_an_entry_point.py").write_text(
        "import os, signal, time\nfrom tanas_nni.core.signals import run_stoppable\n"
        "def work():\n    os.kill(os.getpid(), signal.SIGTERM)\n    time.sleep(3)\n    return 0\n"
        "started = time.perf_counter()\nCODE = run_stoppable(work, 'again')\n"
        "SECONDS = time.perf_counter() - started\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import module_that_runs_an_entry_point as m
        assert m.CODE == 143 and m.SECONDS < 2
    finally:
        sys.modules.pop("module_that_runs_an_entry_point", None)


def test_a_signal_inside_a_deferred_block_is_delivered_when_the_block_ends():
    previous = install_signal_handlers()
    try:
        done = []
        with pytest.raises(Interrupted) as e:
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler would have run by now, had it not been held back
                done.append("rest of the block")
        assert done == ["rest of the block"] and e.value.signum == signal.SIGTERM
        with signals_deferred():  # nothing pending: nothing raised, and the handlers are back
            pass
        assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM)
    finally:
        restore_signal_handlers(previous)


NAS_RUN = """
import json, os, pathlib, sys
import nni
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.experiment import NasExperimentConfig
from nni.nas.strategy import Random
from tanas_nni.strategy import nas_experiment
from tests.test_fuse import Toy

home = pathlib.Path.home() / "nni-experiments"
home.mkdir()
# What a killed process whose pid this one now has leaves behind; NNI would wait on it for ever.
(home / f".experiment.lock.{os.getpid()}").touch()
config = NasExperimentConfig("sequential", "raw")
config.experiment_working_directory = sys.argv[1]
config.max_trial_number = 2
with nas_experiment(Toy(2), FunctionalEvaluator(lambda model: nni.report_final_result(0.5)), Random(seed=0),
                    config) as exp:
    exp.run()
    print("status:", json.loads((home / ".experiment").read_text())[exp.id]["status"])
print("status:", json.loads((home / ".experiment").read_text())[exp.id]["status"])
"""


def test_an_nni_experiment_is_stopped_when_its_block_ends_even_past_a_stale_manifest_lock(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(NAS_RUN)
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "work")], capture_output=True, text=True,
                       timeout=60, cwd=root, env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(root),
                                                   "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert [l for l in r.stdout.splitlines() if l.startswith("status:")] == ["status: RUNNING", "status: STOPPED"]  # stopped by the block, not left to NNI's exit hook
    assert not list((tmp_path / "nni-experiments").glob(".experiment.lock.*"))
