"""The benchmark suite (benchmarks/suite.py) end to end on the `tiny` budget; its resume, failures and statistics.

The sweep: two Quick, Draw! targets, one seed, TA-NAS (`fuse-task-aware`, on a tiny 4-task dictionary given small
architectures, as in tests/test_compare.py) and the 5-conv CNN, on real data, in seconds.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.experiment.compare import Outcome, register_method, unregister_method
from tanas_nni.space import Architecture

warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["quickdraw:cat-vs-rest", "quickdraw:fish-vs-rest"]
METHODS = ["fuse-task-aware", "cnn5"]
COLUMNS = ["target", "seed", "method", "test_error", "params", "search_seconds", "total_seconds", "device"]
ARCHS = {"mnist:0-vs-rest": ("sep_conv_3x3", 8), "mnist:1-vs-rest": ("dil_conv_3x3", 8),
         "fashion-mnist:trouser-vs-rest": ("max_pool_3x3", 12), "fashion-mnist:coat-vs-rest": ("conv_7x1_1x7", 12)}


def _load_suite():
    name = "tanas_benchmark_suite"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses' annotations are resolved through sys.modules
    spec.loader.exec_module(module)
    return module


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"tanas_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite():
    return _load_suite()


@pytest.fixture(scope="module")
def dictionary(tiny_dictionary, tmp_path_factory):
    root = tmp_path_factory.mktemp("suite-dict") / "dictionary"
    shutil.copytree(tiny_dictionary.root, root)
    store = DictionaryStore.open(root)
    for task, (op, stem) in ARCHS.items():
        arch = Architecture.from_dict({"skeleton": {"stem": stem, "cells": 2, "reductions": [0, 1]},
                                       "cell": {"nodes": 2, "edges": [[0, 1, op]]}})
        store.update(task, architecture={"arch": arch.to_dict(), "space": "standard", "strategy": "fuse"})
    return root


def _argv(tmp: Path, data_dir, dictionary, *extra) -> list[str]:
    return ["--budget", "tiny", "--targets", ",".join(TARGETS), "--seeds", "0", "--methods", ",".join(METHODS),
            "--results", str(tmp / "runs"), "--out", str(tmp / "out"), "--data-dir", str(data_dir),
            "--dictionary", str(dictionary), "--threads", "2", *extra]


def _finished(tmp: Path) -> dict:
    return {p.relative_to(tmp).as_posix(): json.loads(p.read_text())["finished"]
            for p in sorted((tmp / "runs" / "tiny").glob("seed*/*/*.json")) if p.name != "config.json"}


@pytest.fixture(scope="module")
def sweep(suite, dictionary, data_dir, tmp_path_factory):
    """One tiny sweep (2 targets × 1 seed × 2 methods) and its printed lines."""
    tmp = tmp_path_factory.mktemp("suite")
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = suite.main(_argv(tmp, data_dir, dictionary))
    return tmp, rc, buf.getvalue()


def test_the_sweep_writes_the_records_csv_report_and_plots(sweep):
    tmp, rc, out = sweep
    assert rc == 0, out
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] + "]" for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert all("test error" in line and "total" in line and "reused" not in line for line in lines)
    # one record per cell, where the docs say
    for t in ("quickdraw__cat-vs-rest", "quickdraw__fish-vs-rest"):
        for m in METHODS:
            rec = json.loads((tmp / "runs" / "tiny" / "seed0" / t / f"{m}.json").read_text())
            assert rec["seed"] == 0 and rec["budget_name"] == "tiny" and rec["method"] == m
    reports = list((tmp / "out").glob("suite-*.md"))
    assert len(reports) == 1
    stem = reports[0].with_suffix("")
    rows = list(csv.DictReader(open(stem.with_suffix(".csv"))))
    assert len(rows) == 4 and set(COLUMNS) <= set(rows[0])
    assert {(r["target"], r["method"]) for r in rows} == {(t, m) for t in TARGETS for m in METHODS}
    for r in rows:
        assert r["status"] == "ok" and r["seed"] == "0"
        assert 0.0 <= float(r["test_error"]) <= 100.0
        assert int(r["test_size"]) == 200  # the tiny budget's test split
        assert float(r["test_error"]) == pytest.approx(100.0 * int(r["test_wrong"]) / 200)
        assert 0.0 < float(r["params"]) < 1.0  # millions
        assert float(r["total_seconds"]) > 0 and r["device"].startswith("cpu")
        if r["method"] == "cnn5":
            assert float(r["search_seconds"]) == 0.0
        else:
            assert 0 < float(r["search_seconds"]) <= float(r["total_seconds"])
    md = reports[0].read_text()
    assert "## Per method" in md and "| method | cells | test error (%) | 95 % interval |" in md
    assert "TA-NAS: FUSE, task-aware space (`fuse-task-aware`) | 2 |" in md
    assert "## TA-NAS against each method (paired cells)" in md
    assert "| TA-NAS vs | cells | wins | ties | losses | mean difference (pt) | Wilcoxon p |" in md
    assert "| 5-conv CNN | 2 |" in md and "too few cells" in md  # two cells cannot make a signed-rank test
    assert "same number of misclassified test examples" in md
    assert "## The bars of docs/targets.md" in md and "Machine:" in md and "benchmarks/suite.py --budget tiny" in md
    for png in (stem.parent / f"{stem.name}-errors.png", stem.parent / f"{stem.name}-cost.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_a_second_run_reuses_every_cell(suite, sweep, dictionary, data_dir):
    import io
    from contextlib import redirect_stdout

    tmp, _, _ = sweep
    before = _finished(tmp)
    assert len(before) == 4
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert suite.main(_argv(tmp, data_dir, dictionary)) == 0
    out = buf.getvalue()
    assert sum(1 for line in out.splitlines() if line.startswith("[") and " reused (" in line) == 4, out
    assert "0 ran, 4 reused, 0 failed" in out
    assert _finished(tmp) == before  # no method ran again
    # the report from the records alone: the same rows, and both sweep runs listed with their commands
    with redirect_stdout(io.StringIO()):
        assert suite.main(_argv(tmp, data_dir, dictionary, "--report-only")) == 0
    md = next((tmp / "out").glob("suite-*.md")).read_text()
    assert md.count("`python benchmarks/suite.py --budget tiny") >= 3  # two sweeps and this report's command
    assert _finished(tmp) == before


def test_a_failing_method_is_reported_and_the_sweep_goes_on(suite, data_dir, tmp_path):
    import io
    from contextlib import redirect_stdout

    def broken(ctx) -> Outcome:
        raise RuntimeError("the broken method broke\nsecond line")

    calls = []

    def fine(ctx) -> Outcome:
        calls.append(ctx.cfg.target)
        return Outcome("fixed", None, 1000, {"test_acc": 0.9, "val_acc": 0.9, "seconds": 0.1, "history": []}, 0.5, {})

    register_method("suite-broken", broken, kind="handcrafted")
    register_method("suite-fine", fine, kind="handcrafted")
    try:
        argv = ["--budget", "tiny", "--targets", TARGETS[0], "--seeds", "3", "--methods", "suite-broken,suite-fine",
                "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--data-dir", str(data_dir)]
        buf = io.StringIO()
        with redirect_stdout(buf):
            assert suite.main(argv) == 1  # the sweep ended, with a failure
        out = buf.getvalue()
        assert "[1/2] seed 3 quickdraw:cat-vs-rest suite-broken: FAILED" in out
        assert "RuntimeError: the broken method broke" in out and "second line" not in out
        assert "[2/2] seed 3 quickdraw:cat-vs-rest suite-fine: test error 10.00 %" in out and calls == [TARGETS[0]]
        md = next((tmp_path / "out").glob("suite-*.md")).read_text()
        assert "## Failed and missing runs" in md
        assert "| suite-broken | failed | RuntimeError: the broken method broke |" in md
        rows = {r["method"]: r for r in csv.DictReader(open(next((tmp_path / "out").glob("suite-*.csv"))))}
        assert rows["suite-broken"]["status"] == "failed" and rows["suite-broken"]["test_error"] == ""
        assert rows["suite-fine"]["status"] == "ok"
        # a rerun retries the failed method only
        with redirect_stdout(io.StringIO()):
            assert suite.main(argv) == 1
        assert calls == [TARGETS[0]]
    finally:
        unregister_method("suite-broken")
        unregister_method("suite-fine")


def test_sigterm_ends_the_sweep_with_a_line_and_143_keeping_finished_runs(suite, data_dir, tmp_path, capsys):
    """Lightning's own SIGTERM handling would end the process with exit 0 and no word; the suite stops as `tanas`
    does (tanas_nni.core.signals), and the next run reuses what had finished."""
    import os
    import signal

    def stop(ctx) -> Outcome:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached: the handler raises at the kill")

    def fine(ctx) -> Outcome:
        return Outcome("fixed", None, 1000, {"test_acc": 0.9, "val_acc": 0.9, "seconds": 0.1, "history": []}, 0.5, {})

    register_method("suite-fine", fine, kind="handcrafted")
    register_method("suite-stop", stop, kind="handcrafted")
    try:
        argv = ["--budget", "tiny", "--targets", TARGETS[0], "--seeds", "0", "--methods", "suite-fine,suite-stop",
                "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--data-dir", str(data_dir)]
        assert suite.main(argv) == 143
        captured = capsys.readouterr()
        assert "[1/2] seed 0 quickdraw:cat-vs-rest suite-fine: test error 10.00 %" in captured.out
        assert "suite: interrupted (SIGTERM); run the same command again" in captured.err
        cell = tmp_path / "runs" / "tiny" / "seed0" / "quickdraw__cat-vs-rest"
        assert (cell / "suite-fine.json").is_file()
        assert not (cell / "suite-stop.json").exists() and not (cell / "suite-stop.failed.json").exists()
        assert signal.getsignal(signal.SIGTERM) is not None  # handlers given back
    finally:
        unregister_method("suite-fine")
        unregister_method("suite-stop")


def _rows(suite, errors: dict[str, list[int]], size: int = 1000) -> list[dict]:
    """Synthetic finished rows: method -> misclassified test examples per cell."""
    rows = []
    for m, wrongs in errors.items():
        for i, w in enumerate(wrongs):
            rows.append({"target": f"quickdraw:t{i // 2}-vs-rest", "seed": i % 2, "method": m, "status": "ok",
                         "test_error": 100.0 * w / size, "test_wrong": w, "test_size": size, "params": 0.1,
                         "search_seconds": 10.0 if m != "cnn5" else 0.0, "space_seconds": 1.0,
                         "retrain_seconds": 5.0, "total_seconds": 15.0, "device": "cpu", "kind": None,
                         "architecture": "", "data_fingerprint": "", "finished": 0.0, "error": ""})
    return rows


def test_paired_statistics(suite):
    from scipy import stats

    ta = [50, 60, 40, 45, 70, 52, 48, 41, 60, 66, 39, 55]
    other = [55, 60, 47, 50, 69, 60, 58, 41, 70, 70, 45, 61]  # two ties (same misclassified count), one loss
    rows = _rows(suite, {"fuse-task-aware": ta, "darts": other})
    p = suite.paired(rows, "darts")
    assert (p["cells"], p["wins"], p["ties"], p["losses"]) == (12, 9, 2, 1)
    diffs = [(a - b) / 10 for a, b in zip(ta, other) if a != b]
    assert p["p"] == pytest.approx(stats.wilcoxon(diffs).pvalue)
    assert p["mean_diff"] == pytest.approx(sum((a - b) / 10 for a, b in zip(ta, other)) / 12)
    # test errors as records hold them (1 − accuracy): equal count differences must stay equal for the signed-rank
    # test's ties, which differences of these floats do not guarantee
    ta, other = [129, 50, 96, 137, 80, 77, 92, 123], [33, 90, 35, 69, 120, 138, 108, 105]  # |40| and |61| twice
    rows = _rows(suite, {"fuse-task-aware": ta, "darts": other}, size=1200)
    for r in rows:
        r["test_error"] = 100 * (1 - (1200 - r["test_wrong"]) / 1200)
    exact = [100 * (a - b) / 1200 for a, b in zip(ta, other)]
    assert suite.paired(rows, "darts")["p"] == pytest.approx(stats.wilcoxon(exact).pvalue)  # 0.586, not 0.625
    mean, half = suite.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / 3 ** 0.5)
    assert suite.t_interval([4.0]) == (4.0, None)


def test_bars_say_where_ta_nas_loses(suite, tmp_path):
    cfg = suite.load_suite(REPO / "benchmarks" / "suite.yml", "cpu")
    rows = _rows(suite, {"fuse-task-aware": [60] * 6, "random": [50] * 6, "cnn5": [55, 55, 55, 70, 70, 70]})
    lines, plain = suite.bars(cfg, rows, suite.method_summary(rows),
                              [suite.paired(rows, "random"), suite.paired(rows, "cnn5")])
    text = "\n".join(lines)
    assert ("| lowest mean test error of all methods | 6.00 % | ≤ NNI random search's 5.00 % | **missed** by 1.00 pt |"
            in text)
    assert ("| beats NNI random search on ≥ 60 % of paired cells | 0/6 (0%) | ≥ 4/6 | **missed** by 4 cell(s) |"
            in text)
    assert "| mean error ≤ the 5-conv CNN's | 6.00 % | ≤ 6.25 % | met |" in text
    assert "search cost ≤ 0.25× NNI random search's | 10 s | ≤ 2 s (0.25× 10 s) | **missed** by 8 s |" in text
    assert any("TA-NAS does not have the lowest mean error" in p for p in plain)
    assert any("TA-NAS beats NNI random search in only 0 of 6 cells" in p for p in plain)


def test_shipped_config_plans(suite):
    """The default sweeps the brief asks for: 6 Quick, Draw! targets, the methods, the seeds of each budget."""
    raw = yaml.safe_load((REPO / "benchmarks" / "suite.yml").read_text())
    assert set(raw["budgets"]) >= {"tiny", "cpu", "gpu"}
    cpu = suite.load_suite(REPO / "benchmarks" / "suite.yml", "cpu").plan
    gpu = suite.load_suite(REPO / "benchmarks" / "suite.yml", "gpu").plan
    six = {f"quickdraw:{c}-vs-rest" for c in ("cat", "apple", "bicycle", "fish", "train", "diamond")}
    assert six <= set(cpu.targets) and six <= set(gpu.targets)
    assert cpu.seeds == [0, 1] and gpu.seeds == [0, 1, 2]
    base = ["fuse-task-aware", "fuse-standard", "darts", "random", "random-one-shot", "cnn5"]
    assert cpu.methods == base and gpu.methods == base + ["resnet18"]
    g = suite.load_suite(REPO / "benchmarks" / "suite.yml", "gpu").active
    assert g.samples.train is None and g.retrain.epochs == 20 and g.fuse.rounds == 3  # FUSE's default rounds


def test_bad_flags_are_one_line(suite, capsys):
    assert suite.main(["--budget", "nope"]) == 2
    assert "unknown budget 'nope'" in capsys.readouterr().err
    assert suite.main(["--budget", "tiny", "--methods", "no-such-method"]) == 2
    assert "unknown method 'no-such-method'" in capsys.readouterr().err
    assert suite.main(["--budget", "tiny", "--seeds", "a,b"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert suite.main(["--budget", "tiny", "--retrain-top", "0"]) == 2
    assert "--retrain-top: must be >= 1" in capsys.readouterr().err
    assert suite.main(["--budget", "tiny", "--set", "budgets.tiny.fuse"]) == 2
    assert "--set: expected KEY=VALUE" in capsys.readouterr().err
    assert suite.main(["--budget", "tiny", "--set", "budgets.tiny.fuse.weightloss=mixture"]) == 2
    assert "budgets.tiny.fuse: unknown key 'weightloss'" in capsys.readouterr().err


def test_set_overrides_a_budget_field(suite):
    """`--set KEY=VALUE` reaches the budget (a YAML value, validated as the file's own would be)."""
    cfg = suite.load_suite(suite.DEFAULT_CONFIG, "gpu", suite._set_overrides(
        ["budgets.gpu.fuse.weight_loss=mixture", "budgets.gpu.retrain_top=2"]))
    assert cfg.active.fuse.weight_loss == "mixture" and cfg.active.retrain_top == 2
    assert cfg.budgets["cpu"].fuse.weight_loss == "own"  # only the field named


def test_fuse_ranking_retrains_every_candidate_of_the_sweep_and_reports_agreement(sweep, data_dir, tmp_path):
    """benchmarks/fuse_ranking.py: every candidate of each FUSE run of the sweep retrained with the cell's recipe; the
    winner's retrained score is the suite's (same architecture, data, recipe and seed); a rerun retrains nothing."""
    tmp, rc, _ = sweep
    assert rc == 0
    ranking = _load_script("fuse_ranking")
    argv = ["--budget", "tiny", "--results", str(tmp / "runs"), "--methods", "fuse-task-aware",
            "--data-dir", str(data_dir), "--out", str(tmp_path), "--threads", "2"]
    assert ranking.main(argv) == 0
    report = next(tmp_path.glob("fuse-ranking-*-tiny.md"))
    cells = json.loads(report.with_suffix(".json").read_text())
    assert {c["target"] for c in cells} == set(TARGETS)
    for c in cells:
        rec = json.loads((tmp / "runs" / "tiny" / "seed0" / c["target"].replace(":", "__") /
                          "fuse-task-aware.json").read_text())
        winner = next(r for r in c["rows"] if r["winner"])
        assert winner["architecture"] == rec["architecture"]
        assert winner["test_acc"] == pytest.approx(rec["test_acc"])  # retraining is deterministic under the seed
        assert c["candidates"] == len(c["rows"]) >= 2 and c["pairs"] >= 1
        # every candidate has its place in the pool the space gave, the first the nearest task's own architecture
        assert sorted(r["position"] for r in c["rows"]) == list(range(1, c["candidates"] + 1))
    md = report.read_text()
    assert "## `fuse-task-aware`" in md and "pairwise agreement within rounds" in md and "regret" in md
    assert "by the candidate's position in the pool" in md and "\n| 1 | 2 | " in md  # position 1 in both cells
    assert sum(int(line.split("|")[5]) for line in md.splitlines() if line.startswith("| ") and
               line.split("|")[1].strip().isdigit() and len(line.split("|")) == 8) == len(cells)  # one winner a cell
    stored = sorted((tmp / "runs" / "tiny" / "fuse-ranking").rglob("*.json"))
    before = [p.stat().st_mtime_ns for p in stored]
    assert ranking.main(argv) == 0
    assert [p.stat().st_mtime_ns for p in stored] == before


def test_retrain_noise_retrains_each_winner_with_other_training_seeds(sweep, data_dir, tmp_path):
    """benchmarks/retrain_noise.py: each method's network of the sweep (a searched winner, a handcrafted network)
    retrained with other training seeds on the cell's own data; the record's run is the first sample and the cell's
    own seed reproduces it; a rerun trains nothing."""
    tmp, rc, _ = sweep
    assert rc == 0
    noise = _load_script("retrain_noise")
    argv = ["--budget", "tiny", "--results", str(tmp / "runs"), "--methods", "fuse-task-aware,cnn5", "--repeats", "2",
            "--data-dir", str(data_dir), "--out", str(tmp_path), "--threads", "2"]
    assert noise.main(argv) == 0
    report = next(tmp_path.glob("retrain-noise-*-tiny.md"))
    rows = json.loads(report.with_suffix(".json").read_text())["rows"]
    assert {(r["target"], r["method"]) for r in rows} == {(t, m) for t in TARGETS for m in METHODS}
    for r in rows:
        rec = json.loads((tmp / "runs" / "tiny" / "seed0" / r["target"].replace(":", "__") /
                          f"{r['method']}.json").read_text())
        assert len(r["errors"]) == 3 and r["errors"][0] == pytest.approx(100 * (1 - rec["test_acc"]))
        assert r["architecture"] == rec["architecture"]
        if r["target"] == TARGETS[0]:  # with the cell's own seed it trains exactly as the suite did, either kind
            got = noise.train(rec, noise.record_data(rec, data_dir), rec["seed"])
            assert got["test_acc"] == pytest.approx(rec["test_acc"])
    stored = sorted((tmp / "runs" / "tiny" / "retrain-noise").rglob("repeat*.json"))
    assert len(stored) == 8
    seeds = {json.loads(p.read_text())["training_seed"] for p in stored}
    assert len(seeds) == 2 and 0 not in seeds  # two new training seeds per cell, the same in both cells
    md = report.read_text()
    assert "## Training noise" in md and "| `fuse-task-aware` | 2 |" in md and "| `cnn5` | 2 |" in md
    picture = tmp_path / f"{report.stem}-runs.png"  # every run of every network, linked from the report
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({picture.name})" in md
    assert "## `fuse-task-aware` against each method, paired cells" in md
    assert any(x.startswith("| `cnn5` | 2 | ") and "–" in x for x in md.splitlines())  # the paired row
    before = [p.stat().st_mtime_ns for p in stored]
    assert noise.main(argv) == 0
    assert [p.stat().st_mtime_ns for p in stored] == before
    # a repeat stored for an older record of the cell (a rerun with --force makes a new one) is trained again
    row = json.loads(stored[0].read_text())
    stored[0].write_text(json.dumps({**row, "record": {**row["record"], "finished": 0}, "test_acc": -1.0}))
    assert noise.main(argv) == 0
    again = json.loads(stored[0].read_text())
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in row.items() if k != "seconds"}
    assert [p.stat().st_mtime_ns for p in stored[1:]] == before[1:]
    # a handcrafted network trains for its own epochs, not the retraining recipe's
    cnn = json.loads((tmp / "runs" / "tiny" / "seed0" / TARGETS[0].replace(":", "__") / "cnn5.json").read_text())
    cnn["budget"] = {**cnn["budget"], "epochs": 2}
    assert len(noise.train(cnn, noise.record_data(cnn, data_dir), 7)["history"]) == 2 != cnn["retrain"]["epochs"]
    with pytest.raises(SystemExit, match="--reference: darts is not one of --methods"):
        noise.main(argv + ["--reference", "darts"])
    with pytest.raises(SystemExit, match="--repeats: 0; give at least 1"):
        noise.main(argv + ["--repeats", "0"])
    assert noise.main(argv + ["--seeds", "0"]) == 0  # the sweep's one seed: every record, nothing trained
    assert [p.stat().st_mtime_ns for p in stored[1:]] == before[1:]
    with pytest.raises(SystemExit, match="no finished record of fuse-task-aware,cnn5 at seeds 5 "):
        noise.main(argv + ["--seeds", "5"])  # the sweep ran seed 0 only
    with pytest.raises(SystemExit, match="--seeds: 'a' is not a comma-separated list of integers"):
        noise.main(argv + ["--seeds", "a"])


def test_retrain_noise_picture_draws_every_run_of_every_network(tmp_path):
    """The runs picture: every run drawn once, the recorded one first, equal runs apart; a method missing from a cell,
    a network with one run, a method the registry does not know and no rows at all are drawn without error."""
    noise = _load_script("retrain_noise")
    rows = [{"target": "quickdraw:a-vs-rest", "seed": 0, "method": "cnn5", "errors": [5.0, 5.0, 4.0]},
            {"target": "quickdraw:a-vs-rest", "seed": 0, "method": "fuse-task-aware", "errors": [3.0, 6.0, 5.0]},
            {"target": "quickdraw:b-vs-rest", "seed": 1, "method": "fuse-task-aware", "errors": [2.5]},
            {"target": "quickdraw:b-vs-rest", "seed": 1, "method": "a-plugin", "errors": [7.0, 8.0]}]
    drawn = noise.plot_runs(rows, tmp_path / "runs.png", "t")
    assert list(drawn) == ["fuse-task-aware", "cnn5", "a-plugin"]  # the registry's order, an unknown method last
    assert [e for _, e in drawn["fuse-task-aware"]] == [3.0, 6.0, 5.0, 2.5]
    assert [e for _, e in drawn["cnn5"]] == [5.0, 5.0, 4.0] and drawn["a-plugin"][0][0] > 1 - 0.5
    xs = [x for x, _ in drawn["cnn5"]]
    assert len(set(xs)) == 3 and max(xs) < 0.5  # the two 5.0 runs apart, all in the first cell
    assert (tmp_path / "runs.png").read_bytes()[:4] == b"\x89PNG"
    assert noise.plot_runs([], tmp_path / "none.png", "t") == {}


def test_retrain_noise_power_of_one_suite_run(tmp_path):
    """The chance of a cell share in one run: exact Poisson-binomial tails, and the paired table on the runs' means."""
    noise = _load_script("retrain_noise")
    assert noise._poisson_binomial_at_least([0.5, 0.5], 1) == pytest.approx(0.75)
    assert noise._poisson_binomial_at_least([0.9, 0.2, 0.5], 3) == pytest.approx(0.09)
    assert noise._poisson_binomial_at_least([0.3] * 4, 0) == pytest.approx(1.0)
    # misclassified of 100 per run, the record's first: each view of the runs counts differently
    nets = {"ref": [[7, 5, 6]] * 3 + [[4, 8, 8]] * 2, "other": [[6, 6, 9]] * 3 + [[9, 7, 8]] * 2}
    rows = [{"target": f"quickdraw:t{i}-vs-rest", "seed": 0, "method": m, "architecture": "stem8 | 0>1:skip",
             "test_size": 100, "wrong": w, "errors": [float(x) for x in w]}
            for m, ws in nets.items() for i, w in enumerate(ws)]

    class Args:
        budget, results, repeats, reference, bar, bar_methods = "tiny", "runs", 2, "ref", 0.6, "other,darts"
    out = tmp_path / "r.md"
    noise.report(rows, Args, out)
    md = out.read_text()
    assert "| `other` | 5 | 1.48 | 2.60 | 7.20 | 7.40 |" in md  # the noise table: SD, range, recorded, mean
    # recorded 2–0–3, all runs summed 5–0–0, the repeats alone 3–0–2; each run as a suite run: 2, 3 and 3 wins
    line = next(x for x in md.splitlines() if x.startswith("| `other` | 5 | 2–0–3 ("))
    cols = [c.strip() for c in line.strip("| ").split(" | ")]
    assert cols[3].startswith("5–0–0 (") and cols[4].startswith("3–0–2 (") and cols[5] == "-1.13"
    assert cols[6] == "2, 3, 3 of 5" and 0 < float(cols[7]) < 1
    assert "σ = 1.57 points" in md
    assert "`stem8 \\| 0>1:skip`" in md  # the architecture's bar escaped inside the table


def test_retrain_noise_chance_of_every_bar_at_once(tmp_path):
    """Against several methods: the model's joint chance (the reference's run shared by its comparisons) and the sets
    of runs that clear every bar; with one other method the joint chance is that method's own tail."""
    noise = _load_script("retrain_noise")
    cells = [("quickdraw:a-vs-rest", s) for s in range(5)]
    far = {c: [1.0, 1.0] for c in cells}
    assert noise.chance_all_bars({"ref": far, "x": {c: [50.0] for c in cells}}, "ref", 1.0, 0.6) == 1.0
    assert noise.chance_all_bars({"ref": {c: [50.0] for c in cells}, "x": far}, "ref", 1.0, 0.6) == 0.0
    same = {c: [5.0] for c in cells}  # equal means: each cell a fair coin, 3 of 5 needed
    one = noise.chance_all_bars({"ref": same, "x": dict(same)}, "ref", 1.0, 0.6, draws=200_000)
    assert one == pytest.approx(noise._poisson_binomial_at_least([0.5] * 5, 3), abs=0.005)
    # two such methods: the shared reference draw makes both bars likelier together than independent ones would
    two = noise.chance_all_bars({"ref": same, "x": dict(same), "y": dict(same)}, "ref", 1.0, 0.6, draws=200_000)
    assert one ** 2 + 0.02 < two < one
    assert two == noise.chance_all_bars({"ref": same, "x": dict(same), "y": dict(same)}, "ref", 1.0, 0.6,
                                        draws=200_000)  # seeded
    # a method missing from a cell is judged on the cells it has
    assert noise.chance_all_bars({"ref": far, "x": {cells[0]: [50.0]}}, "ref", 1.0, 0.6) == 1.0
    # the report: set 1 clears the bar against x and y, set 2 against neither; "cnn" beats the reference in every
    # run but has no paired bar, and "w" shares no cell with it
    rows = [{"target": t, "seed": s, "method": m, "architecture": "a", "test_size": 100, "wrong": w,
             "errors": [float(x) for x in w]}
            for (t, s) in cells for m, w in (("ref", [3, 9]), ("x", [6, 6]), ("y", [7, 5]), ("cnn", [1, 1]))]
    rows.append({**rows[0], "target": "quickdraw:b-vs-rest", "method": "w"})

    class Args:
        budget, results, repeats, reference, bar, bar_methods = "tiny", "runs", 1, "ref", 0.6, "x,y,w,cnn2"
    noise.report(rows, Args, tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "Every paired bar at once (`x`, `y`): 1 of 2 sets of runs" in md and "(those that do: 1;" in md
    noise.report([r for r in rows if r["method"] != "y"], Args, tmp_path / "two.md")
    assert "at once" not in (tmp_path / "two.md").read_text()  # one comparison: the table says it all


def test_grow_solves_the_targets_in_order_adding_each_to_a_copy_of_the_dictionary(sweep, dictionary, data_dir,
                                                                                  tmp_path):
    """benchmarks/grow.py: the first target sees the fixed dictionary (its result is the suite's), the second one a
    dictionary holding the first as a base task; the suite's dictionary is left as it was; a rerun adds nothing."""
    tmp, rc, _ = sweep
    assert rc == 0
    grow = _load_script("grow")
    before = sorted(e.task for e in DictionaryStore.open(dictionary).entries())
    argv = ["--budget", "tiny", "--targets", ",".join(TARGETS), "--seeds", "0", "--results", str(tmp / "runs"),
            "--dictionary", str(dictionary), "--data-dir", str(data_dir), "--out", str(tmp_path)]
    assert grow.main(argv) == 0
    rows = json.loads(next(tmp_path.glob("grow-*-tiny.json")).read_text())
    assert [r["target"] for r in rows] == TARGETS and [r["entries"] for r in rows] == [len(before), len(before) + 1]
    assert rows[0]["grown_error"] == rows[0]["fixed_error"]  # the control: the same dictionary, the same result
    grown = DictionaryStore.open(tmp / "runs" / "tiny-grow" / "seed0" / "dictionary")
    assert sorted(e.task for e in grown.entries()) == sorted(before + TARGETS)
    assert sorted(e.task for e in DictionaryStore.open(dictionary).entries()) == before
    md = next(tmp_path.glob("grow-*-tiny.md")).read_text()
    assert "Controls" in md and "1/1 equal" in md and "wins" in md
    assert grow.main(argv) == 0  # everything reused
    assert len(DictionaryStore.open(tmp / "runs" / "tiny-grow" / "seed0" / "dictionary").entries()) == len(before) + 2


def test_retrain_top_flag_reruns_fuse_only_and_compare_sweeps_pairs_the_two(suite, sweep, dictionary, data_dir,
                                                                            tmp_path):
    """`--retrain-top 2` refuses the FUSE records of the sweep as made with other settings (removed here, they rerun
    with two finalists, the first FUSE's winner retrained as before) and reuses the CNN's; benchmarks/compare_sweeps.py
    then sets the two sweeps side by side."""
    import io
    from contextlib import redirect_stdout

    tmp, rc, _ = sweep
    assert rc == 0
    top2 = tmp_path / "top2"
    shutil.copytree(tmp / "runs", top2 / "runs")
    cell = top2 / "runs" / "tiny" / "seed0" / "quickdraw__cat-vs-rest"
    argv = _argv(top2, data_dir, dictionary, "--targets", TARGETS[0], "--retrain-top", "2")
    with redirect_stdout(io.StringIO()):
        assert suite.main(argv) == 1  # the record of one finalist is refused, not mixed in
    # a fresh search: the copied checkpoint would resume the finished one (its seconds carried over, but not rerun)
    (cell / "fuse-task-aware.json").unlink()
    shutil.rmtree(cell / "work" / "fuse-task-aware")
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = suite.main(argv)
    out = buf.getvalue()
    assert rc == 0 and "1 ran, 1 reused, 0 failed" in out, out
    rec = json.loads((cell / "fuse-task-aware.json").read_text())
    before = json.loads((tmp / "runs" / "tiny" / "seed0" / "quickdraw__cat-vs-rest" / "fuse-task-aware.json")
                        .read_text())
    fin = rec["finalists"]
    assert rec["budget"]["retrain_top"] == 2 and [r["rank"] for r in fin] == [1, 2]
    assert sum(r["kept"] for r in fin) == 1
    assert fin[0]["architecture"] == before["architecture"]  # FUSE's winner is the first finalist
    kept = next(r for r in fin if r["kept"])
    assert rec["architecture"] == kept["architecture"] and kept["val_acc"] == max(r["val_acc"] for r in fin)
    md = next((top2 / "out").glob("suite-*.md")).read_text()
    assert "| FUSE finalists retrained (retrain_top) | 2 |" in md

    cmp = _load_script("compare_sweeps")
    a = next((tmp / "out").glob("suite-*.csv"))
    b = next((top2 / "out").glob("suite-*.csv"))
    out_md = tmp_path / "cmp.md"
    with redirect_stdout(io.StringIO()):
        assert cmp.main([str(a), str(b), "--labels", "one,two", "--out", str(out_md)]) == 0
    text = out_md.read_text()
    wrong = [next(int(r["test_wrong"]) for r in csv.DictReader(open(p))
                  if r["target"] == TARGETS[0] and r["method"] == "fuse-task-aware") for p in (a, b)]
    assert "1 cell finished with every method in both" in text  # fish's TA-NAS record is refused in B: one finalist
    assert f"| cat | 0 | {wrong[0]} / {wrong[1]} | " in text
    assert "| TA-NAS vs | one | two |" in text and "| `cnn5` |" in text
    assert cmp.main([str(a), str(tmp_path / "missing.csv")]) == 2


# What each method's records of the suite's budgets hash to (cell cat-vs-rest, seed 0, the dictionary at a fixed path).
# A finished record is reused only while its settings hash the same; an option added to a method, a budget or the
# recipe must leave these alone at its old value (methods._LATER_OPTIONS, core.config.LATER), or every recorded sweep
# becomes stale. Change a hash here only with a change that is meant to make the old records stale.
PINNED_SETTINGS = {
    "cpu": {"fuse-task-aware": "0bb33c304c75", "fuse-standard": "b7a7b0a4424a", "darts": "1868a7875fef",
            "random": "5ce45587f76e", "random-one-shot": "73dd293412fe", "cnn5": "146aa3e3cca0"},
    "gpu": {"fuse-task-aware": "d8102f4506c1", "fuse-standard": "3ce6cd60e77d", "darts": "027c4dc42c1a",
            "random": "e20909aa73fd", "random-one-shot": "2dca5cf8283d", "cnn5": "64d782d3e880",
            "resnet18": "3bb7f7062007"},
}


@pytest.mark.parametrize("budget", sorted(PINNED_SETTINGS))
def test_the_suites_records_keep_their_settings_hash(suite, budget):
    from tanas_nni.core.config import config_hash
    from tanas_nni.experiment.compare.run import settings_of

    cfg = suite.load_suite(REPO / "benchmarks" / "suite.yml", budget, {"dictionary": "/records/dictionary"})
    cell = suite.cell_config(cfg, "quickdraw:cat-vs-rest", 0)
    assert {m: config_hash(settings_of(cell, m)) for m in cfg.plan.methods} == PINNED_SETTINGS[budget]
