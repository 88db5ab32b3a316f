"""Benchmark: both 10x10 task-distance matrices on the default dictionary, timed, with CSV, heatmaps and a summary.

Usage (from the repository root; the dictionary is built by ``tanas dictionary build configs/dictionary.yml``)::

    python benchmarks/distance_matrix.py --dictionary runs/dictionary --data-dir ../shared/datasets --threads 2

The dictionary is copied to a scratch directory first so that every matrix is computed from scratch (no cache) and the
dictionary itself is left untouched. Writes ``benchmarks/results/distance-<date>-<machine>.md`` and, beside it,
``...-<method>.csv`` / ``.png`` / ``.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = {"fisher": 60, "transfer": 15 * 60}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        if m:
            return m.group(1).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    from tanas_nni.dictionary import DictionaryStore
    from tanas_nni.distance import distance_names
    from tanas_nni.distance.report import matrices_report, summary_markdown

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dictionary", default=str(REPO / "runs" / "dictionary"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", action="append", help="default: every registered method")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = args.method or distance_names()
    cpu, cores = cpu_model(), os.cpu_count()
    machine = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-") + f"-{args.threads}t"
    stamp = dt.date.today().isoformat()
    prefix = f"distance-{stamp}-{machine}"
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="tanas-distance-bench-"))
    try:
        shutil.copytree(args.dictionary, scratch / "dictionary", ignore=shutil.ignore_patterns("cache", "locks"))
        store = DictionaryStore.open(scratch / "dictionary")
        results, summaries, report = matrices_report(store, methods, {}, args.out, args.data_dir, args.seed,
                                                     prefix=prefix, echo=lambda line: print(line, file=sys.stderr))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load_after = os.getloadavg()
    cmd = "python benchmarks/distance_matrix.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Task-distance matrices on the default dictionary ({stamp})", "",
             f"Command: `{cmd.strip()}`  ", f"Dictionary: `{args.dictionary}` (copied; computed without cache)  ",
             f"Machine: {cpu}, {cores} cores, torch threads {args.threads}, torch {torch.__version__}  ",
             f"Load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f} "
             f"(above {args.threads} means other processes shared the cores and the timings are pessimistic)", "",
             "## Timings", "", "| method | 10x10 matrix (s) | target (s) | met |", "|---|---|---|---|"]
    for name in methods:
        s = summaries[name]["seconds"]
        target = TARGET_SECONDS.get(name)
        lines.append(f"| {name} | {s:.1f} | {target or '-'} | {'yes' if target and s <= target else 'no'} |")
    lines += ["", "## Discrimination", ""]
    for name in methods:
        settings = summaries[name]["settings"]
        lines += [summary_markdown(name, summaries[name]), "",
                  f"Settings: `{settings}`", "", f"![{name}]({prefix}-{name}.png)", ""]
    lines += [line for line in report if line.startswith("Spearman")] + [""]
    lines += ["## Matrices (rows source, columns target)", ""]
    for name, (tasks, matrix) in results.items():
        short = [t.replace("-vs-rest", "").replace("fashion-mnist", "f") for t in tasks]
        lines += [f"### {name}", "", "| source \\ target | " + " | ".join(short) + " |",
                  "|---" * (len(tasks) + 1) + "|"]
        lines += [f"| {s} | " + " | ".join(f"{v:.3g}" for v in row) + " |" for s, row in zip(short, matrix)]
        lines.append("")
    path = Path(args.out) / f"{prefix}.md"
    path.write_text("\n".join(lines))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
