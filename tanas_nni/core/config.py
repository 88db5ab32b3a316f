"""Typed configuration: one dataclass per stage, validated once, with one-line errors.

YAML files and CLI flags are thin layers over these dataclasses. :func:`from_dict` checks unknown keys, types and ranges and
names the offending field (``training.epochs``) and the file it came from. It is written here rather than taken from a
validation library because the project needs exactly this: dataclasses as the single source of truth, and errors that fit
on one line.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .resources import refuse_packaged
from .errors import TanasError

T = TypeVar("T")

__all__ = ["from_dict", "to_dict", "load_yaml", "load_config", "PATH", "check_range", "check_seed", "config_hash"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error follows
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {first + 1} and {key_node.start_mark.line + 1}); "
                                f"keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path, allow_empty: bool = False) -> dict:
    """Read a YAML mapping, with one-line errors for a missing, unreadable, malformed, empty or repetitive file."""
    path = Path(path)
    if not path.is_file():
        raise TanasError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.constructor.ConstructorError as e:
        raise TanasError(f"{path}: {e.problem}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise TanasError(f"{path}: malformed YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TanasError(f"{path}: cannot read config: {e}") from None
    if data is None:
        if not allow_empty:
            raise TanasError(f"{path}: the config file is empty; write the keys you want to set (the files in configs/ "
                             f"are examples), or leave out the file to take every default")
        data = {}
    if not isinstance(data, dict):
        raise TanasError(f"{path}: the config must be a YAML mapping (key: value), got {type(data).__name__}")
    return data


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except TanasError as e:
                errors.append(str(e))
        raise TanasError(errors[0] if len(errors) == 1 else f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise TanasError(f"{where}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TanasError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        out = [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise TanasError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_convert(k, kt, f"{where}"): _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise TanasError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TanasError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads "1e-3" (no dot) as a string; accept numeric strings for floats.
            number = None
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    pass
            if number is None:
                raise TanasError(f"{where}: expected a number, got {value!r}")
            value = number
        if not math.isfinite(value):
            raise TanasError(f"{where}: must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TanasError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and wrong types; ``where`` prefixes error messages."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TanasError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise TanasError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise TanasError(f"{where}: missing required key {name!r}")
    try:
        obj = cls(**kwargs)
    except TanasError as e:  # a check of the class's own fields, named relative to the class: say where it sits
        raise TanasError(f"{where}.{e}" if where else str(e)) from None
    return obj


def to_dict(obj: Any) -> Any:
    """Plain JSON/YAML-ready form of a (nested) config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (f.metadata.get("later") and getattr(obj, f.name) == f.default)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


SEED_MAX = 2**32 - 1  # numpy's and torch's generators take seeds in [0, 2**32)


def check_seed(name: str, value: int | None) -> None:
    """A seed in [0, 2**32): what every generator the project seeds accepts."""
    check_range(name, value, 0, SEED_MAX)


def check_range(name: str, value: float | int | None, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> None:
    """Raise a one-line error if ``value`` lies outside [lo, hi] (or (lo, hi] with ``lo_open``)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise TanasError(f"{name}: must be a finite number, got {value}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise TanasError(f"{name}: must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        raise TanasError(f"{name}: must be <= {hi}, got {value}")


def config_hash(obj: Any, length: int = 12) -> str:
    """Stable short hash of a config (dataclass or plain data), used as a cache key."""
    import hashlib

    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


LATER = {"later": True}
"""Field metadata of an option added after hashes of its config existed (records, dictionary entries, the shipped
architectures' provenance): ``field(default=False, metadata=LATER)``. :func:`to_dict`, and so :func:`config_hash`,
leave the field out while it has its default, the behaviour of the code before it, so that those hashes stand. The
default must therefore never change (old hashes would then stand for the new default), and must be a plain ``default``,
not a ``default_factory``."""

PATH = {"path": True}
"""Field metadata of a path-valued config field: ``field(default=None, metadata=PATH)``. :func:`load_config` resolves
such fields relative to the config file they were written in."""


def _resolve_paths(obj: Any, base: Path, skip: set[str], prefix: str = "") -> None:
    if not dataclasses.is_dataclass(obj):
        return
    for f in dataclasses.fields(obj):
        name = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if f.metadata.get("path"):
            if isinstance(value, str) and value and name not in skip and not Path(value).expanduser().is_absolute():
                object.__setattr__(obj, f.name, str((base / value).resolve()))
        elif dataclasses.is_dataclass(value):
            _resolve_paths(value, base, skip, f"{name}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                _resolve_paths(v, base, skip, f"{name}.{k}.")


def load_config(cls: type[T], path: str | Path | None = None, overrides: dict | None = None,
                where: str | None = None) -> T:
    """The one way a config file becomes a dataclass: YAML (optional), then ``overrides``, validated once.

    ``overrides`` maps field paths (``"fuse.rounds"``) to values; None values are ignored (a flag not given). Fields
    marked with :data:`PATH` that the file sets are taken relative to the file, as NNI does with its YAML; paths given as
    overrides are taken as they are (relative to the working directory).
    """
    if path:
        refuse_packaged(path)
    data: dict = load_yaml(path) if path else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key, value in given.items():
        node = data
        *heads, last = key.split(".")
        for i, head in enumerate(heads):
            sub = node.setdefault(head, {})
            if not isinstance(sub, dict):
                raise TanasError(f"{path or where}: {'.'.join(heads[:i + 1])}: must be a mapping")
            node = sub
        node[last] = value
    try:
        cfg = from_dict(cls, data, where=where or "")
    except TanasError as e:
        raise TanasError(f"{path}: {e}" if path else str(e)) from None
    if path:
        _resolve_paths(cfg, Path(path).parent, set(given))
    return cfg
