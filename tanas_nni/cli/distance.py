"""``tanas distance`` and ``tanas distance-matrix``."""
from __future__ import annotations

import json
import sys

from . import add_common


def _settings(pairs: list[str] | None) -> dict:
    """``--set key=value`` pairs, values read as YAML scalars/lists (``hidden=[256]``, ``epsilon=0.05``)."""
    import yaml

    from ..core.errors import TanasError

    out = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise TanasError(f"--set {p!r}: expected key=value, e.g. --set samples=1000")
        out[key.strip()] = yaml.safe_load(value)
    return out


def register(sub) -> None:
    from ..distance import distance_names

    methods = distance_names()
    p = sub.add_parser("distance", help="distances from every dictionary entry to a target task, nearest first",
                       description="Distances d(entry -> target) from every dictionary entry to TARGET, nearest first. "
                                   "TARGET may be any task id, also one not in the dictionary. Cached in the "
                                   "dictionary: a repeated call returns at once.")
    p.add_argument("--target", "-t", required=True, help="task id, e.g. quickdraw:cat-vs-rest")
    p.add_argument("--method", "-m", default="fisher", help=f"distance method ({', '.join(methods)}; default fisher)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting of the method (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_common(p)
    p.set_defaults(handler=_distance)

    m = sub.add_parser("distance-matrix", help="the full distance matrix over the dictionary: CSV, heatmap, summary",
                       description="Distances between every pair of dictionary entries (rows source, columns target); "
                                   "writes distance-<method>.csv/.png/.json and summary.md into --out.")
    m.add_argument("--method", "-m", action="append", help=f"distance method, repeatable ({', '.join(methods)}; "
                                                          "default: all)")
    m.add_argument("--set", action="append", metavar="METHOD.KEY=VALUE",
                   help="a setting of one method, e.g. transfer.epsilon=0.05 (repeatable)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", "-o", default="runs/distance-matrix", metavar="DIR", help="output directory")
    add_common(m)
    m.set_defaults(handler=_matrix)


def _distance(args) -> int:
    from ..dictionary import DictionaryStore
    from ..distance import distances_to, get_distance

    settings = _settings(args.set)
    get_distance(args.method, **settings)  # unknown method or bad settings: fail before loading anything
    store = DictionaryStore.open(args.dictionary)
    rows = distances_to(args.target, store, args.method, args.data_dir, args.seed, **settings)
    if args.json:
        print(json.dumps([{"source": s, "distance": d} for s, d in rows], indent=1))
        return 0
    width = max(len(s) for s, _ in rows)
    print(f"{'source'.ljust(width)}  {args.method} distance to {args.target}")
    for s, d in rows:
        print(f"{s.ljust(width)}  {d:.4g}")
    return 0


def _matrix(args) -> int:
    from pathlib import Path

    from ..dictionary import DictionaryStore
    from ..distance import distance_names, get_distance
    from ..distance.report import matrices_report
    from ..core.errors import TanasError

    methods = args.method or distance_names()
    per_method: dict[str, dict] = {m: {} for m in methods}
    for key, value in _settings(args.set).items():
        name, dot, field = key.partition(".")
        if not dot or name not in per_method:
            raise TanasError(f"--set {key}: name the method first, e.g. --set {methods[0]}.{key}=...")
        per_method[name][field] = value
    for name in methods:
        get_distance(name, **per_method[name])
    store = DictionaryStore.open(args.dictionary)
    _, _, lines = matrices_report(store, methods, per_method, args.out, args.data_dir, args.seed)
    (Path(args.out) / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
