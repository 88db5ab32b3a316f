"""The bad-input catalogue over every command: each case is one line on stderr, exit 2, and not one byte changed in the
dictionary, the data, the configs or the working directory (compared file by file before and after)."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tanas_nni.cli import main
from tests.test_bad_input_files import one_error_line, snapshot

GOOD_SEARCH = {"target": "mnist:2-vs-rest", "space": "task-aware", "k": 2, "samples": {"train": 64, "val": 32,
                                                                                     "test": 32}}


def _configs(root):
    """Bad config files (name -> text), written once into the case's root."""
    bad_search = {
        "search-unknown-key": {**GOOD_SEARCH, "colour": "red"},
        "search-wrong-type": {**GOOD_SEARCH, "k": "three"},
        "search-k-zero": {**GOOD_SEARCH, "k": 0},
        "search-bad-space": {**GOOD_SEARCH, "space": "huge"},
        "search-bad-method": {**GOOD_SEARCH, "method": "euclid"},
        "search-bad-strategy": {**GOOD_SEARCH, "strategy": "darts"},
        "search-bad-target": {**GOOD_SEARCH, "target": "mnist:11-vs-rest"},
        "search-no-target": {"space": "standard"},
        "search-fuse-not-mapping": {**GOOD_SEARCH, "fuse": 3},
        "search-fuse-unknown": {**GOOD_SEARCH, "fuse": {"speed": 2}},
        "search-samples-one": {**GOOD_SEARCH, "samples": {"train": 1}},
        "search-retrain-epochs-zero": {**GOOD_SEARCH, "retrain": {"epochs": 0}},
        "search-retrain-optimizer": {**GOOD_SEARCH, "retrain": {"optimizer": "rmsprop"}},
        "search-retrain-flip": {**GOOD_SEARCH, "retrain": {"flip": "maybe"}},
        "search-fill-no-budget": {**GOOD_SEARCH, "fill_budget": True},
        "search-threads-zero": {**GOOD_SEARCH, "threads": 0},
        "search-tau-negative": {**GOOD_SEARCH, "tau": -1.0},
        "search-candidates-one": {**GOOD_SEARCH, "candidates": 1},
        "search-list-doc": ["target", "mnist:0-vs-rest"],
        "dict-empty-tasks": {"tasks": []},
        "dict-duplicate-task": {"tasks": ["mnist:1-vs-rest", "mnist:1-vs-rest"]},
        "dict-alias-duplicate": {"tasks": ["fashion-mnist:1-vs-rest", "fashion-mnist:trouser-vs-rest"]},
        "dict-bad-network": {"tasks": ["mnist:0-vs-rest"], "network": {"name": "vgg"}},
        "dict-width-zero": {"tasks": ["mnist:0-vs-rest"], "network": {"width": 0}},
        "dict-seed-negative": {"tasks": ["mnist:0-vs-rest"], "seed": -3},
        "dict-unknown-dataset": {"tasks": ["cifar:cat-vs-rest"]},
        "dict-arch-search-train": {"tasks": ["mnist:0-vs-rest"], "architecture_search": {"train": 1}},
        "dict-arch-candidates": {"tasks": ["mnist:0-vs-rest"], "architecture_search": {"candidates": 0}},
        "compare-unknown-method": {"methods": ["alexnet"]},
        "compare-unknown-budget": {"budget": "huge"},
        "compare-bad-distance": {"distance": "euclid"},
        "compare-bad-target": {"target": "quickdraw:"},
    }
    for name, doc in bad_search.items():
        (root / f"{name}.yml").write_text(yaml.safe_dump(doc))
    (root / "malformed.yml").write_text("target: [unclosed\n")
    (root / "duplicate.yml").write_text("target: mnist:0-vs-rest\ntarget: mnist:1-vs-rest\n")
    (root / "empty.yml").write_text("")
    (root / "not-yaml.yml").write_bytes(b"\xff\xfe\x00binary")
    # A finished export that a failed rerun into the same folder must leave exactly as it is.
    (root / "export").mkdir()
    (root / "export" / "config.yml").write_text(yaml.safe_dump(GOOD_SEARCH))
    (root / "export" / "metrics.json").write_text(json.dumps({"test_error": 0.05}))
    (root / "records").mkdir()
    (root / "records" / "bad.json").write_text("{not json")
    good = {"method": "cnn5", "target": "mnist:0-vs-rest", "test_error": 4.2, "params": 0.1, "search_seconds": 0}
    for folder, record in (("records2", {**good, "test_error": "4.2"}), ("records3", {k: v for k, v in good.items()
                                                                                       if k != "params"})):
        (root / folder).mkdir()
        (root / folder / "cnn5.json").write_text(json.dumps(record))
    return sorted(bad_search)


@pytest.fixture(scope="module")
def root(tiny_dictionary, tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    shutil.copytree(tiny_dictionary.root, root / "dictionary")
    _configs(root)
    return root


SEARCH = ["search", "--dictionary", "{dict}", "--data-dir", "{data}", "--quiet"]
CASES = {
    # tanas search: configs
    **{f"search --config {n}": (SEARCH + ["--config", "{root}/" + n + ".yml"], m) for n, m in [
        ("search-unknown-key", "unknown key 'colour'"), ("search-wrong-type", "k: expected an integer"),
        ("search-k-zero", "k: must be >= 1"), ("search-bad-space", "unknown space 'huge'"),
        ("search-bad-method", "unknown distance 'euclid'"), ("search-bad-strategy", "unknown strategy 'darts'"),
        ("search-bad-target", "unknown class '11'"), ("search-no-target", "no target task given"),
        ("search-fuse-not-mapping", "fuse: expected a mapping"), ("search-fuse-unknown", "unknown key 'speed'"),
        ("search-samples-one", "samples.train: must be at least 2"),
        ("search-retrain-epochs-zero", "retrain.epochs"), ("search-retrain-optimizer", "retrain.optimizer"),
        ("search-retrain-flip", "retrain.flip: expected true or false"),
        ("search-fill-no-budget", "fill_budget: there is no parameter budget to fill"),
        ("search-threads-zero", "threads: must be >= 1"), ("search-tau-negative", "tau: must be > 0"),
        ("search-candidates-one", "candidates: must be >= 2"), ("search-list-doc", "must be a YAML mapping"),
        ("malformed", "malformed YAML"), ("duplicate", "given twice"), ("empty", "the config file is empty"),
        ("not-yaml", "cannot read config"), ("missing", "config file not found")]},
    # tanas search: flags
    "search --k 9": (SEARCH + ["--target", "mnist:2-vs-rest", "--k", "9"], "k: 9 is larger than the dictionary"),
    "search --rounds 0": (SEARCH + ["--target", "mnist:2-vs-rest", "--rounds", "0"], "fuse.rounds: must be >= 1"),
    "search --train-samples 1": (SEARCH + ["--target", "mnist:2-vs-rest", "--train-samples", "1"], "at least 2"),
    "search --k two": (SEARCH + ["--target", "mnist:2-vs-rest", "--k", "two"], "invalid int value"),
    "search --seed 2**32": (SEARCH + ["--target", "mnist:2-vs-rest", "--seed", str(2**32)], "seed: must be <="),
    "search --method nope": (SEARCH + ["--target", "mnist:2-vs-rest", "--method", "nope"], "unknown distance"),
    "search no dictionary": (["search", "--target", "mnist:2-vs-rest", "--dictionary", "{root}/none", "--quiet"],
                             "does not exist"),
    "search unknown dataset": (SEARCH + ["--target", "cifar:cat-vs-rest"], "unknown dataset 'cifar'"),
    "search no architectures": (SEARCH + ["--target", "mnist:2-vs-rest"], "have no architecture"),
    "search --space-file missing": (SEARCH + ["--target", "mnist:2-vs-rest", "--space", "standard", "--space-file",
                                              "{root}/nope.yml"], "nope.yml"),
    "search --space-file not a space": (SEARCH + ["--target", "mnist:2-vs-rest", "--space", "standard",
                                                  "--space-file", "{root}/search-k-zero.yml"], "search-k-zero.yml"),
    "search into a finished export, k too large": (SEARCH + ["--target", "mnist:2-vs-rest", "--k", "9", "--out",
                                                             "{root}/export"], "k: 9 is larger"),
    "search into a finished export, no architectures": (SEARCH + ["--target", "mnist:2-vs-rest", "--out",
                                                                  "{root}/export"], "have no architecture"),
    "search into a finished export, bad target": (SEARCH + ["--target", "mnist:12-vs-rest", "--out",
                                                            "{root}/export"], "unknown class '12'"),
    # tanas dictionary
    **{f"dictionary build {n}": (["dictionary", "build", "{root}/" + n + ".yml", "--dictionary", "{root}/new",
                                  "--data-dir", "{data}"], m) for n, m in [
        ("dict-empty-tasks", "list of base tasks is empty"), ("dict-duplicate-task", "listed twice"),
        ("dict-alias-duplicate", "fashion-mnist:trouser-vs-rest is listed twice"),
        ("dict-bad-network", "unknown network 'vgg'"), ("dict-width-zero", "network.width: must be >= 1"),
        ("dict-seed-negative", "seed: must be >= 0"), ("dict-unknown-dataset", "unknown dataset 'cifar'"),
        ("dict-arch-search-train", "architecture_search.train: must be >= 2"),
        ("dict-arch-candidates", "architecture_search.candidates: must be >= 1"),
        ("malformed", "malformed YAML"), ("empty", "the config file is empty"), ("missing", "not found")]},
    "dictionary architectures bad config": (["dictionary", "architectures", "{root}/dict-width-zero.yml",
                                             "--dictionary", "{dict}"], "network.width"),
    "dictionary show unknown": (["dictionary", "show", "mnist:7-vs-rest", "--dictionary", "{dict}"], "mnist:7-vs-rest"),
    "dictionary show bad id": (["dictionary", "show", "mnist", "--dictionary", "{dict}"], "task id 'mnist'"),
    "dictionary show traversal": (["dictionary", "show", "mnist:../3-vs-rest", "--dictionary", "{dict}"],
                                  "'.' is not allowed"),
    "dictionary list missing": (["dictionary", "list", "--dictionary", "{root}/none"], "does not exist"),
    "dictionary list not a dictionary": (["dictionary", "list", "--dictionary", "{root}/records"],
                                         "is not a tanas dictionary"),
    # tanas distance
    "distance unknown method": (["distance", "--target", "mnist:2-vs-rest", "--method", "euclid", "--dictionary",
                                 "{dict}", "--data-dir", "{data}"], "euclid"),
    "distance bad setting": (["distance", "--target", "mnist:2-vs-rest", "--set", "speed=3", "--dictionary", "{dict}",
                              "--data-dir", "{data}"], "speed"),
    "distance setting without =": (["distance", "--target", "mnist:2-vs-rest", "--set", "speed", "--dictionary",
                                    "{dict}", "--data-dir", "{data}"], "expected key=value"),
    "distance bad target": (["distance", "--target", "mnist:42-vs-rest", "--dictionary", "{dict}", "--data-dir",
                             "{data}"], "unknown class '42'"),
    "distance traversal": (["distance", "--target", "mnist:../../2-vs-rest", "--dictionary", "{dict}", "--data-dir",
                            "{data}"], "is not allowed"),
    "distance no dictionary": (["distance", "--target", "mnist:2-vs-rest", "--dictionary", "{root}/none"],
                               "does not exist"),
    "distance-matrix unknown method": (["distance-matrix", "--method", "euclid", "--dictionary", "{dict}", "--out",
                                        "{root}/m"], "euclid"),
    "distance-matrix setting without method": (["distance-matrix", "--method", "fisher", "--set", "samples=3",
                                                "--dictionary", "{dict}", "--out", "{root}/m"], "name the method"),
    # tanas compare
    **{f"compare --config {n}": (["compare", "--config", "{root}/" + n + ".yml", "--dictionary", "{dict}",
                                  "--data-dir", "{data}", "--results", "{root}/r"], m) for n, m in [
        ("compare-unknown-method", "unknown method 'alexnet'"), ("compare-unknown-budget", "unknown budget 'huge'"),
        ("compare-bad-distance", "unknown distance 'euclid'"), ("compare-bad-target", "task id 'quickdraw:'"),
        ("malformed", "malformed YAML"), ("empty", "the config file is empty")]},
    "compare --methods unknown": (["compare", "--methods", "alexnet", "--dictionary", "{dict}", "--results",
                                   "{root}/r"], "alexnet"),
    "compare --budget unknown": (["compare", "--budget", "huge", "--dictionary", "{dict}", "--results", "{root}/r"],
                                 "huge"),
    # tanas report
    "report missing source": (["report", "{root}/none", "--out", "{root}/rep"], "none"),
    "report corrupt record": (["report", "{root}/records", "--out", "{root}/rep"], "bad.json: not a readable record"),
    "report string test_error": (["report", "{root}/records2", "--out", "{root}/rep"],
                                 "test_error: expected a number, got '4.2'"),
    "report record without params": (["report", "{root}/records3", "--out", "{root}/rep"],
                                     "params: expected a number, got None"),
    # argparse itself
    "no command": ([], "required"),
    "unknown command": (["train"], "invalid choice"),
    "search unknown flag": (["search", "--colour", "red"], "unrecognized arguments"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_across_commands(case, root, data_dir, tmp_path, capsys, monkeypatch):
    argv, expected = CASES[case]
    argv = [a.format(root=root, dict=root / "dictionary", data=data_dir) for a in argv]
    monkeypatch.chdir(tmp_path)
    before = snapshot(root, tmp_path)
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert expected in line, line
    assert snapshot(root, tmp_path) == before
