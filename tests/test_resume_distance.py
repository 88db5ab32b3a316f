"""Kill-and-resume for the distance matrix: SIGKILL it mid-run, rerun, get the uninterrupted matrix."""
from __future__ import annotations

import shutil
import signal
import sys


def _matrix(run_killed, root, out, data_dir, kill_after: str | None = None) -> int:
    cmd = [sys.executable, "-m", "tanas_nni.cli", "distance-matrix", "-m", "fisher", "--set", "fisher.samples=64",
           "-d", str(root), "--data-dir", str(data_dir), "--out", str(out)]
    return run_killed(cmd, kill_after)


def test_killed_distance_matrix_resumes_to_the_same_matrix(tiny_dictionary, tmp_path, data_dir, run_killed):
    for name in ("ref", "run"):
        shutil.copytree(tiny_dictionary.root, tmp_path / name)
    assert _matrix(run_killed, tmp_path / "ref", tmp_path / "ref-out", data_dir) == 0
    # killed while the third column is being computed: two columns are in the cache, the third is not
    assert _matrix(run_killed, tmp_path / "run", tmp_path / "run-out", data_dir, kill_after="target 3/4") == -signal.SIGKILL
    cached = list((tmp_path / "run" / "cache").rglob("*.json"))
    assert cached and not (tmp_path / "run-out").exists()
    assert _matrix(run_killed, tmp_path / "run", tmp_path / "run-out", data_dir) == 0
    ref = next((tmp_path / "ref-out").glob("*fisher*.csv")).read_text()
    got = next((tmp_path / "run-out").glob("*fisher*.csv")).read_text()
    assert got == ref
