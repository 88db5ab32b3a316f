"""The distance API, its cache and the ``tanas distance`` / ``tanas distance-matrix`` commands."""
from __future__ import annotations

import json
import shutil
import time

import pytest
import torch

from tanas_nni.cli import main
from tanas_nni.dictionary import DictionaryStore
from tanas_nni.distance import distances_to, get_distance
from tanas_nni.distance.fisher import FisherDistance
from tanas_nni.core.errors import TanasError

FAST = {"samples": 64}


@pytest.fixture
def store(tiny_dictionary, tmp_path):
    shutil.copytree(tiny_dictionary.root, tmp_path / "dictionary")
    return DictionaryStore.open(tmp_path / "dictionary")


def test_get_distance_validates():
    assert isinstance(get_distance("fisher", variant="one"), FisherDistance)
    with pytest.raises(TanasError, match="unknown"):
        get_distance("euclid")
    with pytest.raises(TanasError, match="distance.fisher: unknown key 'sample'"):
        get_distance("fisher", sample=10)
    with pytest.raises(TanasError, match="distance.transfer.epsilon"):
        get_distance("transfer", epsilon=-1)
    with pytest.raises(TanasError, match="unexplained.*needs criterion"):  # refused when the settings are made
        get_distance("transfer", score="unexplained", criterion="probe")


def _count_computations(monkeypatch) -> list:
    calls: list = []
    real = FisherDistance.distance
    monkeypatch.setattr(FisherDistance, "distance", lambda self, s, t: calls.append(s.task) or real(self, s, t))
    return calls


def test_nearest_first_and_cached(store, data_dir, monkeypatch):
    rows = distances_to("mnist:0-vs-rest", store, "fisher", data_dir, **FAST)
    assert rows[0] == ("mnist:0-vs-rest", 0.0)
    assert [d for _, d in rows] == sorted(d for _, d in rows)
    distances_to("fashion-mnist:trouser-vs-rest", store, "fisher", data_dir, **FAST)
    calls = _count_computations(monkeypatch)
    t0 = time.perf_counter()
    again = distances_to("mnist:0-vs-rest", store, "fisher", data_dir, **FAST)
    assert again == rows and time.perf_counter() - t0 < 1.0
    # an alias of the same task (class index) hits the same cache
    assert distances_to("fashion-mnist:1-vs-rest", store, "fisher", data_dir, **FAST) == \
        distances_to("fashion-mnist:trouser-vs-rest", store, "fisher", data_dir, **FAST)
    assert calls == []  # nothing was computed again


def test_rebuilt_entry_invalidates_the_cache(store, data_dir, monkeypatch):
    distances_to("mnist:1-vs-rest", store, "fisher", data_dir, **FAST)
    store.update("mnist:0-vs-rest", architecture={"arch": {}, "score": {}})  # metadata only: the cache holds
    calls = _count_computations(monkeypatch)
    distances_to("mnist:1-vs-rest", store, "fisher", data_dir, **FAST)
    assert calls == []
    entry = store.get("mnist:0-vs-rest")  # a rebuild: other weights
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in torch.load(entry.path / "weights.pt").items()}
    store.put(entry.task, {k: v for k, v in entry.meta.items() if k not in ("checksum", "files")}, state_dict=state)
    monkeypatch.undo()
    calls = _count_computations(monkeypatch)
    distances_to("mnist:1-vs-rest", store, "fisher", data_dir, **FAST)
    assert len(calls) == 4


def test_target_outside_the_dictionary(store, data_dir):
    rows = distances_to("mnist:7-vs-rest", store, "fisher", data_dir, **FAST)
    assert len(rows) == 4 and all(d > 0 for _, d in rows)
    cached = list((store.root / "cache" / "distance-targets").glob("*.pt"))
    assert len(cached) == 1
    written = cached[0].stat().st_mtime_ns
    # another method reuses the trained target network (the file is not written again)
    distances_to("mnist:7-vs-rest", store, "transfer", data_dir, hidden=[8], epochs=1, finetune_epochs=0, step=0.5)
    assert list((store.root / "cache" / "distance-targets").glob("*.pt")) == cached
    assert cached[0].stat().st_mtime_ns == written


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_distance(store, data_dir, capsys):
    code, out, _ = _run(capsys, "distance", "--target", "fashion-mnist:coat-vs-rest", "-d", str(store.root),
                        "--data-dir", str(data_dir), "--set", "samples=64", "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0] == {"source": "fashion-mnist:coat-vs-rest", "distance": 0.0} and len(rows) == 4


@pytest.mark.parametrize("argv, message", [
    (["--method", "euclid"], "distance method 'euclid' is unknown"),
    (["--target", "mnist:42-vs-rest"], "42"),
    (["--target", "nonsense"], "task id 'nonsense'"),
    (["--set", "samples"], "expected key=value"),
])
def test_cli_bad_input(store, data_dir, capsys, argv, message):
    args = ["distance", "--target", "mnist:0-vs-rest", "-d", str(store.root), "--data-dir", str(data_dir)]
    for i in range(0, len(argv), 2):
        flag, value = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("tanas: error:") and message in err


def test_cli_empty_dictionary(tmp_path, data_dir, capsys):
    empty = DictionaryStore.open(tmp_path / "empty", create=True)
    code, _, err = _run(capsys, "distance", "--target", "mnist:0-vs-rest", "-d", str(empty.root))
    assert code == 2 and "has no entries" in err and err.count("\n") == 1


def test_cli_mixed_input_shapes(store, data_dir, capsys):
    store.update("mnist:1-vs-rest", input_shape=[1, 32, 32])
    code, _, err = _run(capsys, "distance-matrix", "-m", "fisher", "-d", str(store.root), "--data-dir", str(data_dir))
    assert code == 2 and "different input shapes" in err and err.count("\n") == 1


def test_cli_matrix_report(store, data_dir, tmp_path, capsys):
    out = tmp_path / "report"
    code, stdout, err = _run(capsys, "distance-matrix", "-d", str(store.root), "--data-dir", str(data_dir),
                             "--out", str(out), "--set", "fisher.samples=64", "--set", "transfer.hidden=[8]",
                             "--set", "transfer.epochs=1", "--set", "transfer.step=0.5")
    assert code == 0, err
    for m in ("fisher", "transfer"):
        for ext in ("csv", "png", "json"):
            assert (out / f"distance-{m}.{ext}").is_file()
        summary = json.loads((out / f"distance-{m}.json").read_text())
        assert summary["targets"] == 4 and set(summary["nearest"]) == set(store.task_ids())
    rows = (out / "distance-fisher.csv").read_text().splitlines()
    assert rows[0].startswith("source \\ target,") and len(rows) == 5
    assert "Spearman rank correlation fisher vs transfer" in (out / "summary.md").read_text()
    assert "distance-matrix[fisher]" in err


def test_distance_config_from_yaml_mapping():
    from tanas_nni.core.config import from_dict
    from tanas_nni.distance import DistanceConfig

    cfg = from_dict(DistanceConfig, {"method": "transfer", "settings": {"epsilon": 0.05}}, where="exp.yml distance")
    assert cfg.build().settings.epsilon == 0.05
    with pytest.raises(TanasError, match="distance.transfer: unknown key 'eps'"):
        from_dict(DistanceConfig, {"method": "transfer", "settings": {"eps": 0.05}}, where="exp.yml distance")


def test_matrix_summary_on_a_hand_made_matrix():
    from tanas_nni.distance.report import matrix_summary

    tasks = ["mnist:0-vs-rest", "mnist:1-vs-rest", "fashion-mnist:trouser-vs-rest"]
    m = [[0, 1, 4],   # rows source, columns target
         [2, 0, 6],
         [3, 5, 0]]
    s = matrix_summary(tasks, m)
    assert s["nearest"]["mnist:0-vs-rest"] == {"nearest": "mnist:1-vs-rest", "distance": 2.0, "same_dataset": True,
                                               "column_mean": 2.5}
    assert s["nearest"]["fashion-mnist:trouser-vs-rest"]["column_mean"] == 5.0
    assert s["nearest_same_dataset"] == 2 and s["rank_auc"] == 1.0  # both MNIST columns rank the MNIST source first
    assert s["mean_by_pair"] == {"fashion-mnist->mnist": 4.0, "mnist->fashion-mnist": 5.0, "mnist->mnist": 1.5}
