"""A dictionary that grows: the suite's targets solved one after another, each added to the dictionary once solved.

Usage (after the suite's sweep of the same budget, whose TA-NAS records are the fixed dictionary's side)::

    python benchmarks/grow.py --budget cpu --data-dir ../shared/datasets

For every seed of the budget's plan, a copy of the dictionary starts as the fixed one. The plan's targets are solved in
its order by TA-NAS (``fuse-task-aware``, the comparison's own method and budget, so each record is a suite record
with another dictionary); each solved target is then stored as a base task (``tanas dictionary add``'s
:func:`tanas_nni.pipeline.add_to_dictionary`: its representative network trained with the dictionary's recipe, its
winning architecture with its retrained score), so a later target may draw its space from it. The first target of
each sequence sees the fixed dictionary and is the control: its result must equal the suite's.

Records go to ``<results>/<budget>-grow/seed<k>/<target folder>/fuse-task-aware.json`` and the growing dictionaries
to ``<results>/<budget>-grow/seed<k>/dictionary``; a rerun reuses every finished target and every added entry. The
report, ``<out>/grow-<date>-<machine>-<budget>.md``, pairs each target's grown-dictionary result with the suite's fixed
one: test errors, the neighbours each space was drawn from, search seconds (the grown dictionary has more entries to
measure), wins / ties / losses by misclassified test examples.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402

import suite  # noqa: E402  (the suite's config, cells and records)
from tanas_nni.core.errors import TanasError  # noqa: E402
from tanas_nni.dictionary import DictionaryStore  # noqa: E402
from tanas_nni.experiment.compare import record_path, run_method  # noqa: E402
from tanas_nni.pipeline import add_to_dictionary  # noqa: E402

TA = "fuse-task-aware"


def _neighbours(rec: dict) -> list[str]:
    space = json.loads((Path(rec["export"]) / "space.json").read_text())["space"]
    return [n["task"] for n in space.get("neighbours", [])]


def grow_sequence(cfg, seed: int, data_dir, out=print) -> list[dict]:
    """Solve the plan's targets in order with a dictionary that grows; one row per target."""
    root = suite.budget_root(cfg).with_name(f"{cfg.budget}-grow") / f"seed{seed}"
    dictionary = root / "dictionary"
    if not dictionary.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / "dictionary.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(cfg.dictionary, tmp)
        tmp.rename(dictionary)  # the copy appears whole or not at all
    base = len(DictionaryStore.open(cfg.dictionary).entries())
    rows = []
    for i, target in enumerate(cfg.plan.targets, 1):
        fixed_cell = suite.cell_config(cfg, target, seed)
        fixed_path = record_path(fixed_cell, TA)
        if not fixed_path.is_file():
            raise TanasError(f"{fixed_path}: the suite's record of this cell is missing; run benchmarks/suite.py "
                             f"--budget {cfg.budget} first")
        fixed = json.loads(fixed_path.read_text())
        cell = dataclasses.replace(fixed_cell, dictionary=str(dictionary), results=str(root))
        entries = base + i - 1  # the fixed dictionary's and every earlier target's, also when a rerun reuses them
        rec = run_method(cell, TA)
        store = DictionaryStore.open(dictionary)
        if target not in {e.task for e in store.entries()}:
            add_to_dictionary(rec["export"], dictionary, data_dir=data_dir)
        row = {"seed": seed, "target": target, "order": i, "entries": entries,
               "grown_error": rec["test_error"], "grown_wrong": rec["test_error"] * rec["split_sizes"]["test"] / 100,
               "fixed_error": fixed["test_error"], "test_size": rec["split_sizes"]["test"],
               "grown_search_s": rec["search_seconds"], "fixed_search_s": fixed["search_seconds"],
               "grown_params": rec["params"], "fixed_params": fixed["params"],
               "grown_neighbours": _neighbours(rec), "fixed_neighbours": _neighbours(fixed),
               "grown_arch": rec["architecture"], "fixed_arch": fixed["architecture"]}
        rows.append(row)
        out(f"[seed {seed} {i}/{len(cfg.plan.targets)}] {target}: grown {row['grown_error']:.2f} % "
            f"(neighbours {', '.join(row['grown_neighbours'])}) vs fixed {row['fixed_error']:.2f} %")
    return rows


def report(cfg, rows: list[dict], path: Path, command: str) -> None:
    wins = sum(round(r["grown_wrong"]) < round(r["fixed_error"] * r["test_size"] / 100) for r in rows)
    losses = sum(round(r["grown_wrong"]) > round(r["fixed_error"] * r["test_size"] / 100) for r in rows)
    later = [r for r in rows if r["order"] > 1]
    lines = [f"# A dictionary that grows, budget `{cfg.budget}` ({dt.date.today().isoformat()})", "",
             f"Command: `{command}`  ", f"Machine: {describe()}  ",
             f"Fixed side: the suite's TA-NAS records under `{suite.budget_root(cfg)}`; grown side: the same method, "
             f"budget, data and seeds, with the dictionary growing by each solved target in the plan's order "
             f"({', '.join(cfg.plan.targets)}).", "",
             "| seed | # | target | entries | neighbours (grown) | grown err (%) | fixed err (%) | grown search (s) | "
             "fixed search (s) |", "|---:|---:|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['order']} | {r['target']} | {r['entries']} | "
                     f"{', '.join(r['grown_neighbours'])} | {r['grown_error']:.2f} | {r['fixed_error']:.2f} | "
                     f"{r['grown_search_s']:.0f} | {r['fixed_search_s']:.0f} |")
    lines += ["", f"Grown against fixed, every cell by misclassified test examples: {wins} wins, "
              f"{len(rows) - wins - losses} ties, {losses} losses."]
    if later:
        lines.append(f"Over the targets that had a grown dictionary (not the first of a sequence, {len(later)} "
                     f"cells): mean test error {statistics.mean(r['grown_error'] for r in later):.2f} % grown, "
                     f"{statistics.mean(r['fixed_error'] for r in later):.2f} % fixed; a solved target is among the "
                     f"neighbours in {sum(any(n.startswith('quickdraw:') for n in r['grown_neighbours']) for r in later)}"
                     f" of them.")
    controls = [r for r in rows if r["order"] == 1]
    lines.append(f"Controls (the first target of each sequence, the fixed dictionary both sides): "
                 f"{sum(abs(r['grown_error'] - r['fixed_error']) < 1e-9 for r in controls)}/{len(controls)} equal.")
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--config", default=str(suite.DEFAULT_CONFIG))
    ap.add_argument("--targets", default=None, help="comma-separated, in the order they are solved")
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--dictionary", default=None)
    ap.add_argument("--results", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(suite.DEFAULT_OUT))
    args = ap.parse_args(argv)
    command = " ".join(["python", "benchmarks/grow.py", *(sys.argv[1:] if argv is None else argv)])
    import warnings

    warnings.filterwarnings("ignore")
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
        cfg = suite.load_suite(args.config, args.budget, {"dictionary": args.dictionary, "results": args.results,
                                                          "data_dir": args.data_dir},
                               targets=suite._csv_list(args.targets), seeds=seeds, methods=[TA])
        from tanas_nni.core.logs import quiet_libraries

        quiet_libraries()
        rows = []
        for seed in cfg.plan.seeds:
            rows += grow_sequence(cfg, seed, cfg.data_dir, out=lambda line: print(line, flush=True))
    except (TanasError, ValueError) as e:
        print(f"grow: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"grow-{dt.date.today().isoformat()}-{slug()}-{cfg.budget}.md"
    report(cfg, rows, path, command)
    print(path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
