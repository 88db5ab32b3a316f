"""Distances from every dictionary task to a target, through :mod:`tanas_nni.distance` (imported only when needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import TanasError

__all__ = ["distances_to_target"]


def distances_to_target(target: str, store: Any, method: str = "fisher", data_dir: str | Path | None = None,
                        seed: int = 0, **options) -> dict[str, float]:
    """``{task_id: d(task -> target)}`` for every task of the dictionary, computed with distance ``method``."""
    try:
        from .. import distance
    except ImportError as e:  # the distance stage is an optional part of a partial install
        raise TanasError(f"method: the distance package is not available ({e})") from None
    pairs = distance.distances_to(target, store, method=method, data_dir=data_dir, seed=seed, **options)
    return {str(t): float(d) for t, d in pairs}
