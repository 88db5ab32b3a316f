"""What data the built-in datasets need, and whether a data root has it: ``tanas data list|check|download``.

MNIST and Fashion-MNIST are checked against the MD5 sums that torchvision itself downloads and verifies them with
(``torchvision.datasets.MNIST.resources``: one source of truth, not a copy). Google publishes no checksums for the
Quick, Draw! numpy bitmaps, so a category file is checked by reading it (uint8, N x 784), as the loader does.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import TanasError
from .datasets import _quickdraw_files, _read_array, _torchvision_download, download_quickdraw

__all__ = ["DataFile", "catalog", "check", "download"]

_IDX = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


@dataclass(frozen=True)
class DataFile:
    dataset: str
    path: Path  # where it goes
    md5: str | None = None  # None: no published checksum (Quick, Draw!)


def _idx_files(root: Path, name: str) -> list[DataFile]:
    import torchvision

    folder = _IDX[name]
    cls = {"MNIST": torchvision.datasets.MNIST, "FashionMNIST": torchvision.datasets.FashionMNIST}[folder]
    return [DataFile(name, root / folder / "raw" / fname, md5) for fname, md5 in cls.resources]


def catalog(root: str | Path, quickdraw: list[str] | None = None) -> list[DataFile]:
    """Every file of the built-in datasets under ``root``: MNIST's and Fashion-MNIST's 4 each, and one per Quick, Draw!
    category (those in ``quickdraw``, else the ones present)."""
    root = Path(root)
    files = _idx_files(root, "mnist") + _idx_files(root, "fashion-mnist")
    present = _quickdraw_files(root / "quickdraw")
    for cat in quickdraw if quickdraw is not None else sorted(present):
        files.append(DataFile("quickdraw", present.get(cat, root / "quickdraw" / f"{cat}.npy")))
    return files


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def status(f: DataFile) -> str:
    """``ok``, ``missing``, or what is wrong with the file."""
    if not f.path.is_file():
        return "missing"
    if f.md5 is not None:
        got = _md5(f.path)
        return "ok" if got == f.md5 else f"corrupt (md5 {got}, expected {f.md5})"
    try:
        a = _read_array(f.path, mmap=True)
    except TanasError as e:
        return f"unreadable ({str(e).split(': ', 1)[-1]})"
    if a.ndim != 2 or a.shape[1] != 784:
        return f"wrong shape {tuple(a.shape)} (expected N x 784)"
    return "ok"


def check(root: str | Path, quickdraw: list[str] | None = None) -> list[tuple[DataFile, str]]:
    return [(f, status(f)) for f in catalog(root, quickdraw)]


def download(root: str | Path, datasets: list[str]) -> list[Path]:
    """Fetch what is missing of ``datasets`` (``mnist``, ``fashion-mnist``, ``quickdraw:<category>``). MNIST and
    Fashion-MNIST come through torchvision, which verifies their MD5 and shows its own progress bar; a failed download
    leaves nothing behind and raises one line naming the files and where they go."""
    root = Path(root)
    done = []
    for name in datasets:
        if name in _IDX:
            files = _idx_files(root, name)
            if all(status(f) == "ok" for f in files):
                continue
            _torchvision_download(_IDX[name], root)
            bad = [f for f in files if status(f) != "ok"]
            if bad:
                raise TanasError(f"{bad[0].path}: {status(bad[0])} after the download; delete it and try again")
            done += [f.path for f in files]
        elif name.startswith("quickdraw:") and name.split(":", 1)[1]:
            cat = name.split(":", 1)[1]
            if cat not in _quickdraw_files(root / "quickdraw"):
                done.append(download_quickdraw(cat, root))
        else:
            raise TanasError(f"{name!r}: not a downloadable dataset; name mnist, fashion-mnist or quickdraw:<category>")
    return done
