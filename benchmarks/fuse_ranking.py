"""Does FUSE rank its candidates the way retraining does? Every candidate of the suite's FUSE runs, retrained.

Usage (after a suite sweep; reads its records and FUSE's export folders)::

    python benchmarks/fuse_ranking.py --budget cpu --data-dir ../shared/datasets

For every finished FUSE record of the budget (``fuse-task-aware`` and ``fuse-standard``; ``--methods``), the export
folder holds the candidate pool (``space.json``) and FUSE's verdict on it (``ranking.csv``: a global rank, best first,
and each candidate's softmax(α) within its round). Every candidate is trained from scratch with the cell's own
retraining recipe, data and seed (the suite's record gives all three) and evaluated once on validation and test, the
way the winner was. The agreement between the two orders is measured three ways:

- **Spearman's ρ** between FUSE's global rank and the retrained validation accuracy over the cell's pool;
- **pairwise agreement**: over every pair of candidates of one round, how often the one with the larger α also has the
  larger retrained validation accuracy (ties in either count as half);
- **regret**: the retrained test error of FUSE's winner minus the best retrained test error of the pool, and whether the
  winner is the pool's best on validation.

One JSON per (cell, method, candidate) under ``<results>/<budget>/fuse-ranking/`` (resumable: a rerun retrains only
what is missing); the report is ``<out>/fuse-ranking-<date>-<machine>.md``.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import statistics
import sys
from itertools import combinations
from pathlib import Path

import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402
from suite import finished_records, record_data  # noqa: E402

from tanas_nni.core.config import from_dict  # noqa: E402
from tanas_nni.core.records import atomic_write_json  # noqa: E402
from tanas_nni.pipeline import retrain  # noqa: E402
from tanas_nni.space import Architecture  # noqa: E402
from tanas_nni.training import TrainConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _records(results: Path, methods: list[str]) -> list[dict]:
    return [rec for rec in finished_records(results, methods)
            if rec.get("export") and (Path(rec["export"]) / "ranking.csv").is_file()]


def _pool(export: Path) -> tuple[list[Architecture], list[dict]]:
    pool = [Architecture.from_dict(a) for a in json.loads((export / "space.json").read_text())["candidates"]]
    with open(export / "ranking.csv", newline="") as f:
        ranking = list(csv.DictReader(f))
    return pool, ranking


def _retrained(rec: dict, arch: Architecture, key: str, store: Path, data_dir) -> dict:
    """The candidate retrained with the cell's recipe (cached per cell, method and candidate key)."""
    path = store / f"seed{rec['seed']}" / rec["target"].replace(":", "__") / rec["method"] / f"{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    _, result = retrain(arch, record_data(rec, data_dir), from_dict(TrainConfig, rec["retrain"]), seed=rec["seed"])
    row = {"key": key, "architecture": str(arch), "val_acc": result["val_acc"], "test_acc": result["test_acc"],
           "seconds": result["seconds"]}
    atomic_write_json(path, row)
    return row


def _pairwise(rows: list[dict]) -> tuple[float, int]:
    """Agreement of α and retrained val acc over pairs of candidates of the same round: (agreements, pairs)."""
    agree, pairs = 0.0, 0
    by_round: dict[str, list[dict]] = {}
    for r in rows:
        by_round.setdefault(r["round"], []).append(r)
    for group in by_round.values():
        for a, b in combinations(group, 2):
            da, dv = a["probability"] - b["probability"], a["val_acc"] - b["val_acc"]
            agree += 0.5 if da == 0 or dv == 0 else float((da > 0) == (dv > 0))
            pairs += 1
    return agree, pairs


def study(rec: dict, store: Path, data_dir) -> dict:
    export = Path(rec["export"])
    pool, ranking = _pool(export)
    rows = []
    for r in ranking:
        arch = pool[int(r["choice"])]
        got = _retrained(rec, arch, r["key"], store, data_dir)
        rows.append({**got, "rank": int(r["rank"]), "round": r["round"], "probability": float(r["probability"]),
                     "winner": r["winner"] == "True", "parameters": int(r["parameters"]),
                     "position": int(r["choice"]) + 1})
    rho = spearmanr([-r["rank"] for r in rows], [r["val_acc"] for r in rows]).statistic if len(rows) > 2 else None
    agree, pairs = _pairwise(rows)
    win = next(r for r in rows if r["winner"])
    best_val = max(r["val_acc"] for r in rows)
    return {"target": rec["target"], "seed": rec["seed"], "method": rec["method"], "candidates": len(rows),
            "spearman": None if rho is None or rho != rho else float(rho), "agree": agree, "pairs": pairs,
            "winner_test_error": 100 * (1 - win["test_acc"]),
            "best_test_error": 100 * (1 - max(r["test_acc"] for r in rows)),
            "winner_is_best_on_val": win["val_acc"] == best_val,
            "mean_test_error": 100 * (1 - statistics.mean(r["test_acc"] for r in rows)), "rows": rows}


def _by_position(cells: list[dict]) -> list[str]:
    """Retrained test error by position in the pool (the order the space gave the candidates: in a task-aware pool
    the nearest tasks' own architectures first, then recombinations), against FUSE's winner of the same cells."""
    positions = sorted({r["position"] for c in cells for r in c["rows"]})
    lines = ["Retrained test error by the candidate's position in the pool (1: the first the space gave; in a "
             "task-aware pool the nearest task's own architecture, scaled to the budget), over the cells whose pool "
             "has that position. \"Is the winner\": cells where FUSE chose that candidate; over the other cells, "
             "whether that candidate's retrained test error is below, equal to or above the winner's.", "",
             "| position | cells | mean test error (%) | FUSE's winner there (%) | is the winner | "
             "beats / ties / loses to the winner (other cells) |",
             "|---:|---:|---:|---:|---:|---|"]
    for pos in positions:
        rows = [(r, c) for c in cells for r in c["rows"] if r["position"] == pos]
        errs = [100 * (1 - r["test_acc"]) for r, _ in rows]
        d = [e - c["winner_test_error"] for e, (r, c) in zip(errs, rows) if not r["winner"]]
        lines.append(f"| {pos} | {len(rows)} | {statistics.mean(errs):.2f} | "
                     f"{statistics.mean(c['winner_test_error'] for _, c in rows):.2f} | "
                     f"{sum(r['winner'] for r, _ in rows)} | {sum(x < -1e-9 for x in d)} / "
                     f"{sum(abs(x) <= 1e-9 for x in d)} / {sum(x > 1e-9 for x in d)} |")
    return lines + [""]


def report(cells: list[dict], args, path: Path) -> None:
    lines = [f"# FUSE's ranking against retraining ({dt.date.today().isoformat()})", "",
             f"Command: `python benchmarks/fuse_ranking.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {describe()}  ",
             f"Records: the suite's `{args.budget}` budget under `{args.results}`; every candidate of every FUSE run "
             f"retrained from scratch with that cell's recipe, data and seed.", ""]
    for method in sorted({c["method"] for c in cells}):
        mine = [c for c in cells if c["method"] == method]
        rhos = [c["spearman"] for c in mine if c["spearman"] is not None]
        agree, pairs = sum(c["agree"] for c in mine), sum(c["pairs"] for c in mine)
        regret = [c["winner_test_error"] - c["best_test_error"] for c in mine]
        lines += [f"## `{method}`", "",
                  f"- cells: {len(mine)}, candidates retrained: {sum(c['candidates'] for c in mine)}",
                  f"- Spearman ρ (FUSE's rank vs retrained val acc, per cell's pool): mean "
                  f"{statistics.mean(rhos):.2f} over {len(rhos)} cells (min {min(rhos):.2f}, max {max(rhos):.2f})"
                  if rhos else "- Spearman ρ: not defined (pools of fewer than 3 or constant scores)",
                  f"- pairwise agreement within rounds (α vs retrained val acc): {agree:g}/{pairs} = "
                  f"{agree / pairs:.0%} (chance: 50 %)" if pairs else "- pairwise agreement: no pairs",
                  f"- FUSE's winner is the pool's best on retrained validation in "
                  f"{sum(c['winner_is_best_on_val'] for c in mine)}/{len(mine)} cells",
                  f"- regret (winner's test error − the pool's best, points): mean {statistics.mean(regret):.2f}; "
                  f"winner {statistics.mean(c['winner_test_error'] for c in mine):.2f} % against the pool's mean "
                  f"candidate {statistics.mean(c['mean_test_error'] for c in mine):.2f} %", "",
                  "| target | seed | ρ | pairs agreeing | winner test err (%) | pool's best (%) | pool's mean (%) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for c in sorted(mine, key=lambda c: (c["target"], c["seed"])):
            rho = "—" if c["spearman"] is None else f"{c['spearman']:.2f}"
            lines.append(f"| {c['target']} | {c['seed']} | {rho} | {c['agree']:g}/{c['pairs']} | "
                         f"{c['winner_test_error']:.2f} | {c['best_test_error']:.2f} | {c['mean_test_error']:.2f} |")
        lines.append("")
        lines += _by_position(mine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    (path.with_suffix(".json")).write_text(json.dumps(cells, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", default="cpu")
    p.add_argument("--results", default=str(REPO / "runs" / "suite"), help="the suite's results folder")
    p.add_argument("--methods", default="fuse-task-aware,fuse-standard")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = Path(args.results) / args.budget
    recs = _records(results, args.methods.split(","))
    if not recs:
        raise SystemExit(f"{results}: no finished FUSE record with an export folder; run the suite first")
    store = results / "fuse-ranking"
    cells = []
    for i, rec in enumerate(recs, 1):
        print(f"[{i}/{len(recs)}] seed {rec['seed']} {rec['target']} {rec['method']}", flush=True)
        cells.append(study(rec, store, args.data_dir))
        c = cells[-1]
        print(f"  rho {c['spearman']}, pairs {c['agree']:g}/{c['pairs']}, winner {c['winner_test_error']:.2f} % "
              f"best {c['best_test_error']:.2f} %", flush=True)
    out = Path(args.out) / f"fuse-ranking-{dt.date.today().isoformat()}-{slug()}-{args.budget}.md"
    report(cells, args, out)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
