"""``benchmarks/distance_dictionaries.py`` on the tiny dictionary: the report, its tables, and the resume."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from tanas_nni.core.errors import TanasError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "distance_dictionaries.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("distance_dictionaries", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_report_on_a_built_dictionary_and_resume(bench, tiny_dictionary, data_dir, tmp_path, capsys):
    root = tmp_path / "tiny"
    shutil.copytree(tiny_dictionary.root, root)
    out = tmp_path / "results"
    argv = ["--dictionaries", str(root), "--method", "fisher", "--method", "otdd", "--set", "fisher.samples=64",
            "--set", "otdd.samples=64", "--data-dir", str(data_dir), "--threads", "1", "--out", str(out)]
    assert bench.main(argv) == 0
    assert "(reused)" not in capsys.readouterr().err
    [report] = out.glob("distance-dictionaries-*.md")
    text = report.read_text()
    assert "| dictionary | fisher | otdd |" in text and "## The bar" in text
    assert "(on 1 dictionary only)" in text and "## Dictionary tiny" in text
    for method in ("fisher", "otdd"):
        [summary] = out.glob(f"distance-dictionaries-*-tiny-{method}.json")
        assert summary.with_suffix(".csv").is_file() and summary.with_suffix(".png").is_file()
    assert not (root / "cache" / "distances").exists()  # computed on a scratch copy
    # A rerun reuses both matrices; --force recomputes them.
    assert bench.main(argv) == 0
    assert report.read_text().count("(reused)") == 2 and capsys.readouterr().err.count("(reused)") == 2
    assert bench.main(argv + ["--force"]) == 0
    assert "(reused)" not in report.read_text()


def test_bad_settings_fail_before_anything_runs(bench, tmp_path):
    with pytest.raises(TanasError, match="expected method.key=value"):
        bench.main(["--dictionaries", str(tmp_path), "--method", "fisher", "--set", "samples=64"])
    with pytest.raises(TanasError, match="unknown"):
        bench.main(["--dictionaries", str(tmp_path), "--method", "nope"])


def test_the_three_configs_differ_only_in_their_tasks(bench):
    default = bench.load_dictionary_config_or_template("configs/dictionary.yml", None)
    if not (bench.REPO / "configs" / "dictionary.yml").is_file():  # no `tanas init .`: the packaged template
        assert Path(default.dictionary) == bench.REPO / "runs" / "dictionary"
    seen = set(default.tasks)
    for name in ("upper", "mixed"):
        cfg = bench.load_dictionary_config_or_template(f"benchmarks/dictionary-{name}.yml", None)
        assert Path(cfg.dictionary) == bench.REPO / "runs" / f"dict-{name}"
        assert cfg.entry_settings() == default.entry_settings()
        assert len(cfg.tasks) == 10 and sum(t.startswith("mnist:") for t in cfg.tasks) == 5
        assert set(cfg.tasks) != seen
