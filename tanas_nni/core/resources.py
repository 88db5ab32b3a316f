"""The files that ship inside the package: the standard search space, the default stage configs and the NNI experiment
templates (``tanas_nni/resources/``), found with :mod:`importlib.resources` so that they are there in a wheel install
as in a checkout.

Packaged files are read-only defaults: nothing is written next to them. ``tanas init DIR`` copies the configs and the
experiment templates into a user's folder, where their relative paths (``../runs/dictionary``) point into that folder.
"""
from __future__ import annotations

import shutil
from importlib.resources import as_file, files
from pathlib import Path

from .errors import TanasError

__all__ = ["resource_path", "template_names", "copy_templates", "refuse_packaged", "TEMPLATE_FOLDERS"]

# What `tanas init` writes: the stage configs, the NNI experiments that run them, and the standard space (to edit).
TEMPLATE_FOLDERS = ("configs", "experiments", "search_spaces")


def _root():
    return files("tanas_nni") / "resources"


def resource_path(*parts: str) -> Path:
    """The filesystem path of a packaged file (``resource_path("search_spaces", "standard.yml")``).

    pip and editable installs unpack the package, so the traversable is a real file; ``as_file`` is the documented way
    to get one, and a zipped install (which would need a temporary copy that outlives this call) is refused clearly.
    """
    ref = _root().joinpath(*parts)
    if not ref.is_file():
        raise TanasError(f"packaged file {'/'.join(parts)} is missing from tanas_nni/resources; reinstall tanas-nni")
    with as_file(ref) as path:
        if not Path(path).is_file() or Path(path) != Path(str(ref)):
            raise TanasError("tanas-nni is installed as a zip archive; install it unpacked (pip install tanas-nni)")
        return Path(path)


def template_names() -> list[str]:
    """Every file ``tanas init`` writes, as ``folder/name`` paths."""
    out = []
    for folder in TEMPLATE_FOLDERS:
        out += sorted(f"{folder}/{f.name}" for f in _root().joinpath(folder).iterdir() if f.name.endswith(".yml"))
    return out


def copy_templates(dest: str | Path, force: bool = False, keep: bool = False) -> list[Path]:
    """Copy the templates into ``dest`` (created if missing). A file that exists is refused before anything is
    written, unless ``force`` (overwrite it) or ``keep`` (leave it as it is: one's own edits survive). Returns the
    written paths."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise TanasError(f"{dest}: exists and is not a folder; give a folder for `tanas init`")
    targets = [(name, dest / name) for name in template_names()]
    if keep and not force:
        targets = [(name, p) for name, p in targets if not p.exists()]
    clash = [str(p) for _, p in targets if p.exists()]
    if clash and not force:
        raise TanasError(f"{clash[0]}: exists already ({len(clash)} file(s) would be overwritten); "
                         f"pass --force to overwrite, --keep to keep them, or choose an empty folder")
    written = []
    try:
        for name, path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(resource_path(*name.split("/")), path)
            written.append(path)
    except OSError as e:
        raise TanasError(f"{dest}: cannot write the templates ({e.strerror}); choose a writable folder") from None
    return written


def refuse_packaged(path: str | Path) -> None:
    """A stage config inside the installed package is a template: its relative paths (``../runs/dictionary``) would
    point into the package itself, so it is refused with the way to a copy of one's own."""
    root = Path(str(_root())).resolve()
    try:
        rel = Path(path).resolve().relative_to(root)
    except ValueError:
        return
    if rel.parts and rel.parts[0] == "configs":
        raise TanasError(f"{path}: is the packaged template; write your own copy with `tanas init DIR` and pass "
                         f"DIR/{rel.as_posix()}")
