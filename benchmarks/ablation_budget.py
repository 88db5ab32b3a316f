"""What the parameter budget does to TA-NAS: the suite's TA-NAS cells rerun without ``max_params``, paired with the
suite's own records (with it) and with FUSE on the standard space.

Usage (after the suite's sweep of the same budget)::

    python benchmarks/ablation_budget.py --budget cpu --data-dir ../shared/datasets

Each (target, seed) cell of the budget's plan runs ``fuse-task-aware`` with the suite's settings but no parameter
budget; records go to ``<results>/<budget>-no-max-params/seed<k>/`` (a rerun reuses them). The report,
``<out>/ablation-budget-<date>-<machine>-<budget>.md``, lists per cell the test error and parameters without the
budget, with it (the suite's record) and FUSE-standard's (the suite's record), and counts wins against FUSE-standard by
misclassified test examples.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402

import suite  # noqa: E402
from tanas_nni.core.errors import TanasError  # noqa: E402
from tanas_nni.experiment.compare import record_path, run_method  # noqa: E402

TA, STD = "fuse-task-aware", "fuse-standard"


def _wrong(rec: dict) -> int:
    return round(rec["test_error"] * rec["split_sizes"]["test"] / 100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--config", default=str(suite.DEFAULT_CONFIG))
    ap.add_argument("--results", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(suite.DEFAULT_OUT))
    args = ap.parse_args(argv)
    command = " ".join(["python", "benchmarks/ablation_budget.py", *(sys.argv[1:] if argv is None else argv)])
    import warnings

    warnings.filterwarnings("ignore")
    from tanas_nni.core.logs import quiet_libraries

    quiet_libraries()
    try:
        cfg = suite.load_suite(args.config, args.budget, {"results": args.results, "data_dir": args.data_dir})
        root = suite.budget_root(cfg).with_name(f"{cfg.budget}-no-max-params")
        rows = []
        for seed in cfg.plan.seeds:
            for target in cfg.plan.targets:
                cell = suite.cell_config(cfg, target, seed)
                with_budget, std = (json.loads(record_path(cell, m).read_text()) for m in (TA, STD))
                unbounded = copy.copy(cell.budgets[cfg.budget])
                unbounded.max_params = None
                free = dataclasses.replace(cell, results=str(root / f"seed{seed}"),
                                           budgets={**cell.budgets, cfg.budget: unbounded})
                rec = run_method(free, TA)
                rows.append({"target": target, "seed": seed, "without": rec, "with": with_budget, "standard": std})
                print(f"seed {seed} {target}: without {rec['test_error']:.2f} % ({rec['params']:.3f} M), with "
                      f"{with_budget['test_error']:.2f} %, standard {std['test_error']:.2f} %", flush=True)
    except (TanasError, FileNotFoundError) as e:
        print(f"ablation: error: {e}", file=sys.stderr)
        return 2
    lines = [f"# TA-NAS with and without the parameter budget, budget `{cfg.budget}` ({dt.date.today().isoformat()})",
             "", f"Command: `{command}`  ", f"Machine: {describe()}  ",
             f"With: the suite's TA-NAS records (`max_params` {cfg.active.max_params:,}); without: the same cells, "
             f"settings and seeds, no budget; standard: the suite's FUSE-standard records (with the budget).", "",
             "| target | seed | without: err (%) | params (M) | with: err (%) | params (M) | standard: err (%) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['seed']} | {r['without']['test_error']:.2f} | "
                     f"{r['without']['params']:.3f} | {r['with']['test_error']:.2f} | {r['with']['params']:.3f} | "
                     f"{r['standard']['test_error']:.2f} |")
    lines.append("")
    for side in ("without", "with"):
        wins = sum(_wrong(r[side]) < _wrong(r["standard"]) for r in rows)
        losses = sum(_wrong(r[side]) > _wrong(r["standard"]) for r in rows)
        lines.append(f"- TA-NAS {side} the budget: mean {statistics.mean(r[side]['test_error'] for r in rows):.2f} %, "
                     f"{statistics.mean(r[side]['params'] for r in rows):.3f} M; against FUSE-standard "
                     f"({statistics.mean(r['standard']['test_error'] for r in rows):.2f} %): {wins} wins, "
                     f"{len(rows) - wins - losses} ties, {losses} losses.")
    better = sum(_wrong(r["without"]) < _wrong(r["with"]) for r in rows)
    worse = sum(_wrong(r["without"]) > _wrong(r["with"]) for r in rows)
    lines.append(f"- Without against with the budget, by misclassified test examples: {better} better, "
                 f"{len(rows) - better - worse} tied, {worse} worse.")
    out = Path(args.out) / f"ablation-budget-{dt.date.today().isoformat()}-{slug()}-{cfg.budget}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
