"""How much of a suite cell's result is the retraining's luck? Each searched winner retrained with other seeds.

Usage (after a suite sweep; reads its records)::

    python benchmarks/retrain_noise.py --budget cpu --results runs/suite --data-dir ../shared/datasets

A suite cell trains its winner once, with the cell's seed, and tests it once. This script retrains the network of every
finished record of ``--methods`` (a searched method's winner, the record's ``architecture_json``, or a handcrafted
network with its own epochs) with the same recipe and the same data (the cell's seed draws the data, checked against the record's fingerprint), but with ``--repeats`` other
training seeds (initial weights, batch order and augmentation), and tests each once. From these it reports:

- **retraining noise**: the standard deviation of one architecture's test error over training seeds, pooled over the
  winners of each method (the record's own run is one of the samples);
- **paired cells on the mean of the retrainings**: the suite's wins–ties–losses of ``--reference`` against every other
  method, once as recorded (one retraining) and once on each winner's mean test error over all its retrainings, which
  takes the retraining's luck out of the comparison (not the search's: the winner is the one the cell's search chose);
- **what one suite run can show**: with each cell's mean difference d_c and the pooled noise σ, one run's paired
  difference in that cell is taken as d_c + N(0, 2σ²), so the reference wins the cell with probability Φ(−d_c / (σ√2));
  the chance that one run reaches ``--bar`` of the cells follows (Poisson-binomial, exact); beside it, the wins
  each set of runs would have counted taken as a suite run of its own (the k-th run of every winner).

One JSON per (cell, method, repeat) under ``<results>/<budget>/retrain-noise/`` (resumable: a rerun trains only what
is missing); the report is ``<out>/retrain-noise-<date>-<machine>-<budget>.md`` with a JSON beside it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch
from scipy.stats import norm, wilcoxon

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402

from tanas_nni.core.config import from_dict  # noqa: E402
from tanas_nni.core.records import atomic_write_json  # noqa: E402
from tanas_nni.data import SplitSizes, load_task  # noqa: E402
from tanas_nni.pipeline import retrain  # noqa: E402
from tanas_nni.space import Architecture  # noqa: E402
from tanas_nni.models import build_network  # noqa: E402
from tanas_nni.training import TrainConfig, derive_seed, fit, seeded_init  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _records(results: Path, methods: list[str]) -> list[dict]:
    out = []
    for path in sorted(results.glob("seed*/*/*.json")):
        if path.stem in methods and not path.name.endswith(".failed.json"):
            rec = json.loads(path.read_text())
            if rec.get("kind") in ("searched", "handcrafted") and rec.get("architecture_json") \
                    and rec.get("test_acc") is not None:
                out.append(rec)
    return out


def _checked(rec: dict, data):
    if data.fingerprint != rec["data_fingerprint"]:
        raise SystemExit(f"{rec['target']} seed {rec['seed']} {rec['method']}: the data differ from the record's "
                         f"(fingerprint {data.fingerprint} vs {rec['data_fingerprint']}); rerun the suite cell first")
    return data


def cell_data(rec: dict, data_dir):
    """The record's cell's data (its seed and split sizes), checked against the record's fingerprint."""
    sizes = rec["split_sizes"]
    data = load_task(rec["target"], data_dir, seed=rec["seed"],
                     sizes=SplitSizes(sizes["train"], sizes["val"], sizes["test"]))
    return _checked(rec, data)


def train(rec: dict, data, seed: int) -> dict:
    """The record's network trained from scratch as the suite trained it, with training seed ``seed``, tested once:
    a searched winner with the cell's retraining recipe, a handcrafted network with its own epochs."""
    recipe = from_dict(TrainConfig, rec["retrain"])
    if rec["kind"] == "handcrafted":  # as compare's handcrafted methods build and train it
        spec = dict(rec["architecture_json"])
        with seeded_init(seed):
            model = build_network(spec.pop("network"), data.num_classes, data.input_shape, **spec)
        epochs = (rec.get("budget") or {}).get("epochs") or rec["retrain_epochs"]
        return fit(model, data, replace(recipe, epochs=epochs), seed=seed, evaluate_test=True)
    return retrain(Architecture.from_dict(rec["architecture_json"]), data, recipe, seed=seed)[1]


def _repeat(rec: dict, k: int, store: Path, data_dir, cache: dict) -> dict:
    """The record's winner retrained with the k-th other training seed (cached per cell, method and k)."""
    path = store / f"seed{rec['seed']}" / rec["target"].replace(":", "__") / rec["method"] / f"repeat{k}.json"
    if path.is_file():
        return json.loads(path.read_text())
    key = (rec["target"], rec["seed"])
    if key not in cache:
        cache.clear()  # one cell's data at a time: records are read cell by cell
        cache[key] = cell_data(rec, data_dir)
    data = _checked(rec, cache[key])  # the cell's data were loaded for another method's record of it
    # A training seed no cell uses: derived from the cell's seed and k, so the repeats are the same on every rerun.
    seed = derive_seed(rec["seed"], "retrain-noise", str(k))
    result = train(rec, data, seed)
    row = {"repeat": k, "training_seed": seed, "architecture": rec["architecture"], "val_acc": result["val_acc"],
           "test_acc": result["test_acc"], "test_size": rec["split_sizes"]["test"], "seconds": result["seconds"]}
    atomic_write_json(path, row)
    return row


def _poisson_binomial_at_least(ps: list[float], k: int) -> float:
    """P(at least k successes) for independent trials with success probabilities ps."""
    dist = [1.0]
    for p in ps:
        nxt = [0.0] * (len(dist) + 1)
        for i, q in enumerate(dist):
            nxt[i] += q * (1 - p)
            nxt[i + 1] += q * p
        dist = nxt
    return sum(dist[k:])


def _paired(a: dict, b: dict) -> tuple[int, int, int, float | None]:
    cells = sorted(set(a) & set(b))
    d = [a[c] - b[c] for c in cells]
    wins, ties = sum(x < 0 for x in d), sum(x == 0 for x in d)
    untied = [x for x in d if x != 0]
    p = float(wilcoxon(untied).pvalue) if len(untied) >= 1 else None
    return wins, ties, len(d) - wins - ties, p


def report(rows: list[dict], args, path: Path) -> None:
    methods = sorted({r["method"] for r in rows})
    ref = args.reference
    # Per method: {cell: [test errors in %]}, the record's run first.
    errs = {m: {(r["target"], r["seed"]): r["errors"] for r in rows if r["method"] == m} for m in methods}
    pooled = {}
    for m in methods:
        var = [statistics.variance(e) for e in errs[m].values() if len(e) > 1]
        pooled[m] = math.sqrt(statistics.mean(var)) if var else float("nan")
    runs = {len(e) for m in methods for e in errs[m].values()}
    lines = [f"# How much of a suite cell is the retraining's luck ({dt.date.today().isoformat()}, budget "
             f"`{args.budget}`)", "",
             f"Command: `python benchmarks/retrain_noise.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {describe()}  ",
             f"Records: `{args.results}/{args.budget}`; each searched winner retrained {args.repeats} more time(s) with "
             f"the cell's recipe and data and other training seeds ({'/'.join(map(str, sorted(runs)))} runs per "
             f"winner with the record's own).", "",
             "## Retraining noise", "",
             "The standard deviation of one architecture's test error over training seeds, pooled over the method's "
             "winners (square root of the mean per-winner variance), and the mean range (max − min) per winner.", "",
             "| method | winners | pooled SD (pt) | mean range (pt) | mean test error, recorded run (%) | "
             "mean over all runs (%) |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in methods:
        e = errs[m]
        lines.append(f"| `{m}` | {len(e)} | {pooled[m]:.2f} | "
                     f"{statistics.mean(max(x) - min(x) for x in e.values()):.2f} | "
                     f"{statistics.mean(x[0] for x in e.values()):.2f} | "
                     f"{statistics.mean(statistics.mean(x) for x in e.values()):.2f} |")
    sigma = math.sqrt(statistics.mean([pooled[m] ** 2 for m in methods]))
    lines += ["", f"Pooled over the methods: σ = {sigma:.2f} points; the paired difference of two methods' single "
              f"runs then carries σ√2 = {sigma * math.sqrt(2):.2f} points of retraining noise alone.", ""]
    if ref in errs:
        need = math.ceil(args.bar * len(errs[ref]) - 1e-9)
        lines += [f"## `{ref}` against each method, paired cells", "",
                  "Wins–ties–losses and the two-sided Wilcoxon p (ties dropped) on the recorded runs and on each "
                  "winner's mean over its runs. The last column: the chance that one suite run (one retraining per "
                  f"cell) has `{ref}` winning at least {args.bar:.0%} of the cells ({need} of {len(errs[ref])}), "
                  "if each cell's difference is its mean difference plus the retraining noise above. Before it, the "
                  "wins counted by each set of runs taken as one suite run: the record's, then each repeat's (the "
                  "k-th retraining of both winners of every cell).", "",
                  "| against | cells | recorded: W–T–L (p) | mean of runs: W–T–L (p) | mean difference (pt) | "
                  f"wins in each run (recorded first) | P(one run wins ≥ {args.bar:.0%}) |",
                  "|---|---:|---|---|---:|---|---:|"]
        for m in methods:
            if m == ref:
                continue
            one = ({c: x[0] for c, x in errs[ref].items()}, {c: x[0] for c, x in errs[m].items()})
            avg = ({c: statistics.mean(x) for c, x in errs[ref].items()},
                   {c: statistics.mean(x) for c, x in errs[m].items()})
            cells = sorted(set(avg[0]) & set(avg[1]))
            d = [avg[0][c] - avg[1][c] for c in cells]
            ps = [float(norm.cdf(-x / (sigma * math.sqrt(2)))) for x in d]
            need_m = math.ceil(args.bar * len(cells) - 1e-9)

            def fmt(t):
                return f"{t[0]}–{t[1]}–{t[2]} ({'—' if t[3] is None else f'{t[3]:.3f}'})"
            # Run k of every cell taken as one suite run (runs k of two winners are independent draws).
            n_runs = min(len(x) for e in (errs[ref], errs[m]) for c, x in e.items() if c in set(cells))
            per_run = [sum(errs[ref][c][k] < errs[m][c][k] for c in cells) for k in range(n_runs)]
            lines.append(f"| `{m}` | {len(cells)} | {fmt(_paired(*one))} | {fmt(_paired(*avg))} | "
                         f"{statistics.mean(d):+.2f} | {', '.join(map(str, per_run))} of {len(cells)} | "
                         f"{_poisson_binomial_at_least(ps, need_m):.2f} |")
        lines.append("")
    lines += ["## Every winner", "", "Test error (%) of each run, the record's first.", "",
              "| target | seed | method | architecture | runs (%) | mean (%) |", "|---|---:|---|---|---|---:|"]
    for r in sorted(rows, key=lambda r: (r["target"], r["seed"], r["method"])):
        lines.append(f"| {r['target']} | {r['seed']} | `{r['method']}` | `{r['architecture']}` | "
                     f"{', '.join(f'{x:.2f}' for x in r['errors'])} | {statistics.mean(r['errors']):.2f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps({"sigma": sigma, "pooled": pooled, "rows": rows}, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", default="cpu")
    p.add_argument("--results", default=str(REPO / "runs" / "suite"), help="the suite's results folder")
    p.add_argument("--methods", default="fuse-task-aware,fuse-standard")
    p.add_argument("--reference", default="fuse-task-aware", help="the method compared with each other one")
    p.add_argument("--repeats", type=int, default=2, help="retrainings per winner besides the record's own")
    p.add_argument("--bar", type=float, default=0.6, help="the share of paired cells the reference should win")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats: {args.repeats}; give at least 1 (retrainings besides the record's own)")
    torch.set_num_threads(args.threads)
    results = Path(args.results) / args.budget
    recs = _records(results, args.methods.split(","))
    if not recs:
        raise SystemExit(f"{results}: no finished record of {args.methods} with an architecture; run the suite first")
    store, cache, rows = results / "retrain-noise", {}, []
    for i, rec in enumerate(recs, 1):
        size = rec["split_sizes"]["test"]
        errors = [100 * (1 - rec["test_acc"])]
        for k in range(1, args.repeats + 1):
            errors.append(100 * (1 - _repeat(rec, k, store, args.data_dir, cache)["test_acc"]))
        rows.append({"target": rec["target"], "seed": rec["seed"], "method": rec["method"],
                     "architecture": rec["architecture"], "test_size": size, "errors": errors})
        print(f"[{i}/{len(recs)}] seed {rec['seed']} {rec['target']} {rec['method']}: "
              f"{', '.join(f'{x:.2f}' for x in errors)} %", flush=True)
    out = Path(args.out) / f"retrain-noise-{dt.date.today().isoformat()}-{slug()}-{args.budget}.md"
    report(rows, args, out)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
