"""Plugins: modules that register distances, strategies, operations or comparison methods before a command runs.

A registration (``@register_distance("name")`` and the like) takes effect when its module is imported. The ``tanas``
command and the nnictl trials import, before they read any config:

- every entry point of the group ``tanas_nni.plugins`` of the installed packages (a plugin package declares
  ``[project.entry-points."tanas_nni.plugins"] my_plugin = "my_plugin"`` in its ``pyproject.toml``);
- every module named in ``$TANAS_PLUGINS`` (comma-separated module names, importable from ``sys.path``).

This is Python's own mechanism for plugins (``importlib.metadata`` entry points), as pytest and Optuna's integrations use.
"""
from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from .errors import TanasError

__all__ = ["ENTRY_POINT_GROUP", "load_plugins"]

ENTRY_POINT_GROUP = "tanas_nni.plugins"
_loaded: set[str] = set()


def load_plugins() -> list[str]:
    """Import every plugin module (once per process); the names imported."""
    names = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.value not in _loaded:
            try:
                ep.load()
            except Exception as e:  # a broken plugin is the user's to fix: say which one
                raise TanasError(f"plugin {ep.name} ({ep.value}): cannot be loaded: {e}") from None
            _loaded.add(ep.value)
            names.append(ep.value)
    for name in (n.strip() for n in os.environ.get("TANAS_PLUGINS", "").split(",")):
        if name and name not in _loaded:
            try:
                importlib.import_module(name)
            except ImportError as e:
                raise TanasError(f"TANAS_PLUGINS: cannot import {name!r} ({e}); put its folder on PYTHONPATH or "
                                 f"install it") from None
            _loaded.add(name)
            names.append(name)
    return names
