"""`tanas data list|check|download` on the real offline data and on broken copies of it."""
from __future__ import annotations

import shutil

from tanas_nni.cli import main


def test_list_and_check_the_offline_data(data_dir, capsys):
    assert main(["data", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {data_dir}" in out and "train-images-idx3-ubyte.gz" in out and "cat.npy" in out
    assert "missing" not in out
    assert main(["data", "check", "--data-dir", str(data_dir)]) == 0
    assert "18 of 18 files ok" in capsys.readouterr().out  # 4 + 4 idx files and the 10 Quick, Draw! categories


def test_check_names_each_missing_and_corrupt_file_and_exits_1(data_dir, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(data_dir / "MNIST", root / "MNIST")
    shutil.copytree(data_dir / "FashionMNIST", root / "FashionMNIST")
    (root / "quickdraw").mkdir()
    shutil.copy(data_dir / "quickdraw" / "cat.npy", root / "quickdraw" / "cat.npy")
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    bad = root / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-10])
    (root / "quickdraw" / "fish.npy").write_bytes(b"not an array")
    assert main(["data", "check", "--data-dir", str(root)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in captured.err
    assert any("t10k-labels-idx1-ubyte.gz: missing" in line for line in lines)
    assert any(str(bad) in line and "corrupt (md5" in line for line in lines)
    assert any("fish.npy: unreadable" in line for line in lines)
    assert "7 of 10 files ok" in captured.out


def test_download_offline_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, capsys):
    root = tmp_path / "empty"
    assert main(["data", "download", "quickdraw:zebra", "--data-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zebra" in err[0] and "quickdraw" in err[0] and "could not be downloaded" in err[0]
    assert not root.exists()
    assert main(["data", "download", "imagenet", "--data-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a downloadable dataset" in err[0]
