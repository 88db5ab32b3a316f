"""SIGINT and SIGTERM at random moments of a real `tanas search`: a one-line message, exit 130 / 143, a rerun that
resumes to the same search result as an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

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
