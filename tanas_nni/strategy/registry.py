"""Search strategies by name: what ``strategy:`` in a search config and ``tanas search --strategy`` accept.

A registered strategy is an NNI :class:`~nni.nas.strategy.Strategy` subclass that searches whole networks of a
:func:`~tanas_nni.space.whole_network_space` and offers ``from_config(fuse_config, **kwargs)``, ``incumbent()``,
``ranking()`` and ``alpha_trajectory()`` (see :class:`~tanas_nni.strategy.FUSE`, and
:func:`tanas_nni.testing.check_strategy` for the contract a new one must meet).
"""
from __future__ import annotations

from ..core.errors import TanasError

__all__ = ["STRATEGIES", "register_strategy", "get_strategy", "strategy_names"]

STRATEGIES: dict[str, type] = {}


def register_strategy(name: str):
    """Class decorator: make the strategy class usable as ``strategy: <name>``."""
    def deco(cls: type) -> type:
        STRATEGIES[name] = cls
        return cls
    return deco


def get_strategy(name: str) -> type:
    if name not in STRATEGIES:
        raise TanasError(f"strategy: unknown strategy {name!r} (known: {', '.join(strategy_names())})")
    return STRATEGIES[name]


def strategy_names() -> list[str]:
    return list(STRATEGIES)
