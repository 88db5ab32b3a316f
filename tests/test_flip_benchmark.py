"""benchmarks/flip.py: paired runs with and without mirrored images, resumable, on the suite's tiny budget."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def flip():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("tanas_flip_benchmark", REPO / "benchmarks" / "flip.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its worker function is sent to a process pool by its module's name
    spec.loader.exec_module(module)
    return module


def test_pairs_are_recorded_once_and_a_torn_line_is_redone(flip, data_dir, tmp_path, capsys):
    argv = ["--data-dir", str(data_dir), "--targets", "quickdraw:eye-vs-rest", "--seeds", "0", "--budget", "tiny",
            "--out", str(tmp_path)]
    assert flip.main(argv) == 0
    rows = [json.loads(line) for line in (tmp_path / "flip.jsonl").read_text().splitlines()]
    assert sorted(r["flip"] for r in rows) == [False, True]
    assert {r["test_size"] for r in rows} == {200} and all(r["budget"] == "tiny" for r in rows)
    table = (tmp_path / "flip.md").read_text()
    assert "| quickdraw:eye-vs-rest | 0 | 200 |" in table and "1 paired runs" in table
    # A rerun trains nothing; a line cut short by a kill is skipped and that run redone.
    lines = (tmp_path / "flip.jsonl").read_text().splitlines()
    (tmp_path / "flip.jsonl").write_text(lines[0] + "\n" + lines[1][:40] + "\n")
    capsys.readouterr()
    assert flip.main(argv) == 0
    assert capsys.readouterr().out.count("seed 0 flip") == 1
    kept = [json.loads(line) for line in (tmp_path / "flip.jsonl").read_text().splitlines()[::2]]
    assert sorted(r["flip"] for r in kept) == [False, True]


@pytest.mark.parametrize("flag, value, says", [("--budget", "nope", "unknown budget 'nope'"),
                                              ("--targets", "quickdraw", "--targets")])
def test_bad_flags_are_one_line_and_exit_2(flip, data_dir, tmp_path, capsys, flag, value, says):
    argv = {"--data-dir": str(data_dir), "--targets": "quickdraw:eye-vs-rest", "--out": str(tmp_path), flag: value}
    assert flip.main([x for kv in argv.items() for x in kv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("flip.py: error: ") and says in err and "\n" not in err
    assert not (tmp_path / "flip.jsonl").exists()
