"""`tanas dictionary ...`: the commands, and bad input met with one line, exit 2, no traceback, nothing changed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tanas_nni.cli import main
from tanas_nni.dictionary import DictionaryStore


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("tanas: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def write(tmp_path, text, name="cfg.yml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def dict_copy(tiny_dictionary, tmp_path):
    shutil.copytree(tiny_dictionary.root, tmp_path / "d")
    return tmp_path / "d"


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_list_and_show(capsys, dict_copy):
    code, out, _ = run(capsys, "dictionary", "list", "-d", dict_copy)
    assert code == 0 and "4 entries" in out and "mnist:1-vs-rest" in out
    code, out, _ = run(capsys, "dictionary", "show", "fashion-mnist:1-vs-rest", "-d", dict_copy)
    assert code == 0 and '"task": "fashion-mnist:trouser-vs-rest"' in out and '"test_acc"' in out


def test_every_subcommand_has_help(capsys):
    for argv in (["--help"], ["dictionary", "--help"], ["dictionary", "build", "--help"], ["dictionary", "list", "--help"]):
        assert main(argv) == 0
        assert "usage:" in capsys.readouterr().out


BAD_CONFIGS = {
    "unknown dataset": ("tasks: [cifar:3-vs-rest]\n", "unknown dataset 'cifar'"),
    "unknown class": ("tasks: [fashion-mnist:sock-vs-rest]\n", "unknown class 'sock'"),
    "malformed yaml": ("tasks: [mnist:0-vs-rest\nseed: 0\n", "malformed YAML"),
    "unknown key": ("tasks: [mnist:0-vs-rest]\nepochs: 3\n", "unknown key 'epochs'"),
    "unknown nested key": ("tasks: [mnist:0-vs-rest]\ntraining: {epoch: 3}\n", "training: unknown key 'epoch'"),
    "wrong type": ("tasks: [mnist:0-vs-rest]\ntraining: {epochs: three}\n", "training.epochs: expected an integer"),
    "out of range": ("tasks: [mnist:0-vs-rest]\ntraining: {epochs: 0}\n", "epochs: must be >= 1"),
    "empty task list": ("tasks: []\n", "tasks: the list of base tasks is empty"),
    "tasks not a list": ("tasks: mnist:0-vs-rest\n", "tasks: expected a list"),
    "duplicate task": ("tasks: [mnist:1-vs-rest, 'mnist:1-vs-rest']\n", "listed twice"),
    "not a mapping": ("- a\n- b\n", "must be a YAML mapping"),
    "bad task id": ("tasks: [mnist]\n", "task id 'mnist'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_refused_and_dictionary_untouched(capsys, tmp_path, dict_copy, data_dir, case):
    text, needle = BAD_CONFIGS[case]
    cfg = write(tmp_path, text)
    before = snapshot(dict_copy)
    code, _, err = run(capsys, "dictionary", "build", cfg, "-d", dict_copy, "--data-dir", data_dir)
    assert_one_line_error(code, err, needle)
    assert snapshot(dict_copy) == before


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run(capsys, "dictionary", "build", tmp_path / "nope.yml")
    assert_one_line_error(code, err, "nope.yml: config file not found")


def test_missing_data_files(capsys, tmp_path):
    cfg = write(tmp_path, "tasks: [mnist:0-vs-rest]\n")
    code, _, err = run(capsys, "dictionary", "build", cfg, "-d", tmp_path / "d", "--data-dir", tmp_path / "empty")
    assert_one_line_error(code, err, str(tmp_path / "empty" / "MNIST" / "raw"), "could not be downloaded")


def test_unwritable_dictionary_directory(capsys, tmp_path, data_dir):
    (tmp_path / "a-file").write_text("x")
    cfg = write(tmp_path, "tasks: [mnist:0-vs-rest]\n")
    code, _, err = run(capsys, "dictionary", "build", cfg, "-d", tmp_path / "a-file" / "d", "--data-dir", data_dir)
    assert_one_line_error(code, err, "cannot create dictionary")


def test_truncated_weight_file(capsys, dict_copy):
    w = dict_copy / "entries" / "mnist__0-vs-rest" / "weights.pt"
    w.write_bytes(w.read_bytes()[:100])
    code, _, err = run(capsys, "dictionary", "show", "mnist:0-vs-rest", "-d", dict_copy)
    assert_one_line_error(code, err, "mnist:0-vs-rest", "weights.pt does not match its checksum")
    code, out, err = run(capsys, "dictionary", "list", "-d", dict_copy)
    assert code == 2 and "CORRUPT" in out and "1 corrupt entry" in err
    assert DictionaryStore.open(dict_copy).get("mnist:1-vs-rest")  # other entries intact


def test_unknown_entry_and_missing_dictionary(capsys, dict_copy, tmp_path):
    code, _, err = run(capsys, "dictionary", "show", "mnist:9-vs-rest", "-d", dict_copy)
    assert_one_line_error(code, err, "not in dictionary")
    code, _, err = run(capsys, "dictionary", "list", "-d", tmp_path / "none")
    assert_one_line_error(code, err, "does not exist")


def test_argparse_errors_are_one_line_exit_2(capsys):
    assert main(["dictionary", "frobnicate"]) == 2  # an exit code, also for in-process callers
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("tanas: error:")


def test_console_script_exit_code_in_a_real_process(tmp_path):
    cfg = write(tmp_path, "tasks: [mnist:0-vs-rest]\nbogus: 1\n")
    r = subprocess.run([sys.executable, "-m", "tanas_nni.cli", "dictionary", "build", str(cfg)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("tanas: error:") and "Traceback" not in r.stderr
