"""The search pipeline (space → FUSE → retrain → export), ``tanas search`` and ``tanas dictionary architectures``."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from tanas_nni.cli import main
from tanas_nni.data import SplitSizes, load_task
from tanas_nni.training import evaluate
from tests.conftest import TINY_SPACE


TINY_BUDGET = ["--train-samples", "256", "--val-samples", "128", "--test-samples", "128", "--rounds", "2",
               "--candidates-per-round", "2", "--cycles", "1", "--retrain-epochs", "1"]


@pytest.fixture()
def tiny_space(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(TINY_SPACE)
    return path


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_search_exports_a_folder_that_round_trips(data_dir, tiny_space, tmp_path, capsys):
    from tanas_nni.pipeline import load_exported

    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), *TINY_BUDGET])
    captured = capsys.readouterr()
    assert rc == 0
    # stdout: a short summary for people, ending with the export folder; progress goes to stderr
    summary = captured.out.strip().splitlines()
    assert [line.split()[0] for line in summary] == ["target", "nearest", "winner", "test", "search", "export"]
    assert summary[0].startswith("target       mnist:0-vs-rest") and "none (standard space)" in summary[1]
    assert summary[-1].split()[1] == str(out)
    assert "[search] round 1" in captured.err and "[retrain] epoch 1/1" in captured.err and "[done]" in captured.err
    for name in ("architecture.json", "weights.pt", "metrics.json", "config.yml", "ranking.csv",
                 "alpha_trajectory.csv", "space.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_error", "parameters", "search_seconds", "retrain_seconds", "device"):
        assert key in metrics
    config = yaml.safe_load((out / "config.yml").read_text())
    assert config["target"] == "mnist:0-vs-rest" and config["fuse"]["rounds"] == 2 and config["retrain"]["epochs"] == 1

    # The export is the ranking's winner and rebuilds into the trained network: same test accuracy as recorded.
    arch = json.loads((out / "architecture.json").read_text())
    ranking = (out / "ranking.csv").read_text().splitlines()
    assert ranking[1].split(",")[2] == arch["key"]
    model = load_exported(out)
    data = load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(256, 128, 128))
    assert evaluate(model, data.x["test"], data.y["test"])["acc"] == pytest.approx(metrics["test_acc"])
    again = load_exported(out)
    with torch.no_grad():
        assert torch.equal(model(data.x["test"][:16]), again(data.x["test"][:16]))


def test_rerun_resumes_the_search(data_dir, tiny_space, tmp_path, capsys):
    from tanas_nni.data import SplitSizes
    from tanas_nni.pipeline import SearchConfig, run_pipeline
    from tanas_nni.core.progress import Epoch, Finished, Resumed, RoundStart
    from tanas_nni.strategy import FuseConfig
    from tanas_nni.training import TrainConfig

    cfg = SearchConfig(target="mnist:1-vs-rest", space="standard", space_file=str(tiny_space), data_dir=str(data_dir),
                       samples=SplitSizes(256, 128, 128), fuse=FuseConfig(candidates_per_round=2, rounds=2, cycles=1),
                       retrain=TrainConfig(epochs=1), out=str(tmp_path / "o"))
    stages = []
    first = run_pipeline(cfg, progress=stages.append)
    kinds = [type(e) for e in stages]
    assert RoundStart in kinds and Epoch in kinds and isinstance(stages[-1], Finished)
    events = []
    second = run_pipeline(cfg, progress=events.append)
    # The finished search was restored from its checkpoint, not rerun.
    assert not any(isinstance(e, RoundStart) for e in events) and any(isinstance(e, Resumed) for e in events)
    assert second["winner_key"] == first["winner_key"]
    # ... and it reports the first run's seconds too, not only the restore's
    assert second.metrics["fuse_seconds"] >= first.metrics["fuse_seconds"] > 0


def test_bad_input_gives_one_line_and_exit_2(data_dir, tiny_dictionary, tmp_path, capsys):
    common = ["--data-dir", str(data_dir), "--out", str(tmp_path / "x")]
    assert main(["search", "--target", "mnist:0-vs-rest", "--strategy", "bogus", *common]) == 2
    assert "strategy: unknown strategy 'bogus'" in error_line(capsys)
    assert main(["search", "--target", "mnist:0-vs-rest", "--space", "huge", *common]) == 2
    assert "space: unknown space 'huge'" in error_line(capsys)
    assert main(["search", "--target", "mnist:2-vs-rest", "--dictionary", str(tiny_dictionary.root), "--k", "9",
                 *common]) == 2
    assert "k: 9 is larger than the dictionary (4 base tasks" in error_line(capsys)
    assert main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--candidates", "0", *common]) == 2
    assert "candidates: must be >= 2" in error_line(capsys)
    assert main(["search", "--space", "standard", *common]) == 2
    assert "target: no target task given" in error_line(capsys)
    bad = tmp_path / "bad.yml"
    bad.write_text("target: mnist:0-vs-rest\nfuse: {rounds: 0}\n")
    assert main(["search", "--config", str(bad), *common]) == 2
    assert "rounds: must be >= 1" in error_line(capsys)
    assert main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--retrain-top", "0", *common]) == 2
    assert "retrain_top: must be >= 1" in error_line(capsys)
    assert main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--retrain-top", "99",
                 *common]) == 2
    assert "retrain_top: 99 is more than the 10 candidates the search compares; give at most 10" in error_line(capsys)
    bad.write_text("target: mnist:0-vs-rest\nretrain_top: -1\n")
    assert main(["search", "--config", str(bad), *common]) == 2
    line = error_line(capsys)
    assert str(bad) in line and "retrain_top: must be >= 1" in line


def test_empty_candidate_list_is_refused(data_dir):
    from tanas_nni.core.errors import TanasError
    from tanas_nni.pipeline import search
    from tanas_nni.space import TaskAwareSpace

    data = load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(64, 32, 32))
    with pytest.raises(TanasError, match="candidates: the space produced no candidate"):
        search(data, TaskAwareSpace.standard(), candidates=[])


def test_dictionary_architectures_is_resumable(tiny_dictionary, data_dir, tiny_space, tmp_path, capsys):
    from tanas_nni.dictionary import DictionaryStore
    from tanas_nni.space import Architecture
    from tests.test_architectures import _config

    config, root, tasks = _config(tmp_path, tiny_dictionary, data_dir, tiny_space, candidates=3, retrain_top=2)
    assert main(["dictionary", "architectures", str(config)]) == 0
    store = DictionaryStore.open(root)
    stored = {}
    for t in tasks:
        arch = store.get(t).architecture
        assert arch["space"] == "standard" and arch["strategy"] == "sample-rank-retrain"
        # Selection: the kept architecture is the best *retrained* one of the top 2 by the cheap ranking.
        assert len(arch["ranking"]) == 3 and len(arch["retrained"]) == 2
        top2 = sorted(arch["ranking"], key=lambda r: -r["rank_val_acc"])[:2]
        assert {r["key"] for r in arch["retrained"]} == {r["key"] for r in top2}
        assert arch["score"]["retrained_val_acc"] == max(r["val_acc"] for r in arch["retrained"])
        assert arch["key"] == max(arch["retrained"], key=lambda r: r["val_acc"])["key"]
        assert arch["score"]["network_val_acc"] == store.get(t).metrics["val_acc"]
        assert set(arch["provenance"]) >= {"search", "config_key", "seed", "date", "commit"}
        stored[t] = Architecture.from_dict(arch["arch"])
    capsys.readouterr()
    assert main(["dictionary", "list", "--dictionary", str(root)]) == 0
    assert capsys.readouterr().out.count("network ") == len(tasks)
    capsys.readouterr()
    # Resumable: a rerun skips every task that has one, and changes nothing.
    assert main(["dictionary", "architectures", str(config)]) == 0
    assert capsys.readouterr().err.count("has an architecture already") == len(tasks)
    assert {t: Architecture.from_dict(store.get(t).architecture["arch"]) for t in tasks} == stored


def test_search_killed_mid_way_resumes_to_the_same_result(data_dir, tiny_space, tmp_path):
    """A `tanas search` killed (SIGKILL) after some phase checkpoints, then rerun, ends as an uninterrupted run does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    def command(out):
        return [sys.executable, "-m", "tanas_nni.cli", "search", "--target", "mnist:0-vs-rest", "--space", "standard",
                "--space-file", str(tiny_space), "--data-dir", str(data_dir), "--out", str(out), "--threads", "1",
                "--train-samples", "512", "--val-samples", "128", "--test-samples", "128", "--rounds", "3",
                "--candidates-per-round", "2", "--cycles", "2", "--retrain-epochs", "1", "--quiet"]

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(command(tmp_path / "full"), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(command(tmp_path / "cut"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        # the search checkpoints into a folder keyed by its candidates, budget, seed and data
        trajectory = next((tmp_path / "cut" / "search").glob("*/trajectory.csv"), None)
        if trajectory and len(trajectory.read_text().splitlines()) >= 4:  # 3 phase-epochs checkpointed
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed; make the budget larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run([a for a in command(tmp_path / "cut") if a != "--quiet"], check=True, env=env,
                           capture_output=True, text=True)
    assert "[search] resuming from" in rerun.stderr  # resumed from the kill's checkpoint, not started afresh
    for name in ("ranking.csv", "alpha_trajectory.csv", "architecture.json"):
        assert (tmp_path / "full" / name).read_text() == (tmp_path / "cut" / name).read_text(), name
    # The retrained winner too, bit for bit: its initial weights come from the seed, not from what the (resumed)
    # search left in torch's generator.
    full, cut = (torch.load(tmp_path / d / "weights.pt", weights_only=True) for d in ("full", "cut"))
    assert full.keys() == cut.keys() and all(torch.equal(full[k], cut[k]) for k in full)
    errors = [json.loads((tmp_path / d / "metrics.json").read_text())["test_error"] for d in ("full", "cut")]
    assert errors[0] == errors[1]


def test_retrain_top_keeps_the_best_finalist_on_validation(data_dir, tiny_space, tmp_path, capsys):
    """``--retrain-top 2``: FUSE's best two are each retrained from scratch; the export is the one with the better
    validation accuracy (ties: FUSE's order), tested once, and the other's training counts in the search cost."""
    from tanas_nni.pipeline import load_exported

    out = tmp_path / "out"
    rc = main(["search", "--target", "mnist:0-vs-rest", "--space", "standard", "--space-file", str(tiny_space),
               "--data-dir", str(data_dir), "--out", str(out), "--retrain-top", "2", *TINY_BUDGET])
    captured = capsys.readouterr()
    assert rc == 0
    assert "[retrain] finalist 1/2" in captured.err and "[retrain] finalist 2/2" in captured.err
    assert "finalists    FUSE's best 2 retrained" in captured.out
    m = json.loads((out / "metrics.json").read_text())
    rows = m["finalists"]
    ranking = [line.split(",") for line in (out / "ranking.csv").read_text().splitlines()[1:]]
    assert [r["key"] for r in rows] == [ranking[0][2], ranking[1][2]]  # FUSE's first two, in its order
    kept = [r for r in rows if r["kept"]]
    assert len(kept) == 1  # (that only the kept network is tested: the tie test below counts the test split's reads)
    best = max(r["val_acc"] for r in rows)
    assert kept[0] is next(r for r in rows if r["val_acc"] == best)
    assert m["winner_key"] == kept[0]["key"] == json.loads((out / "architecture.json").read_text())["key"]
    assert m["val_acc"] == pytest.approx(kept[0]["val_acc"])
    other = next(r for r in rows if not r["kept"])
    assert m["search_seconds"] == pytest.approx(m["space_seconds"] + m["fuse_seconds"] + other["seconds"])
    model = load_exported(out)
    data = load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(256, 128, 128))
    assert evaluate(model, data.x["test"], data.y["test"])["acc"] == pytest.approx(m["test_acc"])


def test_one_finalist_is_the_plain_retraining(data_dir):
    from tanas_nni.pipeline import retrain, retrain_finalists
    from tanas_nni.space import Architecture
    from tanas_nni.training import TrainConfig

    arch = Architecture.from_dict({"skeleton": {"stem": 8, "cells": 1, "reductions": [0]},
                                   "cell": {"nodes": 2, "edges": [[0, 1, "sep_conv_3x3"]]}})
    data = load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(128, 64, 64))
    recipe = TrainConfig(epochs=1, batch_size=64)
    _, plain = retrain(arch, data, recipe, seed=3)
    kept_arch, _, kept, rows = retrain_finalists([arch], data, recipe, seed=3)
    assert kept_arch is arch
    assert (kept["val_acc"], kept["test_acc"]) == (plain["val_acc"], plain["test_acc"])
    assert [r["kept"] for r in rows] == [True]


def test_finalists_tie_goes_to_the_strategy_order_and_the_test_split_is_read_once(data_dir, monkeypatch):
    """Two finalists that train alike (the same architecture, the same seed) tie on validation: the first, FUSE's
    winner, is kept. Neither training reads the test split; the kept network is evaluated on it once."""
    import importlib

    import tanas_nni.training as training_mod

    # the module itself: the package exports a function of the same name
    search_mod = importlib.import_module("tanas_nni.pipeline.search")
    from tanas_nni.pipeline import retrain_finalists
    from tanas_nni.space import Architecture
    from tanas_nni.training import TrainConfig

    arch = Architecture.from_dict({"skeleton": {"stem": 8, "cells": 1, "reductions": [0]},
                                   "cell": {"nodes": 2, "edges": [[0, 1, "sep_conv_3x3"]]}})
    twin = Architecture.from_dict(arch.to_dict())
    data = load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(128, 64, 64))
    reads = []
    for module in (search_mod, training_mod):
        real = module.evaluate

        def counting(model, x, y, *a, _real=real, **k):
            reads.append(x is data.x["test"])
            return _real(model, x, y, *a, **k)

        monkeypatch.setattr(module, "evaluate", counting)
    kept_arch, _, result, rows = retrain_finalists([arch, twin], data, TrainConfig(epochs=1, batch_size=64), seed=3)
    assert rows[0]["val_acc"] == rows[1]["val_acc"]
    assert kept_arch is arch and [r["kept"] for r in rows] == [True, False]
    assert sum(reads) == 1 and "test_acc" in result
