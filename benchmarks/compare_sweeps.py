"""Two suite sweeps side by side: the same cells under two settings (e.g. ``--retrain-top 1`` and ``2``).

Usage (each CSV is the one a suite report writes beside itself, ``suite-<date>-<machine>-<budget>.csv``; give each
sweep its own ``--results`` and ``--out``, since the report's name does not say its settings)::

    python benchmarks/compare_sweeps.py A.csv B.csv --labels "retrain_top 1,retrain_top 2" --out report.md

Over the methods both sweeps ran and the (target, seed) cells where each of them finished in both: each method's
misclassified test examples under A and B, the totals and mean search seconds per method, and TA-NAS's paired record
against every other method under each sweep (the suite's own statistics: a win is fewer misclassified test examples,
a tie the same number; Wilcoxon signed-rank p). A cell whose data differ between the sweeps (another data fingerprint or test size) is an
error: the two would not be the same cell.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import METHODS, TA, paired  # noqa: E402

from tanas_nni.core.errors import TanasError  # noqa: E402

NEEDED = ("target", "seed", "method", "status", "test_error", "test_wrong", "test_size", "search_seconds",
          "data_fingerprint")


def read(path: Path) -> list[dict]:
    """The CSV's finished rows with numbers as numbers."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise TanasError(f"{path}: not a suite report's CSV (no column {', '.join(missing)})")
        rows = []
        for i, r in enumerate(reader, 2):
            if r["status"] != "ok":
                continue
            try:
                rows.append({**r, "seed": int(r["seed"]), "test_error": float(r["test_error"]),
                             "test_wrong": int(r["test_wrong"]) if r["test_wrong"] else None,
                             "test_size": int(r["test_size"]) if r["test_size"] else None,
                             "search_seconds": float(r["search_seconds"] or 0)})
            except ValueError as e:
                raise TanasError(f"{path}: line {i}: {e}") from None
    return rows


def short(target: str) -> str:
    return target.split(":", 1)[-1].removesuffix("-vs-rest")


def common_cells(a: list[dict], b: list[dict]) -> tuple[list[tuple[str, int]], list[str]]:
    """The methods both sweeps ran, and the cells where every one of them finished in both (seed, then target order)."""
    methods = [m for m in METHODS if m in {r["method"] for r in a} & {r["method"] for r in b}]
    ka = {(r["target"], r["seed"], r["method"]): r for r in a}
    kb = {(r["target"], r["seed"], r["method"]): r for r in b}
    cells = sorted({(t, s) for t, s, _ in ka} | {(t, s) for t, s, _ in kb}, key=lambda c: (c[1], c[0]))
    keep = [c for c in cells if all((*c, m) in ka and (*c, m) in kb for m in methods)]
    for t, s in keep:
        for m in methods:
            x, y = ka[(t, s, m)], kb[(t, s, m)]
            if (x["data_fingerprint"], x["test_size"]) != (y["data_fingerprint"], y["test_size"]):
                raise TanasError(f"{t} seed {s} {m}: the two sweeps used different data (fingerprint "
                                 f"{x['data_fingerprint']} vs {y['data_fingerprint']}); compare sweeps of one budget")
    return keep, methods


def report(a: list[dict], b: list[dict], labels: tuple[str, str], sources: tuple[str, str]) -> str:
    cells, methods = common_cells(a, b)
    if not cells:
        raise TanasError("no cell finished with every method in both sweeps")
    keep = set(cells)
    a = [r for r in a if (r["target"], r["seed"]) in keep and r["method"] in methods]
    b = [r for r in b if (r["target"], r["seed"]) in keep and r["method"] in methods]
    ka = {(r["target"], r["seed"], r["method"]): r for r in a}
    kb = {(r["target"], r["seed"], r["method"]): r for r in b}
    la, lb = labels
    n = f"{len(cells)} cell{'s' * (len(cells) != 1)}"
    lines = [f"Sweeps: A = {la} (`{sources[0]}`), B = {lb} (`{sources[1]}`); {n} finished with every method in both.", "", "Misclassified test examples per cell (A / B):", "",
             "| target | seed | " + " | ".join(f"`{m}`" for m in methods) + " |",
             "|---|---:|" + "---:|" * len(methods)]
    for t, s in cells:
        lines.append(f"| {short(t)} | {s} | "
                     + " | ".join(f"{ka[(t, s, m)]['test_wrong']} / {kb[(t, s, m)]['test_wrong']}" for m in methods)
                     + " |")
    lines += ["", "| method | wrong in all, A | wrong in all, B | of | mean search s, A | mean search s, B |",
              "|---|---:|---:|---:|---:|---:|"]
    for m in methods:
        ra = [ka[(t, s, m)] for t, s in cells]
        rb = [kb[(t, s, m)] for t, s in cells]
        lines.append(f"| `{m}` | {sum(r['test_wrong'] or 0 for r in ra)} | {sum(r['test_wrong'] or 0 for r in rb)} | "
                     f"{sum(r['test_size'] or 0 for r in ra)} | "
                     f"{sum(r['search_seconds'] for r in ra) / len(ra):.0f} | "
                     f"{sum(r['search_seconds'] for r in rb) / len(rb):.0f} |")
    for label, rows in ((la, a), (lb, b)):  # retrain_top > 1: the finalists (suite CSVs carry them)
        for m in methods:
            mine = [r for r in rows if r["method"] == m and r.get("kept_finalist")]
            if mine:
                later = sum(int(r["kept_finalist"]) > 1 for r in mine)
                secs = sum(float(r["finalist_seconds"] or 0) for r in mine) / len(mine)
                lines.append(f"\n{label}, `{m}`: a finalist after FUSE's winner kept in {later} of {len(mine)} cells; "
                             f"the other finalists' training {secs:.1f} s per cell on average (in its search seconds).")
    if TA in methods and len(methods) > 1:
        lines += ["", "TA-NAS against each method over these cells (wins–ties–losses, Wilcoxon p):", "",
                  f"| TA-NAS vs | {la} | {lb} |", "|---|---|---|"]
        for m in methods:
            if m == TA:
                continue
            cols = []
            for rows in (a, b):
                p = paired(rows, m)
                cols.append(f"{p['wins']}–{p['ties']}–{p['losses']}"
                            + (f" (p {p['p']:.3g})" if p["p"] is not None else ""))
            lines.append(f"| `{m}` | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--labels", default="A,B", help="two comma-separated names for the sweeps")
    p.add_argument("--out", type=Path, default=None, help="write the table here (default: stdout)")
    args = p.parse_args(argv)
    try:
        labels = tuple(x.strip() for x in args.labels.split(","))
        if len(labels) != 2:
            raise TanasError(f"--labels: needs two comma-separated names, got {args.labels!r}")
        for path in (args.a, args.b):
            if not path.is_file():
                raise TanasError(f"{path}: no such file (give a suite report's CSV)")
        text = report(read(args.a), read(args.b), labels, (str(args.a), str(args.b)))
    except TanasError as e:
        print(f"compare_sweeps: error: {e}", file=sys.stderr)
        return 2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(args.out)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
