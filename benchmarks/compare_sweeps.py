"""Two suite sweeps side by side: the same cells under two settings (e.g. ``--retrain-top 1`` and ``2``).

Usage (each CSV is the one a suite report writes beside itself, ``suite-<date>-<machine>-<budget>.csv``)::

    python benchmarks/compare_sweeps.py A.csv B.csv --labels "retrain_top 1,retrain_top 2" --out report.md

For every (target, seed) cell finished in both sweeps: each method's misclassified test examples under A and B; the
totals per method; TA-NAS's paired record against every other method under each sweep (a win is fewer misclassified
test examples, a tie the same number); and the mean search seconds per method. Cells missing or failed in either sweep
are listed and left out.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

TA = "fuse-task-aware"


def read(path: Path) -> dict[tuple[str, int, str], dict]:
    with open(path, newline="") as f:
        return {(r["target"], int(r["seed"]), r["method"]): r for r in csv.DictReader(f) if r["status"] == "ok"}


def short(target: str) -> str:
    return target.split(":", 1)[-1].removesuffix("-vs-rest")


def report(a: dict, b: dict, labels: tuple[str, str], sources: tuple[str, str]) -> str:
    both = sorted(set(a) & set(b), key=lambda k: (k[1], k[0], k[2]))
    left_out = sorted((set(a) ^ set(b)))
    methods = sorted(dict.fromkeys(k[2] for k in both), key=lambda m: m != TA)  # TA-NAS first, then as recorded
    cells = list(dict.fromkeys((k[0], k[1]) for k in both))
    la, lb = labels
    lines = [f"Sweeps: A = {la} (`{sources[0]}`), B = {lb} (`{sources[1]}`); {len(cells)} cells finished in both.", "",
             "Misclassified test examples per cell (A / B):", "",
             "| target | seed | " + " | ".join(f"`{m}`" for m in methods) + " |",
             "|---|---:|" + "---:|" * len(methods)]
    for t, s in cells:
        vals = [f"{a[(t, s, m)]['test_wrong']} / {b[(t, s, m)]['test_wrong']}" if (t, s, m) in a and (t, s, m) in b
                else "—" for m in methods]
        lines.append(f"| {short(t)} | {s} | " + " | ".join(vals) + " |")
    lines += ["", "| method | wrong in all, A | wrong in all, B | of | mean search s, A | mean search s, B |",
              "|---|---:|---:|---:|---:|---:|"]
    for m in methods:
        keys = [(t, s, m) for t, s in cells if (t, s, m) in a and (t, s, m) in b]
        wa = sum(int(a[k]["test_wrong"]) for k in keys)
        wb = sum(int(b[k]["test_wrong"]) for k in keys)
        n = sum(int(a[k]["test_size"]) for k in keys)
        sa = sum(float(a[k]["search_seconds"] or 0) for k in keys) / len(keys)
        sb = sum(float(b[k]["search_seconds"] or 0) for k in keys) / len(keys)
        lines.append(f"| `{m}` | {wa} | {wb} | {n} | {sa:.0f} | {sb:.0f} |")
    if TA in methods:
        lines += ["", "TA-NAS against each method, paired cells (wins–ties–losses):", "",
                  f"| TA-NAS vs | {la} | {lb} |", "|---|---|---|"]
        for m in methods:
            if m == TA:
                continue
            row = []
            for d in (a, b):
                w = t_ = l_ = 0
                for t, s in cells:
                    if (t, s, m) in d and (t, s, TA) in d:
                        x, y = int(d[(t, s, TA)]["test_wrong"]), int(d[(t, s, m)]["test_wrong"])
                        w, t_, l_ = w + (x < y), t_ + (x == y), l_ + (x > y)
                row.append(f"{w}–{t_}–{l_}")
            lines.append(f"| `{m}` | " + " | ".join(row) + " |")
    if left_out:
        lines += ["", "Left out (finished in one sweep only): "
                  + ", ".join(f"{short(t)} seed {s} `{m}`" for t, s, m in left_out)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--labels", default="A,B", help="two comma-separated names for the sweeps")
    p.add_argument("--out", type=Path, default=None, help="write the table here (default: stdout)")
    args = p.parse_args(argv)
    labels = tuple(x.strip() for x in args.labels.split(","))
    if len(labels) != 2:
        print(f"compare_sweeps: error: --labels needs two names, got {args.labels!r}", file=sys.stderr)
        return 2
    for path in (args.a, args.b):
        if not path.is_file():
            print(f"compare_sweeps: error: {path}: no such file (a suite report's CSV)", file=sys.stderr)
            return 2
    text = report(read(args.a), read(args.b), labels, (str(args.a), str(args.b)))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(args.out)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
