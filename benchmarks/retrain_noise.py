"""How much of a suite cell's result is the training's luck? Each method's network trained again with other seeds.

Usage (after a suite sweep; reads its records)::

    python benchmarks/retrain_noise.py --budget cpu --results runs/suite --data-dir ../shared/datasets

A suite cell trains each method's network once, with the cell's seed, and tests it once. This script trains the
network of every finished record of ``--methods`` again (a searched method's winner, the record's
``architecture_json``, or a handcrafted network with its own epochs) with the same recipe and the same data (the
cell's seed draws the data, checked against the record's fingerprint), with ``--repeats`` other training seeds
(initial weights, batch order and augmentation), and tests each once. From these it reports:

- **retraining noise**: the standard deviation of one network's test error over training seeds, pooled over the
  networks of each method (the record's own run is one of the samples);
- **paired cells with the retraining's luck taken out**: the suite's wins–ties–losses and Wilcoxon test
  (``suite.paired``, on misclassified counts) of ``--reference`` against every other method, on the recorded runs, on
  each network's runs summed (its mean), and on the repeats alone (without the recorded run). The search's luck stays
  in: each winner is the one its cell's search chose;
- **what one suite run can show**: the wins each set of runs counts taken as a suite run of its own (the k-th run of
  every network; the k-th runs of two methods share the training seed, as the suite's runs share the cell's), and a
  model of it: with each cell's mean difference d_c and the pooled noise σ, one run's difference is taken as
  d_c + N(0, 2σ²), so the reference wins the cell with probability Φ(−d_c / (σ√2)), and the chance that one run
  reaches ``--bar`` of the cells follows (Poisson-binomial, exact). The model treats cells and the two methods' runs
  as independent and estimates d_c from the same runs; the per-run counts are the direct evidence;
- **every paired bar at once** (``--bar-methods``, by default the methods of the suite's 60 % bar, when two or more
  of them are in the records): how many sets of runs clear the bar against all of them, and the same model's chance
  that one run does (drawn, seeded: the reference's run in a cell is shared by all its comparisons).

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

import numpy as np
import torch
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402

from suite import (PAIRED_BAR_METHODS, PAIRED_BAR_SHARE, checked_data, finished_records,  # noqa: E402  (the suite's)
                   method_colour, paired, record_data, wins_needed)

from tanas_nni.core.config import from_dict  # noqa: E402
from tanas_nni.core.records import atomic_write_json  # noqa: E402
from tanas_nni.experiment.compare import METHODS, display_name  # noqa: E402
from tanas_nni.experiment.compare.methods import build_handcrafted  # noqa: E402
from tanas_nni.pipeline import retrain  # noqa: E402
from tanas_nni.space import Architecture  # noqa: E402
from tanas_nni.training import TrainConfig, derive_seed, fit  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _records(results: Path, methods: list[str], seeds: set[int] | None = None) -> list[dict]:
    return [rec for rec in finished_records(results, methods)
            if rec.get("kind") in ("searched", "handcrafted") and rec.get("architecture_json")
            and rec.get("test_acc") is not None and (seeds is None or rec["seed"] in seeds)]


def train(rec: dict, data, seed: int) -> dict:
    """The record's network trained from scratch as the suite trained it, with training seed ``seed``, tested once:
    a searched winner with the cell's retraining recipe, a handcrafted network with its own epochs."""
    recipe = from_dict(TrainConfig, rec["retrain"])
    if rec["kind"] == "handcrafted":  # built as its method builds it, trained for the epochs its record ran
        model = build_handcrafted(rec["architecture_json"], data, seed)
        return fit(model, data, replace(recipe, epochs=rec["budget"]["epochs"]), seed=seed, evaluate_test=True)
    return retrain(Architecture.from_dict(rec["architecture_json"]), data, recipe, seed=seed)[1]


def _identity(rec: dict) -> dict:
    """What a stored repeat belongs to: a cell rerun (--force, another retrain_top) makes a new record."""
    return {"architecture": rec["architecture"], "data_fingerprint": rec["data_fingerprint"],
            "config_hash": rec.get("config_hash"), "finished": rec.get("finished")}


def _repeat(rec: dict, k: int, store: Path, data_dir, cache: dict) -> dict:
    """The record's network trained with the k-th other training seed (stored per cell, method and k, with the
    identity of the record it was trained for: a repeat of an older record of the cell is trained again)."""
    path = store / f"seed{rec['seed']}" / rec["target"].replace(":", "__") / rec["method"] / f"repeat{k}.json"
    if path.is_file():
        row = json.loads(path.read_text())
        if row.get("record") == _identity(rec):
            return row
        print(f"  {path}: trained for another record of the cell; training it again", flush=True)
    key = (rec["target"], rec["seed"])
    if key not in cache:
        cache.clear()  # one cell's data at a time: records are read cell by cell
        cache[key] = record_data(rec, data_dir)
    data = checked_data(rec, cache[key])  # loaded for another method's record of the cell, perhaps
    # A training seed no cell uses: derived from the cell's seed and k, so the repeats are the same on every rerun.
    seed = derive_seed(rec["seed"], "retrain-noise", str(k))
    result = train(rec, data, seed)
    size = rec["split_sizes"]["test"]
    row = {"repeat": k, "training_seed": seed, "record": _identity(rec), "val_acc": result["val_acc"],
           "test_acc": result["test_acc"], "test_wrong": round((1 - result["test_acc"]) * size), "test_size": size,
           "seconds": result["seconds"]}
    atomic_write_json(path, row)
    return row


def _poisson_binomial_at_least(ps: list[float], k: int) -> float:
    """P(at least k successes) for independent trials with success probabilities ps.

    Why not ``scipy.stats.poisson_binom``: it needs SciPy 1.15, and the package supports SciPy from 1.8."""
    dist = [1.0]
    for p in ps:
        nxt = [0.0] * (len(dist) + 1)
        for i, q in enumerate(dist):
            nxt[i] += q * (1 - p)
            nxt[i + 1] += q * p
        dist = nxt
    return sum(dist[k:])


def chance_all_bars(errs: dict[str, dict], ref: str, sigma: float, bar: float, draws: int = 100_000,
                    seed: int = 0) -> float:
    """The model's chance that one suite run has ``ref`` winning at least ``bar`` of its paired cells against every
    other method at once. ``errs``: {method: {cell: [test errors in %]}}.

    One run's error of a method in a cell is its networks' mean there plus N(0, σ²), independent across cells and
    methods; the reference's draw in a cell is shared by all its comparisons there, which is why this is drawn
    (Monte Carlo, seeded) and not the product of the per-method tails. The model's draws are continuous, so it has no
    ties; the suite's whole-example counts do tie now and then, and a tie is not a win, so the model is slightly
    generous."""
    cells = sorted(errs[ref])
    rng = np.random.default_rng(seed)
    ref_mean = np.array([statistics.mean(errs[ref][c]) for c in cells])
    ref_run = ref_mean + rng.normal(0.0, sigma, (draws, len(cells)))
    ok = np.ones(draws, dtype=bool)
    for m in sorted(errs):
        if m == ref:
            continue
        idx = [i for i, c in enumerate(cells) if c in errs[m]]
        if not idx:
            continue
        other = np.array([statistics.mean(errs[m][cells[i]]) for i in idx])
        run = other + rng.normal(0.0, sigma, (draws, len(idx)))
        ok &= (ref_run[:, idx] < run).sum(axis=1) >= wins_needed(len(idx), bar)
    return float(ok.mean())


def _view(rows: list[dict], runs: slice) -> list[dict]:
    """The suite's rows (``suite.paired``'s input) with each network's ``runs`` summed: misclassified examples over
    that many copies of the test split, so a cell's count is its mean up to a factor the same for every method."""
    out = []
    for r in rows:
        wrong = r["wrong"][runs]
        size = r["test_size"] * len(wrong)
        out.append({"target": r["target"], "seed": r["seed"], "method": r["method"], "status": "ok",
                    "test_wrong": sum(wrong), "test_size": size, "test_error": 100 * sum(wrong) / size})
    return out


def _wtl(p: dict) -> str:
    pvalue = "—" if p["p"] is None else f"{p['p']:.3f}"
    return f"{p['wins']}–{p['ties']}–{p['losses']} ({pvalue})"


def _md(text: str) -> str:
    return text.replace("|", "\\|")  # an architecture's "stem…|…edges" inside a table cell


RUNS_PICTURE = "filled: the recorded run; hollow: the same network trained with other seeds"


def plot_runs(rows: list[dict], path: Path, title: str) -> dict[str, list[tuple[float, float]]]:
    """Every run of every network, cell by cell: where a cell's single run fell among its network's other trainings.
    Returns the points drawn, (x, test error), per method, the recorded runs first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({(r["target"], r["seed"]) for r in rows})
    present = {r["method"] for r in rows}
    methods = [m for m in METHODS if m in present] + sorted(present - set(METHODS))  # a plugin's method after
    by = {(r["target"], r["seed"], r["method"]): r["errors"] for r in rows}
    fig, ax = plt.subplots(figsize=(max(7.0, 0.55 * len(cells) + 3), 4.8))
    width = 0.7 / max(1, len(methods))
    drawn: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    for j, m in enumerate(methods):
        c, label = method_colour(m), display_name(m)
        for i, cell in enumerate(cells):
            errs = by.get((*cell, m))
            if not errs:
                continue
            x = i - 0.35 + width * (j + 0.5)
            # each run a little apart, so that runs with equal errors do not hide each other
            xs = [x + width * 0.5 * (k / max(1, len(errs) - 1) - 0.5) for k in range(len(errs))]
            ax.scatter(xs[:1], errs[:1], s=18, color=c, zorder=3, label=label)
            ax.scatter(xs[1:], errs[1:], s=14, facecolors="none", edgecolors=c, zorder=2)
            label = None  # once per method
            ax.hlines(statistics.mean(errs), x - width / 2, x + width / 2, color=c, lw=1.5, zorder=3)
            drawn[m] += list(zip(xs, errs))
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{t.split(':', 1)[-1]} s{s}" for t, s in cells], rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if methods:
        ax.legend(fontsize=7)
    fig.text(0.01, 0.01, RUNS_PICTURE + "; dash: the network's mean", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))  # room for the note under the cell labels
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn


def report(rows: list[dict], args, path: Path) -> None:
    methods = sorted({r["method"] for r in rows})
    ref = args.reference
    runs = len(rows[0]["errors"])  # every network has the record's run and --repeats more
    # Per method: {cell: [test errors in %]}, the record's run first.
    errs = {m: {(r["target"], r["seed"]): r["errors"] for r in rows if r["method"] == m} for m in methods}
    pooled = {m: math.sqrt(statistics.mean(statistics.variance(e) for e in errs[m].values())) for m in methods}
    sigma = math.sqrt(statistics.mean(v ** 2 for v in pooled.values()))
    lines = [f"# How much of a suite cell is the training's luck ({dt.date.today().isoformat()}, budget "
             f"`{args.budget}`)", "",
             f"Command: `python benchmarks/retrain_noise.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {describe()}  ",
             f"Records: `{args.results}/{args.budget}`; each method's network trained {args.repeats} more time(s) with "
             f"the cell's recipe and data and other training seeds ({runs} runs per network with the record's own).",
             "", f"![every run of every network, cell by cell ({RUNS_PICTURE})]({path.stem}-runs.png)",
             "", "## Training noise", "",
             "The standard deviation of one network's test error over training seeds, pooled over the method's "
             "networks (square root of the mean per-network variance), and the mean range (max − min) per network.",
             "", "| method | networks | pooled SD (pt) | mean range (pt) | mean test error, recorded run (%) | "
             "mean over all runs (%) |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in methods:
        e = errs[m]
        lines.append(f"| `{m}` | {len(e)} | {pooled[m]:.2f} | "
                     f"{statistics.mean(max(x) - min(x) for x in e.values()):.2f} | "
                     f"{statistics.mean(x[0] for x in e.values()):.2f} | "
                     f"{statistics.mean(statistics.mean(x) for x in e.values()):.2f} |")
    lines += ["", f"Pooled over the methods: σ = {sigma:.2f} points; the paired difference of two methods' single "
              f"runs then has a standard deviation of σ√2 = {sigma * math.sqrt(2):.2f} points from the training's "
              "luck alone.", ""]
    if len(methods) > 1:
        lines += [f"## `{ref}` against each method, paired cells", "",
                  "Wins–ties–losses (by misclassified test examples) and the two-sided Wilcoxon p (ties dropped), as "
                  "the suite counts them: on the recorded runs, on each network's mean over all its runs, and on the "
                  "mean of the repeats alone (the recorded run left out). Then the wins each set of runs counts "
                  "taken as one suite run (the record's first, then the k-th repeat of both methods' networks in "
                  f"every cell), and the model's chance that one run has `{ref}` winning at least {args.bar:.0%} of "
                  "the cells, if each cell's difference is its mean difference plus the noise above.", "",
                  "| against | cells | recorded: W–T–L (p) | mean of all runs: W–T–L (p) | mean of the repeats: W–T–L "
                  f"(p) | mean difference (pt) | wins in each run | P(one run wins ≥ {args.bar:.0%}) |",
                  "|---|---:|---|---|---|---:|---|---:|"]
        wins, needs = {}, {}  # per method: wins in each set of runs, and the wins the bar asks for
        for m in methods:
            if m == ref:
                continue
            cells = sorted(set(errs[ref]) & set(errs[m]))
            if not cells:
                lines.append(f"| `{m}` | 0 | — | — | — | — | — | — |")
                continue
            d = [statistics.mean(errs[ref][c]) - statistics.mean(errs[m][c]) for c in cells]
            ps = [float(norm.cdf(-x / (sigma * math.sqrt(2)))) for x in d]
            need = wins_needed(len(cells), args.bar)
            per_run = [paired(_view(rows, slice(k, k + 1)), m, base=ref)["wins"] for k in range(runs)]
            wins[m], needs[m] = per_run, need
            lines.append(f"| `{m}` | {len(cells)} | {_wtl(paired(_view(rows, slice(0, 1)), m, base=ref))} | "
                         f"{_wtl(paired(_view(rows, slice(0, None)), m, base=ref))} | "
                         f"{_wtl(paired(_view(rows, slice(1, None)), m, base=ref))} | {statistics.mean(d):+.2f} | "
                         f"{', '.join(map(str, per_run))} of {len(cells)} | "
                         f"{_poisson_binomial_at_least(ps, need):.2f} |")
        judged = [m for m in args.bar_methods.split(",") if m in wins and m != ref]
        if len(judged) > 1:  # with one, its row above says it all
            cleared = [k + 1 for k in range(runs) if all(wins[m][k] >= needs[m] for m in judged)]
            draws = 100_000
            chance = chance_all_bars({m: errs[m] for m in [ref, *judged]}, ref, sigma, args.bar, draws)
            lines += ["", f"Every paired bar at once ({', '.join(f'`{m}`' for m in judged)}): {len(cleared)} of "
                      f"{runs} sets of runs taken as a suite run clear the {args.bar:.0%} bar against all "
                      f"{len(judged)} (those that do: {', '.join(map(str, cleared)) or 'none'}; the recorded run is "
                      f"set 1); the model's chance that one run does is {chance:.2f} ({draws:,} seeded draws, "
                      f"standard error {math.sqrt(chance * (1 - chance) / draws):.3f}). The reference's run in a cell "
                      "is one draw shared by all its comparisons, so this is not the product of the column above."]
        lines.append("")
    lines += ["## Every network", "", "Test error (%) of each run, the record's first.", "",
              "| target | seed | method | network | runs (%) | mean (%) |", "|---|---:|---|---|---|---:|"]
    for r in sorted(rows, key=lambda r: (r["target"], r["seed"], r["method"])):
        lines.append(f"| {r['target']} | {r['seed']} | `{r['method']}` | `{_md(r['architecture'])}` | "
                     f"{', '.join(f'{x:.2f}' for x in r['errors'])} | {statistics.mean(r['errors']):.2f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps({"sigma": sigma, "pooled": pooled, "rows": rows}, indent=1))
    plot_runs(rows, path.parent / f"{path.stem}-runs.png",
              f"Each searched or handcrafted network trained {runs} times (budget {args.budget})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", default="cpu")
    p.add_argument("--results", default=str(REPO / "runs" / "suite"), help="the suite's results folder")
    p.add_argument("--methods", default="fuse-task-aware,fuse-standard")
    p.add_argument("--reference", default="fuse-task-aware", help="the method compared with each other one")
    p.add_argument("--repeats", type=int, default=2, help="retrainings per winner besides the record's own")
    p.add_argument("--bar", type=float, default=PAIRED_BAR_SHARE, help="the share of paired cells the reference should win")
    p.add_argument("--bar-methods", default=",".join(PAIRED_BAR_METHODS),
                   help="the methods the bar is counted against, for the every-bar-at-once line (default: the "
                        "suite's)")
    p.add_argument("--seeds", default=None,
                   help="only the cells of these seeds, comma-separated (default: every seed the records have)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats: {args.repeats}; give at least 1 (retrainings besides the record's own)")
    torch.set_num_threads(args.threads)
    results = Path(args.results) / args.budget
    methods = args.methods.split(",")
    if args.reference not in methods:
        raise SystemExit(f"--reference: {args.reference} is not one of --methods ({args.methods}); add it")
    try:
        seeds = None if args.seeds is None else {int(s) for s in args.seeds.split(",")}
    except ValueError:
        raise SystemExit(f"--seeds: {args.seeds!r} is not a comma-separated list of integers (e.g. 0,1)") from None
    recs = _records(results, methods, seeds)
    if not recs:
        raise SystemExit(f"{results}: no finished record of {args.methods}"
                         f"{'' if seeds is None else f' at seeds {args.seeds}'} with an architecture; "
                         "run the suite first")
    store, cache, rows = results / "retrain-noise", {}, []
    for i, rec in enumerate(recs, 1):
        size = rec["split_sizes"]["test"]
        accs = [rec["test_acc"]] + [_repeat(rec, k, store, args.data_dir, cache)["test_acc"]
                                    for k in range(1, args.repeats + 1)]
        errors = [100 * (1 - a) for a in accs]
        rows.append({"target": rec["target"], "seed": rec["seed"], "method": rec["method"],
                     "architecture": rec["architecture"], "test_size": size, "errors": errors,
                     "wrong": [round((1 - a) * size) for a in accs]})
        print(f"[{i}/{len(recs)}] seed {rec['seed']} {rec['target']} {rec['method']}: "
              f"{', '.join(f'{x:.2f}' for x in errors)} %", flush=True)
    out = Path(args.out) / f"retrain-noise-{dt.date.today().isoformat()}-{slug()}-{args.budget}.md"
    report(rows, args, out)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
