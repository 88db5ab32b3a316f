"""The package as users get it: a wheel, installed into an environment outside the checkout, run from a folder that is
not the checkout. The wheel must carry everything a command needs (the standard space, the stage configs, the NNI
experiment templates), found with importlib.resources."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.space import Architecture
from tests.conftest import REPO

# Small architectures planted in a copy of the tiny dictionary, so that the task-aware search takes seconds.
SMALL = {"skeleton": {"stem": 8, "cells": 2, "reductions": [0, 1]},
         "cell": {"nodes": 3, "edges": [[0, 1, "sep_conv_3x3"], [1, 2, "max_pool_3x3"], [0, 2, "skip_connect"]]}}
BUDGET = ["--train-samples", "192", "--val-samples", "96", "--test-samples", "96", "--rounds", "1",
          "--candidates-per-round", "2", "--cycles", "1", "--retrain-epochs", "1", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the sources, so that the checkout gets no build/ or egg-info folder.
    src = tmp_path_factory.mktemp("src") / "tanas-nni"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", ".hypothesis"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (whl,) = out.glob("tanas_nni-*.whl")
    return whl


@pytest.fixture(scope="module")
def env(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed. Its dependencies (torch is a multi-GB build) are this
    environment's, reached through a .pth line: paths added that way are not site directories, so the editable
    install's own .pth hook (which would put the checkout back on the path) is not run there."""
    root = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(root)],
                   check=True, timeout=120)
    site = Path(subprocess.run([str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    return root


def run(env: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ.update(PATH=f"{env / 'bin'}{os.pathsep}{environ.get('PATH', '')}", OMP_NUM_THREADS="1")
    return subprocess.run([str(env / "bin" / args[0]), *args[1:]], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


def test_the_wheel_carries_the_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("search_spaces/standard.yml", "configs/dictionary.yml", "configs/demo.yml", "configs/compare.yml",
                 "experiments/dictionary.yml", "experiments/quickdraw_tanas.yml"):
        assert f"tanas_nni/resources/{name}" in names, name


def test_wheel_outside_the_checkout_runs_a_standard_and_a_task_aware_search(env, tiny_dictionary, data_dir,
                                                                           tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(env, work, "python", "-c", "import tanas_nni, sys; print(tanas_nni.__file__); print(*sys.path, sep=chr(10))")
    assert where.returncode == 0, where.stderr
    assert where.stdout.splitlines()[0].startswith(str(env)), where.stdout  # the wheel's copy, not the checkout's
    # the checkout is not on the path (its .venv, which holds the dependencies, is: see the env fixture)
    assert str(REPO) not in where.stdout.splitlines()[1:]

    init = run(env, work, "tanas", "init", "my-exp")
    assert init.returncode == 0, init.stderr
    exp = yaml.safe_load((work / "my-exp" / "experiments" / "dictionary.yml").read_text())
    assert exp["trialCodeDirectory"] == ".." and "python3 -m tanas_nni.experiment.trial" in exp["trialCommand"]

    std = run(env, work, "tanas", "search", "--target", "mnist:0-vs-rest", "--space", "standard", "--data-dir",
              str(data_dir), "--out", "std", *BUDGET)
    assert std.returncode == 0, std.stderr
    assert (work / "std" / "metrics.json").is_file() and std.stdout.strip() == "std"

    root = work / "dictionary"
    shutil.copytree(tiny_dictionary.root, root)
    store = DictionaryStore.open(root)
    for task in store.task_ids():
        store.update(task, architecture={"arch": Architecture.from_dict(SMALL).to_dict(), "score": {"val_acc": 0.9},
                                         "space": "standard", "strategy": "fuse", "settings": {}})
    ta = run(env, work, "tanas", "search", "--target", "mnist:2-vs-rest", "--space", "task-aware", "--k", "2",
             "--dictionary", "dictionary", "--data-dir", str(data_dir), "--out", "ta", *BUDGET)
    assert ta.returncode == 0, ta.stderr
    assert (work / "ta" / "metrics.json").is_file()
