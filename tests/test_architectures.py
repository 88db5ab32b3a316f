"""Base-task architectures: shipped ones used when the config hash matches, searched otherwise; --force; list."""
import json
import shutil

import pytest
import yaml

from tanas_nni.cli import main

from conftest import TINY_SPACE


@pytest.fixture()
def tiny_space(tmp_path):
    path = tmp_path / "tiny.yml"
    path.write_text(TINY_SPACE)
    return path


def _config(tmp_path, tiny_dictionary, data_dir, tiny_space, **search):
    from tanas_nni.dictionary import DictionaryStore

    root = tmp_path / "dictionary"
    shutil.copytree(tiny_dictionary.root, root)
    tasks = DictionaryStore.open(root).task_ids()
    config = tmp_path / "dict.yml"
    config.write_text(yaml.safe_dump({
        "tasks": tasks, "dictionary": str(root), "data_dir": str(data_dir), "seed": 0,
        "samples": {"train": 128, "val": 64, "test": 32}, "training": {"epochs": 1},
        "architecture_search": {"space_file": str(tiny_space), "train": 64, "val": 32, "candidates": 2,
                                "retrain_top": 1, "extra_rounds": 0, **search}}))
    return config, root, tasks


def _shipped_for(config, tasks, arch):
    from tanas_nni.pipeline import load_dictionary_config, search_key

    key = search_key(load_dictionary_config(config))
    rec = {"key": key, "provenance": {"search": "test"},
           "tasks": {t: {"arch": arch, "key": "shipped", "str": "shipped", "strategy": "sample-rank-retrain",
                         "score": {"retrained_val_acc": 0.5, "network_val_acc": 0.4}} for t in tasks}}
    return key, rec


def test_shipped_architectures_are_used_when_the_config_hash_matches(tiny_dictionary, data_dir, tiny_space, tmp_path,
                                                                     monkeypatch, capsys):
    import tanas_nni.pipeline.architectures as A
    from tanas_nni.dictionary import DictionaryStore

    config, root, tasks = _config(tmp_path, tiny_dictionary, data_dir, tiny_space)
    arch = json.loads(json.dumps(A.TaskAwareSpace.standard(str(tiny_space)).candidates(1)[0].to_dict()))
    key, rec = _shipped_for(config, tasks, arch)
    monkeypatch.setattr(A, "shipped_architectures", lambda k: rec if k == key else None)
    assert main(["dictionary", "architectures", str(config)]) == 0
    assert capsys.readouterr().err.count("shipped architecture") == len(tasks)
    store = DictionaryStore.open(root)
    assert all(store.get(t).architecture["provenance"]["shipped"] for t in tasks)
    # --force searches again instead of installing the shipped ones.
    assert main(["dictionary", "architectures", str(config), "--force"]) == 0
    assert "shipped architecture" not in capsys.readouterr().err
    assert all(store.get(t).architecture["key"] != "shipped" for t in tasks)


def test_a_config_that_differs_is_searched(tiny_dictionary, data_dir, tiny_space, tmp_path, monkeypatch, capsys):
    import tanas_nni.pipeline.architectures as A

    config, root, tasks = _config(tmp_path, tiny_dictionary, data_dir, tiny_space)
    _, rec = _shipped_for(config, tasks, {})
    (tmp_path / "b").mkdir()
    other, _, _ = _config(tmp_path / "b", tiny_dictionary, data_dir, tiny_space, candidates=3)
    from tanas_nni.pipeline import load_dictionary_config

    assert A.search_key(load_dictionary_config(other)) != rec["key"]
    monkeypatch.setattr(A, "shipped_architectures", lambda k: rec if k == rec["key"] else None)
    assert main(["dictionary", "architectures", str(other)]) == 0
    assert "shipped architecture" not in capsys.readouterr().err


def test_shipped_files_are_valid_and_name_their_config():
    from importlib import resources

    folder = resources.files("tanas_nni.resources") / "architectures"
    for f in folder.iterdir():
        if f.name.endswith(".json"):
            rec = json.loads(f.read_text())
            assert rec["key"] and rec["tasks"] and rec["provenance"]["command"]
            for t in rec["tasks"].values():
                assert {"retrained_val_acc", "network_val_acc", "parameters"} <= set(t["score"])


def test_a_corrupt_shipped_file_is_one_line(tmp_path, monkeypatch):
    import pytest
    import tanas_nni.pipeline.architectures as A
    from tanas_nni.core.errors import TanasError

    pkg = tmp_path / "res"
    (pkg / "architectures").mkdir(parents=True)
    (pkg / "architectures" / "bad.json").write_text("{not json")
    monkeypatch.setattr(A.resources, "files", lambda name: pkg)
    with pytest.raises(TanasError, match="bad.json: not valid JSON"):
        A.shipped_architectures("x")
