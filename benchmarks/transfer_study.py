"""Study: how the transfer distance's scoring choices rank a dictionary's tasks, from full pruning curves.

For every ordered pair of dictionary tasks (source → target) and every seed, one transfer network is trained with the
``transfer`` distance's default settings and pruned down to the smallest density whatever ε says, recording three
criteria at every step from the same network (``r2``, ``r2-white`` and the paper's linear ``probe``). Every scoring
variant (criterion × ε, and 1 − R² of the unpruned network) is then scored offline from the same curves, per seed and
averaged over seeds, against the paper's structure: the nearest other task from the same dataset for ≥ 9 of 10
targets and mean MNIST→MNIST < MNIST→Fashion-MNIST.

Usage (from the repository root)::

    python benchmarks/transfer_study.py --dictionary runs/dictionary --data-dir ../shared/datasets --seeds 0 1

Writes ``benchmarks/results/transfer-study-<label>.md`` and the raw curves beside it (``...-curves.json``), so other
scorings can be tried without training again. Uses ``--workers`` processes with one torch thread each.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
RECORD = ("r2", "r2-white", "probe")
EPSILONS = {"r2": (0.01, 0.02, 0.05, 0.1), "r2-white": (0.02, 0.05, 0.1), "probe": (0.005, 0.01, 0.02, 0.05)}

_FEATURES: dict = {}  # filled before the worker pool forks; read-only in the workers


def _job(args):
    target, source, seed = args
    from tanas_nni.distance.transfer import TransferSettings, transfer_curves

    torch.set_num_threads(1)
    f = _FEATURES[target]
    curves = transfer_curves(f["sources"][source], f["target"], f["labels"], f["head"], TransferSettings(), seed,
                             target, record=RECORD, full=True)
    return f"{source}|{target}|{seed}", curves


def crossing(curve: list, eps: float) -> float:
    """% of weights at which the curve first falls ε below its unpruned value (log-density interpolation)."""
    from tanas_nni.distance.transfer import TransferSettings, curve_score

    return curve_score([tuple(p) for p in curve], TransferSettings(epsilon=eps))


def score_table(curves: dict, tasks: list[str], seeds: list[int]) -> list[str]:
    from tanas_nni.distance.report import matrix_summary

    variants = []
    for crit in RECORD:
        if crit != "probe":
            variants.append((f"{crit}, 1 − R² unpruned", lambda c, k=crit: 100 * (1 - c[k][0][1])))
        for eps in EPSILONS[crit]:
            variants.append((f"{crit}, % weights, ε {eps}", lambda c, k=crit, e=eps: crossing(c[k], e)))
    n = len(tasks)
    rows = ["| scoring | nearest same dataset (" + " / ".join(f"s{s}" for s in seeds) + " / mean) | AUC (mean) "
            "| MNIST→MNIST | MNIST→Fashion | Fashion→Fashion | Fashion→MNIST | both met |", "|---" * 8 + "|"]
    for name, fn in variants:
        per_seed = []
        for seed_set in [[s] for s in seeds] + [seeds]:
            m = np.zeros((n, n))
            for j, t in enumerate(tasks):
                for i, s in enumerate(tasks):
                    if i != j:
                        m[i, j] = np.mean([fn(curves[f"{s}|{t}|{r}"]) for r in seed_set])
            per_seed.append(matrix_summary(tasks, m))
        mean = per_seed[-1]
        mp_ = mean["mean_by_pair"]
        mm, mf = mp_.get("mnist->mnist", math.nan), mp_.get("mnist->fashion-mnist", math.nan)
        met = mean["nearest_same_dataset"] >= 9 and mm < mf
        rows.append(f"| {name} | " + " / ".join(str(p["nearest_same_dataset"]) for p in per_seed)
                    + f" | {mean['rank_auc']:.2f} | {mm:.1f} | {mf:.1f} | "
                    f"{mp_.get('fashion-mnist->fashion-mnist', math.nan):.1f} | "
                    f"{mp_.get('fashion-mnist->mnist', math.nan):.1f} | {'yes' if met else 'no'} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    from machine import describe
    from tanas_nni.dictionary import DictionaryStore
    from tanas_nni.distance.api import check_entries, prepare_target
    from tanas_nni.distance.base import penultimate

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dictionary", default=str(REPO / "runs" / "dictionary"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--label", default=None, help="results file name part (default: the dictionary's folder name)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args(argv)
    label = args.label or Path(args.dictionary).name
    t0 = time.time()
    store = DictionaryStore.open(args.dictionary)
    entries = check_entries(store)
    tasks = [e.task for e in entries]
    networks = {e.task: e.load_network() for e in entries}
    for i, t in enumerate(tasks, 1):
        target = prepare_target(t, store, args.data_dir, 0, entries, log=lambda m: None)
        x = target.data.x
        _FEATURES[t] = {
            "target": {sp: penultimate(networks[t], x[sp]) for sp in ("train", "val")},
            "sources": {s: {sp: penultimate(networks[s], x[sp]) for sp in ("train", "val")} for s in tasks if s != t},
            "labels": target.data.y["val"], "head": networks[t].head,
        }
        print(f"features {i}/{len(tasks)}: {t}", file=sys.stderr, flush=True)
    jobs = [(t, s, r) for t in tasks for s in tasks if s != t for r in args.seeds]
    curves = {}
    with mp.get_context("fork").Pool(args.workers) as pool:
        for k, (key, c) in enumerate(pool.imap_unordered(_job, jobs), 1):
            curves[key] = c
            if k % 10 == 0 or k == len(jobs):
                print(f"curves {k}/{len(jobs)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.time() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"transfer-study-{label}-curves.json").write_text(json.dumps(curves))
    meta = entries[0].meta
    from tanas_nni.distance.transfer import TransferSettings

    cmd = "python benchmarks/transfer_study.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Transfer distance: scoring variants on `{label}`", "", f"Command: `{cmd.strip()}`  ",
             f"Dictionary: `{args.dictionary}`; network {meta.get('network')}, training "
             f"{meta.get('settings', {}).get('training')}  ",
             f"Transfer settings (defaults, pruned to the floor): `{TransferSettings().__dict__}`  ",
             f"Machine: {describe()}; {args.workers} worker processes, 1 torch thread each; {seconds:.0f} s  ",
             f"Raw curves: `transfer-study-{label}-curves.json`", "",
             "Nearest same dataset: targets whose nearest other task comes from the same dataset (paper: 9 of 10), "
             "per seed and for the distances averaged over seeds. AUC: for each target, the fraction of (same-dataset, "
             "other-dataset) source pairs ordered correctly, averaged (1 perfect, 0.5 chance). Means are over the "
             "seed-averaged matrix, rows source → columns target (paper: MNIST→MNIST 33 < MNIST→Fashion 79).", ""]
    lines += score_table(curves, tasks, args.seeds)
    path = out / f"transfer-study-{label}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
