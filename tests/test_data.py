"""Loaders, tasks and splits on the real offline datasets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tanas_nni.data import SplitSizes, TaskSpec, load_dataset, load_task, register_dataset
from tanas_nni.data.datasets import download_quickdraw, resolve_data_dir
from tanas_nni.core.errors import TanasError


@pytest.mark.parametrize("name,n_train,classes", [("mnist", 50000, 10), ("fashion-mnist", 50000, 10),
                                                  ("quickdraw", 15400, 10)])
def test_dataset_pools_shapes_and_ranges(data_dir, name, n_train, classes):
    pools = load_dataset(name, data_dir)
    assert len(pools.classes) == classes
    assert pools.images["train"].shape == (n_train, 28, 28)
    for split in ("train", "val", "test"):
        x, y = pools.images[split], pools.labels[split]
        assert x.dtype == np.uint8 and len(x) == len(y) > 0
        assert set(np.unique(y)) == set(range(classes))
    assert pools.images["train"].max() == 255


def test_mnist_pools_partition_the_official_files(data_dir):
    pools = load_dataset("mnist", data_dir)
    assert len(pools.images["train"]) + len(pools.images["val"]) == 60000
    assert len(pools.images["test"]) == 10000
    # per-class counts of the official training labels (published with the dataset)
    counts = np.bincount(np.concatenate([pools.labels["train"], pools.labels["val"]]))
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_quickdraw_cap_per_class(data_dir):
    pools = load_dataset("quickdraw", data_dir, max_per_class=1000)
    total = sum(len(pools.labels[s]) for s in ("train", "val", "test"))
    assert total == 10 * 1000


@pytest.mark.parametrize("task_id,canonical", [
    ("mnist:3-vs-rest", "mnist:3-vs-rest"),
    ("fashion-mnist:1-vs-rest", "fashion-mnist:trouser-vs-rest"),
    ("Fashion-MNIST:T-Shirt-vs-rest", "fashion-mnist:t-shirt-vs-rest"),
    ("quickdraw:smiley_face-vs-rest", "quickdraw:smiley-face-vs-rest"),
    ("quickdraw:cat+fish+eye", "quickdraw:cat+fish+eye"),
    ("mnist:all", "mnist:all"),
])
def test_task_id_round_trip(data_dir, task_id, canonical):
    task = load_task(task_id, data_dir, sizes=SplitSizes(40, 20, 20))
    assert str(task.spec) == canonical
    assert str(TaskSpec.parse(canonical)) == canonical
    assert TaskSpec.parse(str(TaskSpec.parse(canonical))) == TaskSpec.parse(canonical)


@pytest.mark.parametrize("bad", ["mnist", "mnist:", ":3-vs-rest", "mnist:-vs-rest", "mnist:3+3", "mnist:cat", 42])
def test_task_id_errors_are_one_line(data_dir, bad):
    with pytest.raises(TanasError) as e:
        load_task(bad, data_dir)
    assert "\n" not in str(e.value)


def test_unknown_dataset_and_class(data_dir):
    with pytest.raises(TanasError, match="unknown dataset 'cifar'"):
        load_task("cifar:3-vs-rest", data_dir)
    with pytest.raises(TanasError, match="unknown class 'sock'"):
        load_task("fashion-mnist:sock-vs-rest", data_dir)


def test_one_vs_rest_is_balanced_and_negatives_class_balanced(data_dir):
    task = load_task("quickdraw:cat-vs-rest", data_dir, seed=3)
    assert task.sizes() == {"train": 4200, "val": 900, "test": 900}
    pools = load_dataset("quickdraw", data_dir)
    cat = pools.class_index("cat")
    for split in ("train", "val", "test"):
        y = task.y[split]
        assert y.sum().item() * 2 == len(y)  # half positive
    # negatives: recover each negative's source class by matching pixels against the pool
    rows = {pools.images["train"][i].tobytes(): int(pools.labels["train"][i]) for i in range(len(pools.labels["train"]))}
    neg = (task.x["train"][task.y["train"] == 0] * 255).round().to(torch.uint8).squeeze(1).numpy()
    sources = np.bincount([rows[n.tobytes()] for n in neg], minlength=10)
    assert sources[cat] == 0
    others = np.delete(sources, cat)
    assert others.max() - others.min() <= 1  # 2100 negatives over 9 classes: 233 or 234 each


def test_values_in_unit_range_and_shapes(data_dir):
    task = load_task("mnist:7-vs-rest", data_dir, sizes=SplitSizes(100, 50, 50))
    assert task.x["train"].shape == (100, 1, 28, 28) and task.x["train"].dtype == torch.float32
    assert 0.0 <= task.x["train"].min() and task.x["train"].max() <= 1.0
    assert task.y["train"].dtype == torch.int64 and task.num_classes == 2


def test_splits_deterministic_and_seeded(data_dir):
    a = load_task("fashion-mnist:coat-vs-rest", data_dir, seed=0, sizes=SplitSizes(300, 100, 100))
    b = load_task("fashion-mnist:coat-vs-rest", data_dir, seed=0, sizes=SplitSizes(300, 100, 100))
    c = load_task("fashion-mnist:coat-vs-rest", data_dir, seed=1, sizes=SplitSizes(300, 100, 100))
    assert a.fingerprint == b.fingerprint
    assert all(torch.equal(a.x[s], b.x[s]) for s in ("train", "val", "test"))
    assert a.fingerprint != c.fingerprint


def test_no_overlap_between_splits(data_dir):
    task = load_task("quickdraw:fish+eye+cat", data_dir)
    keys = {s: {r.numpy().tobytes() for r in (task.x[s] * 255).round().to(torch.uint8)} for s in ("train", "val", "test")}
    assert not keys["train"] & keys["val"]
    assert not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]


def test_data_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("TANAS_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("TANAS_DATA_DIR")
    assert resolve_data_dir().name == "datasets"


def test_missing_files_offline_error_names_the_place(tmp_path):
    """The real download path runs and, with no network, fails with a one-line error saying where to put the files."""
    with pytest.raises(TanasError) as e:
        load_dataset("mnist", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg and "train-images-idx3-ubyte.gz" in msg and "\n" not in msg
    assert not any(tmp_path.iterdir())  # a failed download leaves the data root as it was (no empty MNIST/raw)
    with pytest.raises(TanasError) as e:
        download_quickdraw("cat", tmp_path)
    assert "could not be downloaded" in str(e.value) and str(tmp_path / "quickdraw") in str(e.value)
    assert not any(tmp_path.iterdir())  # nothing half-written, no empty folder left behind


def test_truncated_idx_file(tmp_path, data_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    data = (raw / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TanasError, match="t10k-labels"):
        load_dataset("mnist", tmp_path)


def test_user_folder_and_npy_datasets(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("circle", "square"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i:02d}.png")
    register_dataset("mine", "folder", tmp_path / "imgs")
    task = load_task("mine:square-vs-rest", sizes=None)
    assert task.sizes() == {"train": 28, "val": 6, "test": 6}
    (tmp_path / "arr").mkdir()
    np.save(tmp_path / "arr" / "a.npy", rng.integers(0, 255, (30, 784), dtype=np.uint8))
    np.save(tmp_path / "arr" / "b.npy", rng.integers(0, 255, (30, 28, 28), dtype=np.uint8))
    register_dataset("arrays", "npy", tmp_path / "arr")
    assert load_task("arrays:all").x["train"].shape == (42, 1, 28, 28)


def test_user_dataset_with_mixed_image_sizes_is_refused(tmp_path):
    from PIL import Image

    for cls, size in (("a", 28), ("b", 32)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (size, size)).save(tmp_path / cls / f"{i}.png")
    register_dataset("mixed", "folder", tmp_path)
    with pytest.raises(TanasError, match="different image sizes"):
        load_dataset("mixed")
