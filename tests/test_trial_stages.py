"""The nnictl trial stages run standalone exactly as NNI runs them (`python -m tanas_nni.experiment.trial <stage>`)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import torch
import yaml

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import distances_to
from tests.conftest import REPO


def _trial(*argv, timeout=300, env=None):
    r = subprocess.run([sys.executable, "-m", "tanas_nni.experiment.trial", *map(str, argv)], capture_output=True,
                       text=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})
    final = [l for l in r.stderr.splitlines() if l.startswith("final result: ")]
    return r.returncode, (json.loads(final[-1][len("final result: "):]) if final else None), r.stderr


def test_distance_stage_fills_the_cache_the_matrix_reads(tiny_dictionary, tmp_path, data_dir):
    shutil.copytree(tiny_dictionary.root, tmp_path / "d")
    cfg = tmp_path / "distance.yml"
    cfg.write_text(yaml.safe_dump({"dictionary": "d", "data_dir": str(data_dir),
                                   "distance": {"method": "fisher", "settings": {"samples": 64}}}))
    # One thread in both processes: the cache tells thread counts apart (their sums differ in the last digits).
    code, final, err = _trial("distance", "--config", cfg, "--param", "target=mnist:0-vs-rest",
                              env={"OMP_NUM_THREADS": "1"})
    assert code == 0, err
    assert final["target"] == "mnist:0-vs-rest" and final["nearest"] != "mnist:0-vs-rest"
    assert final["distances"]["mnist:0-vs-rest"] == 0.0 and len(final["distances"]) == 4
    # the trial's column is what the API returns from the cache, without computing again
    store = DictionaryStore.open(tmp_path / "d")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        again = dict(distances_to("mnist:0-vs-rest", store, "fisher", str(data_dir), samples=64,
                                  log=lambda m: (_ for _ in ()).throw(AssertionError(f"recomputed: {m}"))))
    finally:
        torch.set_num_threads(threads)
    assert again == final["distances"]


def test_distance_stage_bad_input_fails_the_trial(tmp_path, tiny_dictionary):
    cfg = tmp_path / "distance.yml"
    cfg.write_text(yaml.safe_dump({"dictionary": str(tiny_dictionary.root), "distance": {"method": "nope"}}))
    code, final, err = _trial("distance", "--config", cfg, "--param", "target=mnist:0-vs-rest")
    assert code == 2 and final is None
    assert err.strip().splitlines()[-1].startswith("tanas: error:") and "Traceback" not in err


def test_pipeline_stage_standard_space(tmp_path, data_dir):
    cfg = tmp_path / "search.yml"
    cfg.write_text(yaml.safe_dump({
        "target": "quickdraw:cat-vs-rest", "space": "standard", "data_dir": str(data_dir), "seed": 0,
        "samples": {"train": 200, "val": 100, "test": 100}, "threads": 1,
        "fuse": {"candidates_per_round": 2, "rounds": 1, "cycles": 1},
        "retrain": {"epochs": 1}, "out": str(tmp_path / "out")}))
    code, final, err = _trial("pipeline", "--config", cfg, "--param", "target=quickdraw:eye-vs-rest", timeout=600)
    assert code == 0, err[-2000:]
    assert final["target"] == "quickdraw:eye-vs-rest"  # the NNI parameter overrides the config
    assert 0 <= final["test_error_pct"] <= 100 and final["params_m"] > 0 and final["search_seconds"] > 0
    # each target's export in a folder of its own under the config's `out`, named like `tanas search`'s default
    assert final["out"] == str(tmp_path / "out" / "quickdraw__eye-vs-rest-standard-fuse-s0")
    assert (tmp_path / "out" / "quickdraw__eye-vs-rest-standard-fuse-s0" / "architecture.json").is_file()


def test_rerun_dictionary_trial_reuses_the_finished_entry(tmp_path, data_dir):
    cfg = tmp_path / "dictionary.yml"
    cfg.write_text(yaml.safe_dump({
        "dictionary": "d", "data_dir": str(data_dir), "tasks": ["mnist:0-vs-rest"], "threads": 1,
        "samples": {"train": 200, "val": 100, "test": 100}, "network": {"width": 8, "features": 16},
        "training": {"epochs": 1, "batch_size": 64}}))
    code, first, err = _trial("dictionary", "--config", cfg, "--param", "task=mnist:3-vs-rest")
    assert code == 0, err
    checksum = DictionaryStore.open(tmp_path / "d").get("mnist:3-vs-rest").checksum
    code, second, err = _trial("dictionary", "--config", cfg, "--param", "task=mnist:3-vs-rest")
    assert code == 0 and "finished already" in err and "reusing it" in err
    assert second == first
    assert DictionaryStore.open(tmp_path / "d").get("mnist:3-vs-rest").checksum == checksum
