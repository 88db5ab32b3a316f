"""Files a run leaves behind: written atomically (readers see the old file or the whole new one), with the library
versions that made them. Shared by the dictionary store, the search's export folder and the comparison's records."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from .. import __version__

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "fsync_dir", "library_versions",
           "temp_dir_beside", "umask_mode"]


def umask_mode(mode: int) -> int:
    """``mode`` less the process's umask: the permissions ``open()`` or ``mkdir()`` would give a new file or folder."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def temp_dir_beside(parent: Path, prefix: str) -> Path:
    """A new folder beside its final place, to be renamed into it; with the permissions an ordinary ``mkdir`` gives.

    ``tempfile.mkdtemp`` makes it 0700 whatever the umask, so a dictionary on a team's shared storage would be
    unreadable to the others once renamed into place.
    """
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    os.chmod(tmp, umask_mode(0o777))
    return tmp


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    try:
        os.fchmod(fd, umask_mode(0o666))  # mkstemp makes it 0600 whatever the umask; a renamed file keeps that
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


def library_versions() -> dict[str, str]:
    import nni
    import numpy
    import torchvision  # imported here: the core does not load NNI or torchvision for anything else
    return {"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
            "nni": nni.__version__, "numpy": numpy.__version__, "tanas_nni": __version__}
