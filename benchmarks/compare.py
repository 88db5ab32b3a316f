"""The side-by-side comparison at the real budget, with the targets of docs/targets.md checked.

    python benchmarks/compare.py [--config configs/compare.yml] [--budget benchmark] [--target quickdraw:cat-vs-rest]
                                 [--methods a,b,...] [--results runs/compare-benchmark] [--out benchmarks/results]

Runs every method in this process, one after another (so their wall-clock costs are measured on the same, otherwise idle
machine), then writes ``<out>/compare-<date>-<machine>-<budget>.md`` (+ ``.csv``, ``.png``): the machine, the command, every
method's budget, the paper-style table, and each target of docs/targets.md (and issue 5's
"Done when") as met or missed by how much. Records are kept in ``--results`` (a rerun resumes; ``--force`` redoes).

The task-aware space's distances are cached in the dictionary: FUSE's ``space_seconds`` is the true distance cost only
when this target's distances were not computed before (the results file shows it).
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe, slug  # noqa: E402

from tanas_nni.cli import print_event  # noqa: E402
from tanas_nni.core.errors import TanasError  # noqa: E402
from tanas_nni.core.signals import run_stoppable  # noqa: E402
from tanas_nni.experiment.compare import display_name, load_compare_config, method_names, run_comparison  # noqa: E402
from tanas_nni.experiment.report import markdown_table, plot, write_csv  # noqa: E402


def _check(name: str, value: float | None, limit: float | None, unit: str = "", lower_is_better: bool = True) -> str:
    if value is None or limit is None:
        return f"| {name} | — | — | not measured (a method is missing) |"
    ok = value <= limit if lower_is_better else value >= limit
    gap = abs(value - limit)
    verdict = "met" if ok else f"**missed** by {gap:.3g}{unit}"
    return f"| {name} | {value:.3g}{unit} | {'≤' if lower_is_better else '≥'} {limit:.3g}{unit} | {verdict} |"


def targets(records: list[dict]) -> list[str]:
    """The targets of docs/targets.md, checked on the records of one run."""
    by = {r["method"]: r for r in records if "test_error" in r}
    ta = by.get("fuse-task-aware")

    def get(method: str, key: str, scale: float = 1.0):
        r = by.get(method)
        return None if r is None else r[key] * scale

    err, params = get("fuse-task-aware", "test_error"), get("fuse-task-aware", "params")
    search = get("fuse-task-aware", "search_seconds")
    rows = ["| target | measured | required | verdict |", "|---|---:|---:|---|",
            _check("TA-NAS test error (%)", err, 3.5, " pt"),
            _check("TA-NAS parameters (M)", params, 0.15, " M"),
            _check("TA-NAS error vs best handcrafted in this run (%)", err,
                   min([by[m]["test_error"] for m in method_names("handcrafted") if m in by],
                       default=None), " pt"),
            _check("TA-NAS error vs NNI DARTS (%)", err, get("darts", "test_error"), " pt"),
            _check("TA-NAS error vs NNI random search (%)", err, get("random", "test_error"), " pt"),
            _check("TA-NAS search cost vs 0.5 × DARTS's (s)", search,
                   None if "darts" not in by else 0.5 * by["darts"]["search_seconds"], " s"),
            _check("TA-NAS search cost vs 0.25 × random search's (s)", search,
                   None if "random" not in by else 0.25 * by["random"]["search_seconds"], " s"),
            _check("TA-NAS parameters vs ¼ of ResNet-18's (M)", params,
                   None if "resnet18" not in by else by["resnet18"]["params"] / 4, " M"),
            _check("TA-NAS error vs ResNet-18's + 0.5 points (%)", err,
                   None if "resnet18" not in by else by["resnet18"]["test_error"] + 0.5, " pt"),
            _check("new target end to end: distances + FUSE + retrain (s)",
                   None if ta is None else ta["search_seconds"] + ta["retrain_seconds"], 600, " s")]
    return rows


def budgets(records: list[dict]) -> list[str]:
    lines = ["| method | budget | retraining | distances + space (s) |", "|---|---|---|---:|"]
    for r in records:
        retrain = r.get("retrain", {})
        recipe = (f"{r.get('retrain_epochs')} epochs, {retrain.get('optimizer')} lr {retrain.get('lr')}, "
                  f"batch {retrain.get('batch_size')}, {retrain.get('schedule')}, shift ±{retrain.get('shift')}")
        lines.append(f"| {display_name(r['method'])} | `{json.dumps(r.get('budget'), sort_keys=True)}` | {recipe} | "
                     f"{r.get('space_seconds', 0):.0f} |")
    return lines


def main() -> int:
    """The command; bad input is one line and exit 2; Ctrl-C or SIGTERM ends it with a line and 130 / 143 (finished
    method runs are kept: rerun to go on), as every ``tanas`` command does (:func:`tanas_nni.core.signals.run_stoppable`,
    installed before Lightning's own SIGTERM handling, which would end the process with 0)."""
    return run_stoppable(_checked_main, "run the same command again to go on (finished runs are kept)")


def _checked_main() -> int:
    try:
        return _main()
    except TanasError as e:
        print(f"compare: error: {e}", file=sys.stderr)
        return 2


def _main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/compare.yml")
    ap.add_argument("--budget", default="benchmark")
    ap.add_argument("--target", default=None)
    ap.add_argument("--methods", default=None)
    ap.add_argument("--results", default="runs/compare-benchmark")
    ap.add_argument("--dictionary", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    from tanas_nni.core.logs import quiet_libraries

    cfg = load_compare_config(args.config, {"budget": args.budget, "target": args.target, "results": args.results,
                                            "dictionary": args.dictionary, "data_dir": args.data_dir,
                                            "threads": args.threads})
    methods = args.methods.split(",") if args.methods else None
    quiet_libraries()
    t0 = time.perf_counter()
    records = run_comparison(cfg, methods, print_event, force=args.force)
    wall = time.perf_counter() - t0

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"compare-{datetime.date.today().isoformat()}-{slug()}-{cfg.budget}"
    write_csv(records, stem.with_suffix(".csv"))
    plot(records, stem.with_suffix(".png"), f"{cfg.target}: test error vs parameters (marker area: search cost)")
    command = " ".join(["python", "benchmarks/compare.py", *sys.argv[1:]])
    lines = [
        f"# Comparison on {cfg.target} (budget `{cfg.budget}`)", "",
        f"Command: `{command}`  ",
        f"Machine: {describe()}  ",
        f"Device recorded by each method: {records[0]['device'] if records else '—'}  ",
        f"Seed {cfg.seed}; data fingerprint `{records[0]['data_fingerprint'] if records else '—'}`, splits "
        f"{records[0]['split_sizes'] if records else '—'}; dictionary `{cfg.dictionary}` (k = {cfg.k}, "
        f"{cfg.distance} distance)  ",
        f"Wall clock of this run: {wall:.0f} s (reused records: methods that had finished before cost nothing here)",
        "", "## Results", "", markdown_table(records), "",
        f"Plot: `{stem.with_suffix('.png').name}`; every field: `{stem.with_suffix('.csv').name}`.", "",
        "## Targets (docs/targets.md)", "", *targets(records), "",
        "## Budgets", "",
        "Search cost is wall-clock seconds of the search phase only (FUSE: distances + task-aware space + FUSE; "
        "NNI strategies: their search on the given space). Every searched winner is retrained from scratch with the "
        "same recipe and evaluated once on the test split.", "", *budgets(records), "",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines))
    print(stem.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
