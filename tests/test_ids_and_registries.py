"""One owner per concept: task ids canonical wherever they enter; registered distances usable everywhere; one export
folder per target."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tanas_nni.cli import main
from tanas_nni.core.errors import TanasError
from tanas_nni.data import canonical_task_id, task_folder
from tanas_nni.distance import DISTANCES, TaskDistance, register_distance
from tanas_nni.pipeline import load_search_config, task_aware_space
from tests.conftest import REPO
from tests.test_task_aware import with_fake_architectures

ALIASES = ["fashion-mnist:1-vs-rest", " FASHION-MNIST: Trouser-VS-rest", "fashion-mnist:trouser-vs-rest"]


@pytest.fixture(scope="module")
def store(tiny_dictionary, tmp_path_factory):
    """The tiny dictionary with an architecture in every entry."""
    return with_fake_architectures(tiny_dictionary, tmp_path_factory.mktemp("ids") / "dictionary")


def test_one_spelling_per_task():
    assert {canonical_task_id(a) for a in ALIASES} == {"fashion-mnist:trouser-vs-rest"}
    for sneaky in ("mnist:../../../../3-vs-rest", "mnist:/etc/3-vs-rest", "quickdraw:caté-vs-rest", "mnist:3\n-vs-rest",
                   "mnist:3\x00-vs-rest"):
        with pytest.raises(TanasError, match="is not allowed"):
            task_folder(sneaky)
    assert task_folder("quickdraw:Smiley Face+cat") == "quickdraw__smiley-face_cat"
    for bad in ("mnist", "mnist:", ":3-vs-rest"):
        with pytest.raises(TanasError, match="target: task id"):
            canonical_task_id(bad, "target")


@pytest.mark.parametrize("alias", ALIASES)
def test_a_base_task_spelled_another_way_is_not_its_own_neighbour(alias, store, data_dir):
    space = task_aware_space(alias, store, method="fisher", k=3, data_dir=data_dir, samples=64)
    assert space.target == "fashion-mnist:trouser-vs-rest"
    assert "fashion-mnist:trouser-vs-rest" not in [t for t, _, _ in space.neighbours]
    assert all(d > 0 for _, d, _ in space.neighbours)


def test_configs_store_canonical_ids(tmp_path):
    cfg = tmp_path / "s.yml"
    cfg.write_text("target: 'MNIST: 0-VS-REST'\nspace: standard\n")
    assert load_search_config(cfg).target == "mnist:0-vs-rest"
    assert load_search_config(None, {"target": "fashion-mnist:4-vs-rest"}).target == "fashion-mnist:coat-vs-rest"


class PixelMean(TaskDistance):
    """A toy distance: how far apart the mean pixel values of the source's and the target's training images are."""

    symmetric = True

    from dataclasses import dataclass as _dc

    @_dc
    class Settings:
        scale: float = 1.0

    def distance(self, source, target):
        if target.is_source(source):
            return 0.0
        src = target.load_source_data(source)
        return self.settings.scale * abs(float(src.x["train"].mean()) - float(target.data.x["train"].mean()))


@pytest.fixture()
def toy_distance():
    register_distance("pixel-mean")(PixelMean)  # the one registration
    yield "pixel-mean"
    DISTANCES.pop("pixel-mean")


def test_a_registered_distance_works_from_the_cli_and_a_yaml_config(toy_distance, store, data_dir, tmp_path, capsys):
    assert main(["distance", "--target", "mnist:2-vs-rest", "--method", "pixel-mean", "--dictionary",
                 str(store.root), "--data-dir", str(data_dir)]) == 0
    assert "mnist:2-vs-rest" in capsys.readouterr().out
    cfg = tmp_path / "search.yml"
    cfg.write_text(yaml.safe_dump({
        "target": "mnist:2-vs-rest", "method": "pixel-mean", "k": 2, "dictionary": str(store.root),
        "data_dir": str(data_dir), "samples": {"train": 128, "val": 64, "test": 64}, "threads": 1,
        "fuse": {"candidates_per_round": 2, "rounds": 1, "cycles": 1, "alpha_epochs": 1},
        "retrain": {"epochs": 1}, "out": "export"}))
    assert main(["search", "--config", str(cfg), "--quiet"]) == 0
    space = json.loads((tmp_path / "export" / "space.json").read_text())["space"]
    assert space["method"] == "pixel-mean" and len(space["neighbours"]) == 2
    # Unregistered, the same name is refused with the names that are known.
    DISTANCES.pop("pixel-mean")
    try:
        assert main(["search", "--config", str(cfg), "--quiet"]) == 2
        assert "unknown distance 'pixel-mean' (known: fisher, otdd, transfer)" in capsys.readouterr().err
    finally:
        DISTANCES["pixel-mean"] = PixelMean


def test_each_target_of_the_pipeline_experiment_gets_its_own_export(tmp_path, data_dir):
    cfg = tmp_path / "search.yml"
    cfg.write_text(yaml.safe_dump({
        "target": "mnist:0-vs-rest", "space": "standard", "data_dir": str(data_dir), "threads": 1,
        "samples": {"train": 128, "val": 64, "test": 64},
        "fuse": {"candidates_per_round": 2, "rounds": 1, "cycles": 1, "alpha_epochs": 1},
        "retrain": {"epochs": 1}, "out": "exports"}))
    for target in ("mnist:3-vs-rest", "fashion-mnist:coat-vs-rest"):
        r = subprocess.run([sys.executable, "-m", "tanas_nni.experiment.trial", "pipeline", "--config", str(cfg),
                            "--param", f"target={target}"], capture_output=True, text=True, cwd=REPO, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    folders = sorted(p.name for p in (tmp_path / "exports").iterdir())
    assert folders == ["fashion-mnist__coat-vs-rest-standard-fuse-s0", "mnist__3-vs-rest-standard-fuse-s0"]
    for name in folders:
        metrics = json.loads((tmp_path / "exports" / name / "metrics.json").read_text())
        assert name.startswith(task_folder(metrics["target"]))


def test_a_plugin_module_registers_for_the_tanas_command(store, data_dir, tmp_path):
    (tmp_path / "my_plugin.py").write_text(
        "from tests.test_ids_and_registries import PixelMean\n"
        "from tanas_nni.distance import register_distance\n"
        "register_distance('pixel-mean')(PixelMean)\n")
    env = {**__import__("os").environ, "TANAS_PLUGINS": "my_plugin",
           "PYTHONPATH": f"{tmp_path}:{REPO}"}
    cmd = [sys.executable, "-m", "tanas_nni.cli", "distance", "--target", "mnist:2-vs-rest", "--method",
           "pixel-mean", "--dictionary", str(store.root), "--data-dir", str(data_dir), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(json.loads(r.stdout)) == 4
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, "TANAS_PLUGINS": "no_such_plugin"},
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == ("tanas: error: TANAS_PLUGINS: cannot import 'no_such_plugin' "
                                                     "(No module named 'no_such_plugin'); put its folder on "
                                                     "PYTHONPATH or install it")
