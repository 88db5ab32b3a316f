"""The dictionary on disk: one self-contained, checksummed directory per base task.

Layout::

    <root>/dictionary.json              format version (written once)
    <root>/entries/<slug>/entry.json    task spec, network, metrics, seed, versions, data fingerprint, architecture,
                                        sha256 of every file and of the entry itself
    <root>/entries/<slug>/weights.pt    the representative network's state dict
    <root>/cache/<namespace>/<key>.json derived results (distances), keyed by everything they depend on

There is no shared index to read-modify-write: an entry is written into a temporary directory beside its final place and
installed with one ``rename``, so two processes building into the same dictionary cannot corrupt it, and a killed writer
leaves only a ``.tmp-*`` directory that is ignored and cleaned up. Reading an entry verifies its checksums.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from filelock import FileLock

from ..core.errors import NumericalError, TanasError
from ..core.logs import warn
from ..data.tasks import task_folder
from ..models import build_network
from ..core.records import atomic_write_bytes, atomic_write_text, fsync_dir, temp_dir_beside

__all__ = ["DictionaryStore", "Entry", "CorruptEntryError", "sha256_file"]

FORMAT = 1


class CorruptEntryError(TanasError):
    """An entry whose files do not match their checksums."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(meta: dict) -> bytes:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _check_finite(task_id: str, meta: dict, state_dict: dict[str, Any] | None) -> None:
    for name, t in (state_dict or {}).items():
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise NumericalError(f"dictionary entry {task_id}: weight {name} holds NaN or infinite values; the entry is "
                                 f"not stored (lower the learning rate or check the data)")
    for key, value in (meta.get("metrics") or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise NumericalError(f"dictionary entry {task_id}: metric {key} is {value}; the entry is not stored")


@dataclass
class Entry:
    """One base task of the dictionary, as read (and verified) from disk."""

    path: Path
    meta: dict = field(repr=False)

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics", {})

    @property
    def architecture(self) -> dict | None:
        """The best architecture known for this task and its score (``{"arch": ..., "score": ...}``), if any."""
        return self.meta.get("architecture")

    @property
    def checksum(self) -> str:
        return self.meta["checksum"]

    def load_network(self, map_location: str | torch.device = "cpu") -> torch.nn.Module:
        """The trained representative network, in eval mode."""
        net = self.meta["network"]
        model = build_network(net["name"], num_classes=self.meta["num_classes"], input_shape=self.meta["input_shape"],
                              **net.get("kwargs", {}))
        try:
            state = torch.load(self.path / "weights.pt", map_location=map_location, weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # a file that passed its checksum but does not fit the network
            raise CorruptEntryError(f"dictionary entry {self.task}: weights.pt does not load ({e})") from None
        return model.eval()


class DictionaryStore:
    """A dictionary directory. Create it with :meth:`open` (``create=True`` to make a new one)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    # ---------------------------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, create: bool = False) -> "DictionaryStore":
        store = cls(root)
        marker = store.root / "dictionary.json"
        if marker.is_file():
            try:
                fmt = json.loads(marker.read_text()).get("format")
            except (OSError, ValueError) as e:
                raise TanasError(f"{marker}: unreadable dictionary marker ({e})") from None
            if fmt != FORMAT:
                raise TanasError(f"{store.root}: dictionary format {fmt} is not supported (expected {FORMAT})")
            return store
        if not create:
            if store.root.exists():
                raise TanasError(f"{store.root} is not a tanas dictionary (no dictionary.json); build one with "
                                 f"`tanas dictionary build <config.yml>`")
            raise TanasError(f"dictionary {store.root} does not exist; build it with `tanas dictionary build <config.yml>`")
        try:
            (store.root / "entries").mkdir(parents=True, exist_ok=True)
            if not os.access(store.root, os.W_OK):
                raise PermissionError(f"no write permission for {store.root}")
            if not marker.exists():
                atomic_write_text(marker, json.dumps({"format": FORMAT}) + "\n")
        except OSError as e:
            raise TanasError(f"cannot create dictionary at {store.root}: {e.strerror or e}") from None
        return store

    def check_writable(self) -> None:
        if not os.access(self.root / "entries", os.W_OK):
            raise TanasError(f"dictionary {self.root} is not writable; choose another directory or fix its permissions")

    # ---------------------------------------------------------------------------------------------------------------
    def entry_dir(self, task_id: str) -> Path:
        return self.root / "entries" / task_folder(task_id)

    def task_ids(self) -> list[str]:
        """Ids of the installed entries (not verified), in sorted order."""
        out = []
        for d in sorted((self.root / "entries").glob("*")):
            if d.name.startswith(".") or not d.is_dir():
                continue
            with contextlib.suppress(OSError, ValueError, KeyError):
                out.append(json.loads((d / "entry.json").read_text())["task"])
                continue
            out.append(d.name.replace("__", ":"))
        return out

    def has(self, task_id: str) -> bool:
        try:
            self.get(task_id)
            return True
        except CorruptEntryError:
            return False
        except TanasError:
            return False

    def get(self, task_id: str, verify: bool = True) -> Entry:
        """Read one entry; raises :class:`CorruptEntryError` naming the entry when a checksum does not match."""
        d = self.entry_dir(task_id)
        meta_path = d / "entry.json"
        if not meta_path.is_file():
            raise TanasError(f"task {task_id!r} is not in dictionary {self.root} "
                             f"(it has: {', '.join(self.task_ids()) or 'no entries'})")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as e:
            raise CorruptEntryError(f"dictionary entry {task_id}: entry.json is unreadable ({e})") from None
        if verify:
            if not isinstance(meta, dict) or meta.get("checksum") != sha256_bytes(_canonical(meta)):
                raise CorruptEntryError(f"dictionary entry {task_id}: entry.json does not match its checksum")
            for name, info in meta.get("files", {}).items():
                f = d / name
                if not f.is_file():
                    raise CorruptEntryError(f"dictionary entry {task_id}: {name} is missing")
                if f.stat().st_size != info["bytes"] or sha256_file(f) != info["sha256"]:
                    raise CorruptEntryError(f"dictionary entry {task_id}: {name} does not match its checksum "
                                            f"(truncated or altered)")
        return Entry(d, meta)

    def entries(self, verify: bool = True) -> list[Entry]:
        return [self.get(t, verify) for t in self.task_ids()]

    # ---------------------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock on ``<root>/locks/<name>.lock``, released when the holder exits or dies.

        ``filelock.FileLock`` rather than a bare ``fcntl.flock``: the same OS lock on Linux (``flock``, dropped by the
        kernel when the holder dies), ``msvcrt`` locking off Linux, one API for both."""
        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path)):
            yield

    def put(self, task_id: str, meta: dict, state_dict: dict[str, Any] | None = None,
            files: dict[str, bytes] | None = None) -> Entry:
        """Install an entry atomically: everything is written to a temporary directory, then renamed into place.

        ``meta`` holds the entry's fields; ``task``, ``files``, ``created`` and ``checksum`` are filled in here.
        Files not given (``state_dict=None``) are carried over from the existing entry, so updating the metadata of an
        entry (adding its architecture) rewrites it whole and atomically.
        """
        final = self.entry_dir(task_id)
        _check_finite(task_id, meta, state_dict)  # a broken result is refused, never stored as good
        self.check_writable()
        with self.lock(task_folder(task_id)):
            blobs: dict[str, bytes] = dict(files or {})
            if state_dict is not None:
                buf = io.BytesIO()
                torch.save(state_dict, buf)
                blobs["weights.pt"] = buf.getvalue()
            old = None
            if final.exists():
                with contextlib.suppress(TanasError):
                    old = self.get(task_id)
            if old is not None:
                for name in old.meta.get("files", {}):
                    if name not in blobs:
                        blobs[name] = (old.path / name).read_bytes()
            meta = dict(meta)
            meta.update(task=task_id, format=FORMAT,
                        files={n: {"sha256": sha256_bytes(b), "bytes": len(b)} for n, b in sorted(blobs.items())})
            meta.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            meta["checksum"] = sha256_bytes(_canonical(meta))
            tmp = temp_dir_beside(final.parent, prefix=f".tmp-{final.name}.")
            try:
                for name, data in blobs.items():
                    with open(tmp / name, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                with open(tmp / "entry.json", "w") as f:
                    json.dump(meta, f, indent=2, sort_keys=True)
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
                fsync_dir(tmp)
                if final.exists():
                    # rename() cannot replace a non-empty directory: move the old one aside first. The lock keeps other
                    # writers out; a reader in between sees "missing", never a half-written entry.
                    trash = final.parent / f".old-{final.name}.{os.getpid()}"
                    os.rename(final, trash)
                    os.rename(tmp, final)
                    shutil.rmtree(trash, ignore_errors=True)
                else:
                    os.rename(tmp, final)
                fsync_dir(final.parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return self.get(task_id)

    def update(self, task_id: str, **fields) -> Entry:
        """Rewrite an entry's metadata with ``fields`` changed (e.g. ``architecture=...``), keeping its files."""
        entry = self.get(task_id)
        meta = {k: v for k, v in entry.meta.items() if k not in ("checksum", "files")}
        meta.update(fields)
        return self.put(task_id, meta)

    def remove(self, task_id: str) -> None:
        d = self.entry_dir(task_id)
        if d.exists():
            trash = d.parent / f".old-{d.name}.{os.getpid()}"
            os.rename(d, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def clean_tmp(self) -> int:
        """Remove what killed writers left behind (``.tmp-*``/``.old-*`` directories); returns how many."""
        n = 0
        for d in (self.root / "entries").glob(".*"):
            if d.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(d, ignore_errors=True)
                n += 1
        return n

    # ---------------------------------------------------------------------------------------------------------------
    # Cache of derived results (distances, ...): one JSON file per key, written atomically.
    def cache_path(self, namespace: str, key: str) -> Path:
        return self.root / "cache" / namespace / f"{key}.json"

    def cache_get(self, namespace: str, key: str) -> Any | None:
        path = self.cache_path(namespace, key)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            warnings.warn(f"ignoring unreadable cache file {path}")
            return None

    def cache_put(self, namespace: str, key: str, value: Any) -> bool:
        """Cache ``value``; on a read-only dictionary (a team's shared copy, say) warn once and go on uncached."""
        return self.cache_write(self.cache_path(namespace, key),
                                (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())

    def cache_write(self, path: Path, data: bytes) -> bool:
        try:
            atomic_write_bytes(path, data)
            return True
        except OSError as e:
            warn(f"dictionary {self.root}: cannot write its cache ({e.strerror or e}); results are not cached")
            return False
