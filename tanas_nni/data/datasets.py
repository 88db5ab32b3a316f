"""Image datasets: MNIST, Fashion-MNIST, Quick, Draw! numpy bitmaps and a user's own images.

Each dataset is loaded into three disjoint, deterministic *pools* (``train``, ``val``, ``test``) of grey images (uint8,
N×H×W) with integer labels and class names. Tasks (:mod:`tanas_nni.data.tasks`) sample from these pools, so a task's splits
can never overlap.

Where the data comes from, in order: an explicit ``data_dir`` argument, the ``TANAS_DATA_DIR`` environment variable, then
:data:`DEFAULT_CACHE` (``~/.cache/tanas-nni/datasets``). The layout is torchvision's root layout (``<root>/MNIST/raw/*.gz``,
``<root>/FashionMNIST/raw/*.gz``) plus ``<root>/quickdraw/<category>.npy``. Missing files are downloaded when a network is
available (torchvision for MNIST/Fashion-MNIST, Google's official numpy bitmaps for Quick, Draw!); offline, the error says
which files to put where.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import shutil
import tempfile
import re
import struct
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import TanasError
from ..core.logs import warn

__all__ = [
    "ImagePools", "DEFAULT_CACHE", "resolve_data_dir", "load_dataset", "register_dataset", "dataset_names",
    "slug", "QUICKDRAW_URL", "MNIST_CLASSES", "FASHION_CLASSES",
]

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tanas-nni" / "datasets"
QUICKDRAW_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/{category}.npy"

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")

# Fractions of each class (in file order) for datasets that ship no split of their own.
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
# Held-out validation carved from an official training set: a fixed permutation, independent of any task seed.
VAL_FRACTION = 1 / 6
_POOL_SEED = 20210


def slug(name: str) -> str:
    """Canonical class or dataset name: lower case, words joined by '-' ("smiley face" -> "smiley-face")."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


@dataclasses.dataclass
class ImagePools:
    """A dataset split into disjoint train / val / test pools of grey uint8 images."""

    name: str
    classes: tuple[str, ...]
    images: dict[str, np.ndarray]  # split -> (N, H, W) uint8
    labels: dict[str, np.ndarray]  # split -> (N,) int64 class index
    # Classes whose file could not be read, with why; they are not in the dataset, and a task naming one gets the reason.
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.images["train"].shape[1:])  # type: ignore[return-value]

    def class_index(self, name: str) -> int:
        """Index of a class given by its name, its slug, or its integer position."""
        key = slug(str(name))
        for i, c in enumerate(self.classes):
            if slug(c) == key:
                return i
        if key.isdigit() and int(key) < len(self.classes):
            return int(key)
        if key in self.skipped:
            raise TanasError(self.skipped[key])
        raise TanasError(f"unknown class {name!r} in dataset {self.name!r} (classes: {', '.join(self.classes)})")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data root: ``data_dir`` if given, else ``$TANAS_DATA_DIR``, else the default cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("TANAS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return DEFAULT_CACHE


# --------------------------------------------------------------------------------------------------------------------
# Registry: a loader is ``fn(root: Path, **options) -> ImagePools``.

_LOADERS: dict[str, Callable[..., ImagePools]] = {}
_USER: dict[str, dict] = {}


def _register_builtin(name: str):
    def deco(fn):
        _LOADERS[name] = fn
        return fn
    return deco


def register_dataset(name: str, kind: str, path: str | Path, **options) -> None:
    """Make a user's own images loadable by ``name`` (and usable in task ids such as ``name:dog-vs-rest``).

    ``kind='folder'``: ``path/<class>/*.png|jpg|...``, one sub-folder per class.
    ``kind='npy'``: ``path/<class>.npy`` files of shape (N, H, W) or (N, H*W) for square images, or one pair
    ``path/images.npy`` + ``path/labels.npy`` (with optional ``path/classes.txt``, one name per line).
    Images are converted to grey; every image must have the same size. With no split of its own, each class is split
    70/15/15 % into train/val/test in file order.
    """
    key = slug(name)
    if kind not in ("folder", "npy"):
        raise TanasError(f"dataset {name!r}: kind must be 'folder' or 'npy', got {kind!r}")
    if key in _LOADERS:
        raise TanasError(f"dataset {name!r}: that name is built in; choose another")
    _USER[key] = {"kind": kind, "path": Path(path).expanduser(), **options}
    load_dataset.cache_clear()


def dataset_names() -> list[str]:
    return sorted(_LOADERS) + sorted(_USER)


@lru_cache(maxsize=16)
def _load_cached(name: str, root: str, max_per_class: int | None) -> ImagePools:
    if name in _USER:
        spec = dict(_USER[name])
        kind, path = spec.pop("kind"), spec.pop("path")
        return _load_user(name, kind, path, max_per_class=max_per_class, **spec)
    return _LOADERS[name](Path(root), max_per_class=max_per_class)


def load_dataset(name: str, data_dir: str | Path | None = None, max_per_class: int | None = None) -> ImagePools:
    """Load a dataset's pools by name (``mnist``, ``fashion-mnist``, ``quickdraw`` or a registered user dataset)."""
    key = slug(name)
    if key not in _LOADERS and key not in _USER:
        raise TanasError(f"unknown dataset {name!r} (known: {', '.join(dataset_names())}; "
                         f"register your own images with a 'datasets:' section)")
    return _load_cached(key, str(resolve_data_dir(data_dir)), max_per_class)


load_dataset.cache_clear = _load_cached.cache_clear  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST: the official idx .gz files in torchvision's root layout.

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise TanasError(f"{path}: unreadable idx file ({e}); delete it and download it again") from None
    if len(data) < 8:
        raise TanasError(f"{path}: truncated idx file; delete it and download it again")
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        arr = np.frombuffer(data, np.uint8, offset=16)
        if arr.size != n * rows * cols:
            raise TanasError(f"{path}: truncated idx file ({arr.size} of {n * rows * cols} bytes)")
        return arr.reshape(n, rows, cols)
    if magic == 2049:
        arr = np.frombuffer(data, np.uint8, offset=8)
        if arr.size != n:
            raise TanasError(f"{path}: truncated idx file ({arr.size} of {n} labels)")
        return arr.astype(np.int64)
    raise TanasError(f"{path}: not an idx file (magic {magic})")


def _find_idx(raw: Path, stem: str) -> Path | None:
    for cand in (raw / f"{stem}.gz", raw / stem):
        if cand.is_file():
            return cand
    return None


def _torchvision_download(folder: str, root: Path) -> None:
    """Fetch MNIST or Fashion-MNIST with torchvision into ``root/<folder>/raw``.

    torchvision downloads into a temporary folder beside it; only complete files are moved into place, so a failed
    download (offline, say) leaves the data root as it was: no empty ``raw`` folder, no half file.
    """
    import torchvision

    cls = {"MNIST": torchvision.datasets.MNIST, "FashionMNIST": torchvision.datasets.FashionMNIST}[folder]
    created = not root.exists()
    tmp = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".download-{folder}-"))
        for train in (True, False):
            cls(str(tmp), train=train, download=True)
        raw = root / folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for f in (tmp / folder / "raw").glob("*.gz"):
            os.replace(f, raw / f.name)
    except (OSError, RuntimeError, urllib.error.URLError) as e:
        raise TanasError(
            f"{folder} is not in {root / folder / 'raw'} and could not be downloaded ({type(e).__name__}: {e}); "
            f"put the 4 official files ({', '.join(s + '.gz' for s in _IDX_FILES)}) there, or pass --data-dir / set "
            f"TANAS_DATA_DIR to a folder that has them") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()


def _load_idx_dataset(name: str, folder: str, classes: tuple[str, ...], root: Path,
                      max_per_class: int | None) -> ImagePools:
    raw = root / folder / "raw"
    paths = [_find_idx(raw, s) for s in _IDX_FILES]
    if any(p is None for p in paths):
        _torchvision_download(folder, root)
        paths = [_find_idx(raw, s) for s in _IDX_FILES]
        if any(p is None for p in paths):
            missing = [s for s, p in zip(_IDX_FILES, paths) if p is None]
            raise TanasError(f"{raw}: missing {', '.join(missing)} (.gz); put the official files there")
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths)  # type: ignore[arg-type]
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise TanasError(f"{raw}: image and label files disagree in length")
    # Validation pool: a fixed permutation of the official training set, the same for every task and seed.
    perm = np.random.default_rng(_POOL_SEED).permutation(len(xtr))
    n_val = int(round(len(xtr) * VAL_FRACTION))
    val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    pools = ImagePools(name, classes,
                       {"train": xtr[tr_idx], "val": xtr[val_idx], "test": xte},
                       {"train": ytr[tr_idx], "val": ytr[val_idx], "test": yte})
    return _cap(pools, max_per_class)


@_register_builtin("mnist")
def _mnist(root: Path, max_per_class: int | None = None) -> ImagePools:
    return _load_idx_dataset("mnist", "MNIST", MNIST_CLASSES, root, max_per_class)


@_register_builtin("fashion-mnist")
def _fashion(root: Path, max_per_class: int | None = None) -> ImagePools:
    return _load_idx_dataset("fashion-mnist", "FashionMNIST", FASHION_CLASSES, root, max_per_class)


# --------------------------------------------------------------------------------------------------------------------
# Quick, Draw! numpy bitmaps: <root>/quickdraw/<category>.npy or full_numpy_bitmap_<category>.npy, uint8 (N, 784).

def _quickdraw_files(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if folder.is_dir():
        for p in sorted(folder.glob("*.npy")):
            stem = p.stem
            if stem.startswith("full_numpy_bitmap_"):
                stem = stem[len("full_numpy_bitmap_"):]
            files.setdefault(slug(stem), p)
    return files


def download_quickdraw(category: str, root: str | Path) -> Path:
    """Download one official Quick, Draw! numpy bitmap file into ``root/quickdraw``; a clear error when offline."""
    folder = Path(root) / "quickdraw"
    name = category.replace("-", " ").replace("_", " ")
    url = QUICKDRAW_URL.format(category=urllib.request.quote(name))
    target = folder / f"full_numpy_bitmap_{slug(category).replace('-', '_')}.npy"
    tmp = target.with_suffix(".part")
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # folders to take away again on failure
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        os.replace(tmp, target)
    except (OSError, urllib.error.URLError) as e:
        tmp.unlink(missing_ok=True)
        for p in created:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise TanasError(f"Quick, Draw! category {category!r} is not in {folder} and could not be downloaded from {url} "
                         f"({getattr(e, 'reason', e)}); put {category}.npy (uint8, N x 784) there") from None
    return target


@_register_builtin("quickdraw")
def _quickdraw(root: Path, max_per_class: int | None = None) -> ImagePools:
    folder = root / "quickdraw"
    files = _quickdraw_files(folder)
    if not files:
        raise TanasError(f"no Quick, Draw! files in {folder}: put <category>.npy files (uint8, N x 784) there (Google's "
                         f"numpy bitmaps), or name a category in a task id on a connected machine to download it")
    per_class, classes, skipped = [], [], {}
    for cat, path in files.items():
        try:
            arr = _read_array(path, mmap=True)
            if arr.dtype != np.uint8 or not (arr.shape[1:] == (784,) or arr.shape[1:] == (28, 28)):
                raise TanasError(f"{path}: expected uint8 images of shape (N, 784) or (N, 28, 28), got {arr.dtype} "
                                 f"{tuple(arr.shape)}; Quick, Draw!'s numpy bitmaps are (N, 784) uint8")
            if len(arr) == 0:
                raise TanasError(f"{path}: holds no images (shape {tuple(arr.shape)})")
        except TanasError as e:
            # One broken category does not take the others down: it is left out with a warning, and only a task that
            # names it fails (with this message).
            skipped[cat] = str(e)
            warn(f"{e}; category {cat!r} is left out of the Quick, Draw! dataset")
            continue
        if max_per_class:
            arr = arr[:max_per_class]
        classes.append(cat)
        per_class.append(np.ascontiguousarray(arr).reshape(-1, 28, 28))
    if len(classes) < 2:
        raise TanasError(f"{folder}: fewer than 2 readable Quick, Draw! files"
                         + (f" ({next(iter(skipped.values()))})" if skipped else ""))
    pools = _split_in_order("quickdraw", tuple(classes), per_class)
    pools.skipped = skipped
    return pools


# --------------------------------------------------------------------------------------------------------------------
# A user's own data.

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _load_user(name: str, kind: str, path: Path, max_per_class: int | None = None) -> ImagePools:
    if not path.is_dir():
        raise TanasError(f"dataset {name!r}: folder {path} does not exist")
    classes: list[str] = []
    per_class: list[np.ndarray] = []
    if kind == "folder":
        from PIL import Image, UnidentifiedImageError

        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            files = sorted(p for p in sub.iterdir() if p.suffix.lower() in _IMAGE_EXT)
            if max_per_class:
                files = files[:max_per_class]
            if not files:
                continue
            imgs = []
            for f in files:
                try:
                    with Image.open(f) as im:
                        imgs.append(np.asarray(im.convert("L"), dtype=np.uint8))
                except (OSError, UnidentifiedImageError) as e:
                    raise TanasError(f"{f}: not a readable image ({e})") from None
            shapes = {a.shape for a in imgs}
            if len(shapes) > 1:
                raise TanasError(f"{sub}: images have different sizes {sorted(shapes)}; resize them to one size")
            classes.append(sub.name)
            per_class.append(np.stack(imgs))
    else:
        if (path / "images.npy").is_file():
            x = _as_images(_load_npy(path / "images.npy"), path / "images.npy")
            y = _load_npy(path / "labels.npy") if (path / "labels.npy").is_file() else None
            if y is None or y.ndim != 1 or len(y) != len(x):
                raise TanasError(f"{path}: labels.npy must be a 1-D array with one label per row of images.npy")
            ids = sorted(int(v) for v in np.unique(y))
            names_file = path / "classes.txt"
            names = names_file.read_text().split("\n") if names_file.is_file() else None
            for i in ids:
                classes.append(names[i].strip() if names and i < len(names) else str(i))
                rows = x[y == i]
                per_class.append(rows[:max_per_class] if max_per_class else rows)
        else:
            for f in sorted(path.glob("*.npy")):
                rows = _as_images(_load_npy(f), f)
                classes.append(f.stem)
                per_class.append(rows[:max_per_class] if max_per_class else rows)
    if len(classes) < 2:
        raise TanasError(f"dataset {name!r}: {path} must hold at least 2 classes, found {len(classes)}")
    shapes = {a.shape[1:] for a in per_class}
    if len(shapes) > 1:
        raise TanasError(f"dataset {name!r}: classes have different image sizes {sorted(shapes)}")
    return _split_in_order(name, tuple(classes), per_class)


def _read_array(path: Path, mmap: bool = False) -> np.ndarray:
    """A numeric ``.npy`` array with one line per way it can be broken (never a traceback, never unpickling)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise TanasError(f"{path}: cannot read it ({e.strerror or e})") from None
    if size == 0:
        raise TanasError(f"{path}: the file is empty (0 bytes); copy or download it again")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(f))
            offset = f.tell()
    except (OSError, ValueError, EOFError) as e:
        raise TanasError(f"{path}: not a numpy .npy file ({str(e).splitlines()[0]})") from None
    if dtype.hasobject:
        raise TanasError(f"{path}: holds Python objects ({dtype}), not numbers; save the images as a numeric array "
                         f"(np.save(path, images.astype(np.uint8)))")
    if dtype.kind not in "uifb":
        raise TanasError(f"{path}: holds {dtype} values, not numbers; save the images as uint8")
    if any(d < 0 for d in shape):
        raise TanasError(f"{path}: damaged header (shape {tuple(shape)})")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if expected != size - offset:  # checked before reading: a damaged header must not make us allocate its claim
        raise TanasError(f"{path}: truncated or damaged: the header says {dtype} {tuple(shape)} ({expected} bytes of "
                         f"data), the file has {size - offset} bytes of data")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError, MemoryError) as e:
        raise TanasError(f"{path}: cannot be read ({str(e).splitlines()[0]})") from None
    return arr


def _load_npy(path: Path) -> np.ndarray:
    arr = _read_array(path)
    if arr.ndim == 0 or len(arr) == 0:
        raise TanasError(f"{path}: holds no rows (shape {tuple(arr.shape)})")
    return arr


def _as_images(a: np.ndarray, where: Path) -> np.ndarray:
    if a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        if side * side != a.shape[1]:
            raise TanasError(f"{where}: shape {tuple(a.shape)}: rows of {a.shape[1]} pixels are not square images; "
                             f"save them as (N, H, W)")
        a = a.reshape(len(a), side, side)
    if a.ndim != 3:
        raise TanasError(f"{where}: expected grey images of shape (N, H, W), got {a.shape}")
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise TanasError(f"{where}: pixel values must lie in 0..255, got {a.min()}..{a.max()}")
        a = a.astype(np.uint8)
    return a


# --------------------------------------------------------------------------------------------------------------------

def _split_in_order(name: str, classes: tuple[str, ...], per_class: list[np.ndarray]) -> ImagePools:
    """Split each class 70/15/15 % in file order into train / val / test pools."""
    images: dict[str, list] = {"train": [], "val": [], "test": []}
    labels: dict[str, list] = {"train": [], "val": [], "test": []}
    for k, arr in enumerate(per_class):
        n = len(arr)
        a = int(round(n * SPLIT_FRACTIONS[0]))
        b = a + int(round(n * SPLIT_FRACTIONS[1]))
        for split, part in (("train", arr[:a]), ("val", arr[a:b]), ("test", arr[b:])):
            images[split].append(part)
            labels[split].append(np.full(len(part), k, np.int64))
    return ImagePools(name, classes, {s: np.concatenate(v) for s, v in images.items()},
                      {s: np.concatenate(v) for s, v in labels.items()})


def _cap(pools: ImagePools, max_per_class: int | None) -> ImagePools:
    if not max_per_class:
        return pools
    images, labels = {}, {}
    for split in pools.images:
        y = pools.labels[split]
        keep = np.concatenate([np.flatnonzero(y == k)[:max_per_class] for k in range(len(pools.classes))])
        keep.sort()
        images[split], labels[split] = pools.images[split][keep], y[keep]
    return ImagePools(pools.name, pools.classes, images, labels)
