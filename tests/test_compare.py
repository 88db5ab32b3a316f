"""The side-by-side comparison: every method at a tiny budget on a tiny real task, records, resume, report, bad input."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from tanas_nni.core.errors import TanasError
from tanas_nni.cli import main
from tanas_nni.core.resources import resource_path
from tanas_nni.core.progress import Epoch, Finished, Step
from tanas_nni.dictionary import DictionaryStore
from tanas_nni.experiment import compare
from tanas_nni.experiment.compare import load_compare_config, run_comparison, run_method
from tanas_nni.experiment.report import markdown_table, write_report
from tanas_nni.pipeline import SearchConfig, build_space
from tanas_nni.space import Architecture, cell_space

warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[1]

TARGET = "mnist:2-vs-rest"
# Small single-edge networks (a few thousand parameters) so that every search takes seconds. The distances are the real
# ones (Fisher, computed once and cached in the dictionary copy).
ARCHS = {
    "mnist:0-vs-rest": ("sep_conv_3x3", 8), "mnist:1-vs-rest": ("dil_conv_3x3", 8),
    "fashion-mnist:trouser-vs-rest": ("max_pool_3x3", 12), "fashion-mnist:coat-vs-rest": ("conv_7x1_1x7", 12),
}

TINY = {
    "samples": {"train": 192, "val": 96, "test": 96}, "retrain": {"epochs": 1, "batch_size": 64},
    "fuse": {"candidates_per_round": 2, "rounds": 1, "cycles": 1, "batch_size": 64},
    "methods": {"darts": {"epochs": 1}, "random-one-shot": {"subnets": 2}, "random": {"trials": 2},
                "resnet18": {"epochs": 1, "stem_stride": 4}, "resnet34": {"epochs": 1, "stem_stride": 4},
                "densenet161": {"epochs": 1, "stem_stride": 3}, "cnn5": {}},
}


def _arch(op: str, stem: int) -> Architecture:
    return Architecture.from_dict({"skeleton": {"stem": stem, "cells": 2, "reductions": [0, 1]},
                                   "cell": {"nodes": 2, "edges": [[0, 1, op]]}})


@pytest.fixture(scope="module")
def dictionary(tiny_dictionary, tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp") / "dictionary"
    shutil.copytree(tiny_dictionary.root, root)
    store = DictionaryStore.open(root)
    for task, (op, stem) in ARCHS.items():
        store.update(task, architecture={"arch": _arch(op, stem).to_dict(), "space": "standard", "strategy": "fuse"})
    return root


def _cfg(tmp, dictionary, data_dir, **over):
    return load_compare_config(None, {"target": TARGET, "dictionary": str(dictionary), "data_dir": str(data_dir),
                                      "results": str(tmp / "results"), "k": 2, "threads": 2, "budget": "tiny",
                                      "budgets": {"tiny": TINY}, **over})


@pytest.fixture(scope="module")
def results(tmp_path_factory, dictionary, data_dir):
    """One run of every method at the tiny budget (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("results")
    cfg = _cfg(tmp, dictionary, data_dir)
    events: list = []
    records = run_comparison(cfg, compare.method_names(), progress=events.append)
    return cfg, records, events


REQUIRED = {"method", "target", "test_error", "params", "search_seconds", "retrain_seconds", "device", "architecture",
            "budget", "data_fingerprint", "seed"}


def test_every_method_yields_a_valid_record(results):
    cfg, records, events = results
    assert [r["method"] for r in records] == compare.method_names()
    fingerprints = {r["data_fingerprint"] for r in records}
    assert len(fingerprints) == 1  # the same data for every method
    for r in records:
        assert REQUIRED <= set(r), r["method"]
        assert r["target"] == TARGET and r["seed"] == 0
        assert 0.0 <= r["test_error"] <= 100.0 and r["params"] > 0
        assert r["retrain_seconds"] > 0 and r["device"].startswith(("cpu", "cuda"))
        on_disk = json.loads(compare.record_path(cfg, r["method"]).read_text())
        assert on_disk["test_error"] == r["test_error"]
        assert r["kind"] == compare.method_kind(r["method"])
        if r["kind"] == "handcrafted":
            assert r["search_seconds"] == 0.0
        else:
            assert r["search_seconds"] > 0
            assert r["retrain_epochs"] == TINY["retrain"]["epochs"]  # the same recipe for every searched winner
    # NNI's strategies searched the cell form of the task-aware space (its most probable skeleton and cell, its
    # operations); FUSE's winner is a member of the task-aware space itself.
    space = build_space(SearchConfig(target=TARGET, dictionary=cfg.dictionary, data_dir=cfg.data_dir, k=2))
    cells = cell_space(space, 2)
    for r in records:
        if r["method"] in ("darts", "random", "random-one-shot", "fuse-task-aware"):
            arch = Architecture.from_dict(r["architecture_json"])
            assert space.contains(arch), (r["method"], str(arch))
            assert r["space_seconds"] >= 0
        if r["method"] in ("darts", "random", "random-one-shot"):
            assert arch.skeleton == cells.skeleton and arch.operations() <= set(cells.operations)
    by = {r["method"]: r for r in records}
    assert by["random"]["budget"]["trials"] == 2 and by["random"]["trials_run"] == 2
    assert by["random"]["budget"]["epochs_per_trial"] == TINY["retrain"]["epochs"]  # a trial trains like the final net
    assert by["darts"]["budget"]["epochs"] == 1 and by["darts"]["budget"]["arc_learning_rate"] == 3e-4
    assert by["random-one-shot"]["budget"]["epochs"] == 1  # FUSE's total weight epochs (1 round x 1 cycle x 1)
    assert by["resnet18"]["budget"] == {"epochs": 1, "stem_stride": 4}
    # progress: typed events tagged with their method: search progress, one val accuracy per retraining epoch, an end
    stages = {(e.method, e.stage) for e in events}
    assert ("darts", "search") in stages and ("random", "search") in stages and ("cnn5", "retrain") in stages
    assert all(e.method for e in events)
    assert [e for e in events if isinstance(e, Step) and e.method == "random"][-1].total == 2
    assert any(isinstance(e, compare.SearchEpoch) and e.method == "darts" for e in events)
    assert [e.epoch for e in events if isinstance(e, Epoch) and (e.method, e.stage) == ("cnn5", "retrain")] == [1]
    ends = [e for e in events if isinstance(e, Finished)]
    assert [e.method for e in ends] == compare.method_names() and not any(e.skipped for e in ends)
    by_end = {e.method: e for e in ends}
    assert by_end["cnn5"].test_error == pytest.approx(by["cnn5"]["test_error"] / 100)


@pytest.mark.parametrize("method", ["random-one-shot", "darts", "random", "cnn5"])
def test_a_method_rerun_under_the_same_seed_gives_the_same_result(method, results, dictionary, data_dir, tmp_path):
    """NNI's RandomOneShot too: its path sampling is seeded (NNI 3.0 samples with a fresh, unseeded generator)."""
    first = next(r for r in results[1] if r["method"] == method)
    again = run_method(_cfg(tmp_path, dictionary, data_dir), method)
    assert again["architecture"] == first["architecture"]
    assert again["test_error"] == first["test_error"] and again["val_curve"] == first["val_curve"]


def test_finished_methods_are_skipped_and_changed_settings_refused(results, dictionary, data_dir, tmp_path):
    cfg, records, _ = results
    path = compare.record_path(cfg, "cnn5")
    before = path.stat().st_mtime_ns
    events: list = []
    again = run_method(cfg, "cnn5", progress=events.append)
    assert again == json.loads(path.read_text()) and path.stat().st_mtime_ns == before
    assert isinstance(events[-1], Finished) and events[-1].skipped is True and events[-1].method == "cnn5"
    other = load_compare_config(None, {**{k: getattr(cfg, k) for k in ("target", "dictionary", "data_dir",
                                                                       "results", "k", "budget")},
                                       "budgets": {"tiny": {**TINY, "retrain": {"epochs": 2, "batch_size": 64}}}})
    with pytest.raises(TanasError, match="other settings"):
        run_method(other, "cnn5")
    forced = run_method(other, "cnn5", force=True)
    assert forced["retrain_epochs"] == 2 and path.stat().st_mtime_ns != before


def test_the_budget_max_params_bounds_the_fuse_winners_and_reruns_searched_methods_only(results, dictionary, data_dir,
                                                                             tmp_path):
    """``max_params`` (the suite's parameter budget) scales FUSE's candidates in both spaces and bounds NNI's cell
    space; it changes the settings of every searched method, not of a handcrafted network."""
    cfg, records, _ = results
    by = {r["method"]: r for r in records}
    budget = round(min(by["fuse-task-aware"]["params"], by["fuse-standard"]["params"]) * 1e6) - 1  # params: M
    over = {**TINY, "max_params": budget}
    bounded = _cfg(Path(cfg.results).parent, dictionary, data_dir, budgets={"tiny": over})
    for method in ("fuse-task-aware", "fuse-standard", "random", "darts"):
        with pytest.raises(TanasError, match="other settings"):
            run_method(bounded, method)
        fresh = run_method(_cfg(tmp_path, dictionary, data_dir, budgets={"tiny": over}), method)
        assert fresh["params"] * 1e6 <= budget, method
    assert fresh["exported"]  # an NNI winner records what it exported before it was scaled
    # not searched: a handcrafted record's settings do not depend on the budget
    plain = run_method(_cfg(tmp_path / "plain", dictionary, data_dir), "cnn5")
    assert run_method(_cfg(tmp_path / "bounded", dictionary, data_dir, budgets={"tiny": over}),
                      "cnn5")["config_hash"] == plain["config_hash"]
    with pytest.raises(TanasError, match="max_params"):
        _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "max_params": 0}})


def test_report_from_results_dir(results, tmp_path):
    cfg, records, _ = results
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "tanas_nni.cli", "report", cfg.results, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    table = (out / "report.md").read_text()
    for name in ("TA-NAS: FUSE, task-aware space", "NNI DARTS", "NNI random search", "NNI RandomOneShot",
                 "ResNet-18", "ResNet-34", "DenseNet-161", "5-conv CNN", "FUSE, standard space"):
        assert name in table and name in r.stdout
    assert "| Architecture | Error (%) | Params (M) | Search cost (s) | Search cost (device-hours) | Device |" in table
    rows = list(csv.DictReader(open(out / "report.csv")))
    assert {row["method"] for row in rows} == set(compare.method_names())
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_report_table_shows_failed_trials(tmp_path):
    recs = [{"method": "darts", "status": "FAILED"},
            {"method": "cnn5", "target": TARGET, "test_error": 4.0, "params": 0.139, "search_seconds": 0.0,
             "device": "cpu: x", "kind": "handcrafted"}]
    md = markdown_table(recs)
    assert "| NNI DARTS | FAILED |" in md and "| 5-conv CNN | 4.00 | 0.139 | 0 | 0.0000 CPU-h | cpu: x |" in md
    paths = write_report(recs, tmp_path)
    assert paths["png"].stat().st_size > 0


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tanas_nni.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (["compare", "--methods", "cnn5,nasnet"], "unknown method 'nasnet'"),
    (["compare", "--target", "mnist:sock-vs-rest", "--methods", "cnn5"], "unknown class 'sock'"),
    (["compare", "--config", "{bad}"], "malformed YAML"),
    (["compare", "--config", "{unknown}"], "unknown key 'budgett'"),
    (["compare", "--config", "{badbudget}"], "budget: unknown budget 'huge'"),
    (["report", "no/such/dir"], "no such results directory"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, data_dir):
    files = {"bad": "budget: [1", "unknown": "budgett: small", "badbudget": "budget: huge"}
    for name, text in files.items():
        (tmp_path / f"{name}.yml").write_text(text)
    args = [a.format(**{k: str(tmp_path / f"{k}.yml") for k in files}) for a in args]
    r = _cli(*args, "--data-dir", str(data_dir), "--results", str(tmp_path / "r")) if args[0] == "compare" \
        else _cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_shipped_config_and_experiment_agree(tmp_path):
    with pytest.raises(TanasError, match="packaged template; write your own copy with `tanas init DIR`"):
        load_compare_config(resource_path("configs", "compare.yml"))
    assert main(["init", str(tmp_path)]) == 0
    cfg = load_compare_config(tmp_path / "configs" / "compare.yml")
    assert cfg.dictionary == str(tmp_path / "runs" / "dictionary")  # relative paths point into the user's folder
    assert cfg.methods == compare.method_names()  # the registry's order is the config's and the report's
    assert {"small", "benchmark"} <= set(cfg.budgets)
    exp = yaml.safe_load((tmp_path / "experiments" / "quickdraw_compare.yml").read_text())
    assert exp["searchSpace"]["method"]["_value"] == cfg.methods
    assert "trial compare --config configs/compare.yml" in exp["trialCommand"]
    assert exp["tuner"]["name"] == "GridSearch" and exp["maxTrialNumber"] == len(cfg.methods)


def test_fuse_selection_reruns_what_it_changes_only(dictionary, data_dir, tmp_path):
    """``fuse.selection`` is FUSE's: its default leaves every record's settings as they were before the option existed;
    ``halving`` changes FUSE's records and, through the longer-trained survivors, the supernet epochs of DARTS and
    RandomOneShot, and leaves random search's (whose trials do not depend on it) alone."""
    from tanas_nni.core.config import config_hash
    from tanas_nni.experiment.compare.run import settings_of

    fuse = {**TINY["fuse"], "rounds": 2, "candidates_per_round": 3}
    rounds = _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "fuse": fuse}})
    halving = _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "fuse": {**fuse, "selection": "halving"}}})
    assert "selection" not in settings_of(rounds, "fuse-standard")["fuse"]
    changed = {m for m in ("fuse-task-aware", "fuse-standard", "darts", "random-one-shot", "random", "cnn5")
               if config_hash(settings_of(rounds, m)) != config_hash(settings_of(halving, m))}
    assert changed == {"fuse-task-aware", "fuse-standard", "darts", "random-one-shot"}
    assert settings_of(halving, "darts")["fuse_weight_epochs"] == 3  # 5 candidates: 3 halving rounds of 1 epoch
    assert halving.active.fuse_weight_epochs() == 3 and rounds.active.fuse_weight_epochs() == 2


def test_fill_budget_reruns_the_searched_methods_and_grows_their_winners(dictionary, data_dir, tmp_path):
    """``fill_budget`` is every searched method's: off (the default) it leaves the settings as before the option
    existed; on, it changes the searched methods' records and no handcrafted one, and an NNI strategy's export is
    scaled up within the budget before its retraining (the same search, a larger network)."""
    from tanas_nni.core.config import config_hash
    from tanas_nni.experiment.compare.run import settings_of

    budget = {**TINY, "max_params": 2_000_000}
    plain = _cfg(tmp_path / "plain", dictionary, data_dir, budgets={"tiny": budget})
    fill = _cfg(tmp_path / "fill", dictionary, data_dir, budgets={"tiny": {**budget, "fill_budget": True}})
    assert "fill_budget" not in settings_of(plain, "darts")
    changed = {m for m in ("fuse-task-aware", "fuse-standard", "darts", "random-one-shot", "random", "cnn5")
               if config_hash(settings_of(plain, m)) != config_hash(settings_of(fill, m))}
    assert changed == {"fuse-task-aware", "fuse-standard", "darts", "random-one-shot", "random"}
    small, grown = run_method(plain, "random-one-shot"), run_method(fill, "random-one-shot")
    assert grown["exported"] == small["exported"]
    assert small["parameters"] < grown["parameters"] <= 2_000_000
    with pytest.raises(TanasError, match="fill_budget: there is no parameter budget to fill"):
        _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "fill_budget": True}})


def test_retrain_top_reruns_the_fuse_methods_only(dictionary, data_dir, tmp_path):
    """``retrain_top`` is the FUSE methods': 1 (the default) leaves their settings as before the option existed; 2
    changes their records' settings and no other method's."""
    from tanas_nni.core.config import config_hash
    from tanas_nni.experiment.compare.run import settings_of

    one = _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": TINY})
    two = _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "retrain_top": 2}})
    assert "retrain_top" not in settings_of(one, "fuse-task-aware")
    changed = {m for m in ("fuse-task-aware", "fuse-standard", "darts", "random-one-shot", "random", "cnn5")
               if config_hash(settings_of(one, m)) != config_hash(settings_of(two, m))}
    assert changed == {"fuse-task-aware", "fuse-standard"}
    assert settings_of(two, "fuse-standard")["retrain_top"] == 2
    from tanas_nni.core.errors import TanasError

    with pytest.raises(TanasError, match="retrain_top: must be >= 1"):
        _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "retrain_top": -1}})
    with pytest.raises(TanasError, match="retrain_top: 99 is more than the 2 candidates the search compares"):
        _cfg(tmp_path, dictionary, data_dir, budgets={"tiny": {**TINY, "retrain_top": 99}})
