"""The benchmark suite: targets × seeds × methods, resumable, with paired statistics (docs/benchmark.md).

    python benchmarks/suite.py --budget cpu|gpu|tiny [--targets a,b,...] [--seeds 0,1] [--methods m1,m2,...]
                               [--config benchmarks/suite.yml] [--dictionary DIR] [--results runs/suite]
                               [--out benchmarks/results] [--data-dir DIR] [--threads N] [--jobs N] [--verbose]
                               [--report-only] [--force]

Every (target, seed) cell runs every method through the comparison's :func:`run_method` with a :class:`CompareConfig`
for that target and seed (the seed sets the data sampling, the search and the training). Records go to
``<results>/<budget>/seed<k>/<task folder>/<method>.json``, one per method and cell, written as soon as it is done; a
rerun reuses every finished one (their settings hash must match), so a sweep can be built up over several runs and
extended with targets or seeds. A method that fails in a cell leaves ``<method>.failed.json`` (its one-line error) and
the sweep goes on; a later run retries it.

When the sweep ends (or with ``--report-only``, from the records alone) it writes
``<out>/suite-<date>-<machine>-<budget>.md``, ``.csv`` (one row per target, seed and method), ``-errors.png``
(per-target error of every method, seeds' spread) and ``-cost.png`` (error against search cost). The report covers the cells asked for and every other record of this budget
under ``<results>``.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import describe, slug  # noqa: E402

from tanas_nni.core.config import PATH, check_range, config_hash, load_config, to_dict  # noqa: E402
from tanas_nni.core.errors import TanasError  # noqa: E402
from tanas_nni.core.plugins import load_plugins  # noqa: E402
from tanas_nni.core.records import atomic_write_json  # noqa: E402
from tanas_nni.core.signals import (Interrupted, exit_code, install_signal_handlers,  # noqa: E402
                                    restore_signal_handlers)
from tanas_nni.data import SplitSizes, canonical_task_id, load_task, task_folder  # noqa: E402
from tanas_nni.experiment.compare import (METHODS, CompareConfig, check_method, display_name,  # noqa: E402
                                          method_kind, record_path, run_method, settings_of,
                                          target_dir)
from tanas_nni.strategy.fuse.config import halving_sizes  # noqa: E402

TA = "fuse-task-aware"
PAIRED_BAR_METHODS = ("fuse-standard", "darts", "random", "random-one-shot")
"""The methods TA-NAS must beat on at least ``PAIRED_BAR_SHARE`` of paired cells (docs/targets.md)."""
PAIRED_BAR_SHARE = 0.6
DEFAULT_CONFIG = HERE / "suite.yml"
DEFAULT_OUT = HERE / "results"
MIN_WILCOXON = 6  # untied pairs below which the two-sided signed-rank test cannot reach p < 0.05 (2 / 2**5 = 0.0625)


# --- the config -------------------------------------------------------------------------------------------------------
@dataclass
class SuitePlan:
    """What one budget's sweep covers: ``targets`` × ``seeds`` × ``methods``; ``jobs`` cells at a time (processes),
    each with ``threads`` torch threads (null: the config's ``threads``)."""

    targets: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] = field(default_factory=list)
    jobs: int = 1
    threads: int | None = None

    def __post_init__(self):
        self.targets = [canonical_task_id(t, "targets") for t in self.targets]
        for m in self.methods:
            check_method(m, "methods")
        for s in self.seeds:
            check_range("seeds", s, 0)
        check_range("jobs", self.jobs, 1)
        check_range("threads", self.threads, 1)


@dataclass
class SuiteConfig(CompareConfig):
    """A compare config (``benchmarks/suite.yml``) with one :class:`SuitePlan` per budget under ``suite:``."""

    results: str = field(default="runs/suite", metadata=PATH)
    suite: dict[str, SuitePlan] = field(default_factory=dict)

    @property
    def plan(self) -> SuitePlan:
        return self.suite.get(self.budget) or SuitePlan(targets=[self.target], seeds=[self.seed],
                                                         methods=list(self.methods))


def _csv_list(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def load_suite(path: str | Path, budget: str, overrides: dict | None = None, targets: list[str] | None = None,
               seeds: list[int] | None = None, methods: list[str] | None = None,
               jobs: int | None = None) -> SuiteConfig:
    """The suite config for ``budget``, with the flags' targets, seeds, methods and jobs in place of its plan's."""
    cfg = load_config(SuiteConfig, path, {"budget": budget, **(overrides or {})})
    plan = dataclasses.replace(cfg.plan)  # re-validated; the flags win over the file
    if targets is not None:
        plan = dataclasses.replace(plan, targets=targets)
    if seeds is not None:
        plan = dataclasses.replace(plan, seeds=seeds)
    if methods is not None:
        plan = dataclasses.replace(plan, methods=methods)
    if jobs is not None:
        plan = dataclasses.replace(plan, jobs=jobs)
    if not plan.targets or not plan.seeds or not plan.methods:
        raise TanasError(f"budget {budget}: the sweep needs targets, seeds and methods (suite.{budget} in {path}, or "
                         f"--targets/--seeds/--methods)")
    cfg.suite = {**cfg.suite, budget: plan}
    return cfg


def budget_root(cfg: SuiteConfig) -> Path:
    return Path(cfg.results) / cfg.budget


def cell_config(cfg: SuiteConfig, target: str, seed: int) -> CompareConfig:
    """The comparison's config of one cell: the suite's settings, this target and seed, results in
    ``<results>/<budget>/seed<k>``."""
    keep = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(CompareConfig)}
    keep.update(target=target, seed=seed, results=str(budget_root(cfg) / f"seed{seed}"),
                methods=list(cfg.plan.methods), threads=cfg.plan.threads or cfg.threads)
    return CompareConfig(**keep)


def failed_path(cell: CompareConfig, method: str) -> Path:
    return record_path(cell, method).with_name(f"{method}.failed.json")


# --- running ----------------------------------------------------------------------------------------------------------
def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def _row(rec: dict, status: str = "ok") -> dict:
    """One CSV row of a record (``test_error`` in percent; the test split's misclassified examples)."""
    size = (rec.get("split_sizes") or {}).get("test")
    wrong = None if size is None else int(round(rec["test_error"] / 100.0 * size))
    total = rec["finished"] - rec["started"] if "finished" in rec and "started" in rec else None
    finals = rec.get("finalists") or []  # FUSE with retrain_top > 1: which finalist was kept, the others' seconds
    kept = next((f["rank"] for f in finals if f["kept"]), None)
    return {"target": rec["target"], "seed": rec["seed"], "method": rec["method"], "status": status,
            "test_error": rec["test_error"], "test_wrong": wrong, "test_size": size, "params": rec["params"],
            "search_seconds": rec["search_seconds"], "space_seconds": rec.get("space_seconds"),
            "retrain_seconds": rec.get("retrain_seconds"), "total_seconds": total, "device": rec.get("device"),
            "kind": rec.get("kind", method_kind(rec["method"])), "architecture": rec.get("architecture"),
            "data_fingerprint": rec.get("data_fingerprint"), "finished": rec.get("finished"), "error": "",
            "kept_finalist": kept if len(finals) > 1 else None,
            "finalist_seconds": sum(f["seconds"] for f in finals if not f["kept"]) if len(finals) > 1 else None}


def _failed_row(target: str, seed: int, method: str, error: str, seconds: float | None = None,
                status: str = "failed") -> dict:
    return {"target": target, "seed": seed, "method": method, "status": status, "test_error": None,
            "test_wrong": None, "test_size": None, "params": None, "search_seconds": None, "space_seconds": None,
            "retrain_seconds": None, "total_seconds": seconds, "device": None, "kind": method_kind(method),
            "architecture": None, "data_fingerprint": None, "finished": None, "error": error}


def run_cell(cell: CompareConfig, methods: list[str], emit, verbose: bool = False, force: bool = False) -> None:
    """Every method of one (target, seed) cell, one after another on the same data; ``emit(row, reused)`` per method."""
    from tanas_nni.cli import print_event

    def progress(event):
        if verbose:
            print_event(event)

    todo = [m for m in methods if force or not record_path(cell, m).is_file()]
    data, data_error = None, None
    if todo:
        try:
            data = load_task(cell.target, cell.data_dir, seed=cell.seed, sizes=cell.active.samples)
            atomic_write_json(target_dir(cell) / "config.json", to_dict(cell))
        except Exception as e:  # noqa: BLE001 -- every method of the cell fails with it; the sweep goes on
            data_error = _one_line(e)
    for m in methods:
        t0 = time.perf_counter()
        reused = m not in todo
        try:
            if data_error:
                raise TanasError(f"loading {cell.target}: {data_error}")
            rec = run_method(cell, m, progress, force=force, data=data)
        except Exception as e:  # noqa: BLE001 -- recorded as failed in the report; the sweep goes on
            error = _one_line(e)
            if verbose:
                traceback.print_exc()
            atomic_write_json(failed_path(cell, m), {"method": m, "target": cell.target, "seed": cell.seed,
                                                    "budget_name": cell.budget, "error": error,
                                                    "seconds": time.perf_counter() - t0, "finished": time.time()})
            emit(_failed_row(cell.target, cell.seed, m, error, time.perf_counter() - t0), False)
            continue
        failed_path(cell, m).unlink(missing_ok=True)
        emit(_row(rec), reused)


def _format_line(row: dict, reused: bool) -> str:
    head = f"seed {row['seed']} {row['target']} {row['method']}:"
    if row["status"] != "ok":
        return f"{head} FAILED after {row['total_seconds'] or 0:.0f} s: {row['error']}"
    wrong = f" ({row['test_wrong']}/{row['test_size']} wrong)" if row["test_size"] else ""
    text = (f"{head} test error {row['test_error']:.2f} %{wrong}, {row['params']:.3f} M params, "
            f"search {row['search_seconds']:.0f} s, total {row['total_seconds'] or 0:.0f} s")
    return f"{head} reused ({text[len(head) + 1:]} when it ran)" if reused else text


_QUEUE = None


def _worker_init(queue, verbose: bool) -> None:
    global _QUEUE
    _QUEUE = queue
    import warnings

    warnings.filterwarnings("ignore")
    from tanas_nni.core.logs import quiet_libraries

    quiet_libraries()
    install_signal_handlers()  # a Ctrl-C reaches every worker: each stops as the main process does
    load_plugins()  # the methods plugins register, as in the main process


def _worker_cell(cell: CompareConfig, methods: list[str], verbose: bool, force: bool) -> None:
    run_cell(cell, methods, lambda row, reused: _QUEUE.put((row, reused)), verbose, force)


def run_sweep(cfg: SuiteConfig, verbose: bool = False, force: bool = False, out=print) -> dict:
    """Every cell of the plan (seed by seed, target by target), reusing finished records; counts of what happened."""
    plan = cfg.plan
    cells = [cell_config(cfg, t, s) for s in plan.seeds for t in plan.targets]
    total = len(cells) * len(plan.methods)
    counts = {"ran": 0, "reused": 0, "failed": 0}
    t0 = time.perf_counter()
    done = [0]

    def emit(row: dict, reused: bool) -> None:
        done[0] += 1
        counts["failed" if row["status"] != "ok" else "reused" if reused else "ran"] += 1
        out(f"[{done[0]}/{total}] {_format_line(row, reused)}  ({(time.perf_counter() - t0) / 60:.1f} min)")

    out(f"suite: budget {cfg.budget}, {len(plan.targets)} targets x {len(plan.seeds)} seeds x {len(plan.methods)} "
        f"methods = {total} method runs, {plan.jobs} cell(s) at a time; records in {budget_root(cfg)}")
    if plan.jobs <= 1 or len(cells) <= 1:
        for cell in cells:
            run_cell(cell, plan.methods, emit, verbose, force)
    else:
        import multiprocessing as mp
        import queue as queue_mod
        from concurrent.futures import ProcessPoolExecutor, wait

        ctx = mp.get_context("spawn")  # CUDA and NNI's global state do not survive a fork
        q = ctx.Queue()
        with ProcessPoolExecutor(plan.jobs, mp_context=ctx, initializer=_worker_init, initargs=(q, verbose)) as pool:
            futures = {pool.submit(_worker_cell, c, plan.methods, verbose, force): c for c in cells}
            pending = set(futures)
            while pending:
                try:
                    emit(*q.get(timeout=1.0))
                except queue_mod.Empty:
                    pass
                finished, pending = wait(pending, timeout=0)
                for f in finished:
                    if isinstance(f.exception(), Interrupted):
                        raise f.exception()
                    if f.exception() is not None:  # a worker died outside run_cell's own handling
                        c = futures[f]
                        for m in plan.methods:
                            emit(_failed_row(c.target, c.seed, m, _one_line(f.exception())), False)
            while True:
                try:
                    emit(*q.get(timeout=0.5))
                except queue_mod.Empty:
                    break
    counts["wall_seconds"] = time.perf_counter() - t0
    return counts


# --- collecting the records -------------------------------------------------------------------------------------------
def finished_records(root: Path, methods: list[str]) -> list[dict]:
    """The finished method records of ``methods`` under one budget's records folder (``seed<k>/<target>/<method>.json``;
    failures, ``<method>.failed.json``, left out), in path order: cell by cell. For the studies that reread a sweep."""
    out = []
    for path in sorted(Path(root).glob("seed*/*/*.json")):
        if path.stem in methods and not path.name.endswith(".failed.json"):
            out.append(json.loads(path.read_text()))
    return out


def record_data(rec: dict, data_dir):
    """A record's cell's data (its seed and split sizes), checked against the record's fingerprint: a one-line exit
    when they differ. For the studies that train a record's network again."""
    sizes = rec["split_sizes"]
    data = load_task(rec["target"], data_dir, seed=rec["seed"],
                     sizes=SplitSizes(sizes["train"], sizes["val"], sizes["test"]))
    return checked_data(rec, data)


def checked_data(rec: dict, data):
    if data.fingerprint != rec["data_fingerprint"]:
        raise SystemExit(f"{rec['target']} seed {rec['seed']} {rec['method']}: the data differ from the record's "
                         f"(fingerprint {data.fingerprint} vs {rec['data_fingerprint']}); check --data-dir, or rerun "
                         f"the suite cell")
    return data


def collect(cfg: SuiteConfig) -> list[dict]:
    """One row per (target, seed, method) of the plan and of every record of this budget under ``<results>``.

    ``status``: ``ok`` (a record made with this config's settings), ``failed`` (its one-line error), ``stale`` (a record
    made with other settings: left out of the statistics) or ``missing``.
    """
    plan = cfg.plan
    keys = {(t, s, m) for s in plan.seeds for t in plan.targets for m in plan.methods}
    root = budget_root(cfg)
    for path in sorted(root.glob("seed*/*/*.json")) if root.is_dir() else []:
        if path.name == "config.json":
            continue
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("method") in METHODS and "target" in rec and "seed" in rec:
            keys.add((rec["target"], int(rec["seed"]), rec["method"]))
    rows = []
    targets = list(dict.fromkeys([*plan.targets, *sorted({k[0] for k in keys})]))
    seeds = sorted({k[1] for k in keys})
    methods = [m for m in METHODS if m in {k[2] for k in keys}]
    for t in targets:
        for s in seeds:
            for m in methods:
                if (t, s, m) not in keys:
                    continue
                cell = cell_config(cfg, t, s)
                path, failed = record_path(cell, m), failed_path(cell, m)
                rec = None
                if path.is_file():
                    try:
                        rec = json.loads(path.read_text())
                    except ValueError:
                        rec = None
                if rec is not None and rec.get("config_hash") == config_hash(settings_of(cell, m)):
                    rows.append(_row(rec))
                elif failed.is_file():
                    info = json.loads(failed.read_text())
                    rows.append(_failed_row(t, s, m, info.get("error", "?"), info.get("seconds")))
                elif rec is not None:
                    rows.append(_failed_row(t, s, m, "record made with other settings than this config's",
                                            status="stale"))
                else:
                    rows.append(_failed_row(t, s, m, "not run yet", status="missing"))
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    cols = ["target", "seed", "method", "status", "test_error", "test_wrong", "test_size", "params", "search_seconds",
            "space_seconds", "retrain_seconds", "total_seconds", "device", "kind", "architecture", "data_fingerprint",
            "finished", "error", "kept_finalist", "finalist_seconds"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in cols})


# --- statistics -------------------------------------------------------------------------------------------------------
def t_interval(values: list[float]) -> tuple[float, float | None]:
    """The mean and the half-width of its two-sided 95 % t-interval (None for fewer than two values)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


def method_summary(rows: list[dict]) -> list[dict]:
    out = []
    for m in [m for m in METHODS if any(r["method"] == m for r in rows)]:
        mine = [r for r in rows if r["method"] == m]
        ok = [r for r in mine if r["status"] == "ok"]
        s = {"method": m, "cells": len(ok), "failed": sum(r["status"] == "failed" for r in mine),
             "missing": sum(r["status"] in ("missing", "stale") for r in mine)}
        if ok:
            errs = [r["test_error"] for r in ok]
            s["mean"], s["half"] = t_interval(errs)
            s["min"], s["max"] = min(errs), max(errs)
            s["params"] = sum(r["params"] for r in ok) / len(ok)
            s["search"] = sum(r["search_seconds"] for r in ok) / len(ok)
            totals = [r["total_seconds"] for r in ok if r["total_seconds"] is not None]
            s["total"] = sum(totals) / len(totals) if totals else None
        out.append(s)
    return out


def wins_needed(cells: int, share: float = PAIRED_BAR_SHARE) -> int:
    """The wins that make ``share`` of ``cells`` (8 of 12 at 60 %; the tolerance keeps 3 of 5 at exactly 60 %)."""
    return math.ceil(share * cells - 1e-9)


def paired(rows: list[dict], other: str, base: str = TA) -> dict:
    """``base`` against ``other`` over the cells both finished: wins, ties (the same number of misclassified test
    examples), losses, the mean difference and the Wilcoxon signed-rank test on the differences."""
    by = {(r["target"], r["seed"], r["method"]): r for r in rows if r["status"] == "ok"}
    pairs = [(by[(t, s, base)], by[(t, s, other)]) for (t, s, m) in by if m == base and (t, s, other) in by]
    res: dict[str, Any] = {"method": other, "cells": len(pairs), "wins": 0, "ties": 0, "losses": 0}
    diffs = []
    for a, b in pairs:
        if a["test_wrong"] is not None and b["test_wrong"] is not None and a["test_size"] == b["test_size"]:
            d = a["test_wrong"] - b["test_wrong"]
            # in points from the counts: equal counts give equal floats, so the signed-rank test sees the ties that
            # are there (differences of two test_error floats can differ in their last bits and break ties)
            diffs.append(100 * d / a["test_size"])
        else:
            d = a["test_error"] - b["test_error"]
            diffs.append(d)
        res["wins" if d < 0 else "losses" if d > 0 else "ties"] += 1
    res["mean_diff"] = sum(diffs) / len(diffs) if diffs else None
    untied = res["wins"] + res["losses"]
    res["untied"] = untied
    res["p"] = None
    if untied >= 1:
        from scipy import stats

        nonzero = [d for d in diffs if abs(d) > 1e-9]
        try:
            res["p"] = float(stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided").pvalue)
        except ValueError:
            res["p"] = None
    return res


def _fmt(v: float | None, digits: int = 2, unit: str = "") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}{unit}"


def _seconds(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"


# --- plots ------------------------------------------------------------------------------------------------------------
def method_colour(m: str):
    """A method's colour in every plot of the suite and its studies: its place in the registry (tab10), so that a
    method keeps its colour whichever others a plot shows; a method the registry does not know takes the last."""
    import matplotlib

    names = list(METHODS)
    return matplotlib.colormaps["tab10"](names.index(m) % 10 if m in names else 9)


def plot_errors(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["status"] == "ok"]
    targets = list(dict.fromkeys(r["target"] for r in rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in ok)]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(targets) + 3), 4.8))
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        xs, means, lo, hi = [], [], [], []
        for i, t in enumerate(targets):
            errs = [r["test_error"] for r in ok if r["method"] == m and r["target"] == t]
            if not errs:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.scatter([x] * len(errs), errs, s=10, color=method_colour(m), alpha=0.5, zorder=2)
            mean = sum(errs) / len(errs)
            xs.append(x)
            means.append(mean)
            lo.append(mean - min(errs))
            hi.append(max(errs) - mean)
        ax.errorbar(xs, means, yerr=[lo, hi], fmt="s" if m == TA else "o", ms=6 if m == TA else 4, capsize=2,
                    color=method_colour(m), label=display_name(m), zorder=3, lw=1)
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels([t.split(":", 1)[-1] for t in targets], rotation=20, ha="right")
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.text(0.01, 0.01, "markers: mean over seeds; bars: min to max; dots: each seed", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_cost(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    ok = [r for r in rows if r["status"] == "ok"]
    for s in method_summary(rows):
        if not s["cells"]:
            continue
        mine = [r for r in ok if r["method"] == s["method"]]
        c = method_colour(s["method"])
        ax.scatter([r["search_seconds"] for r in mine], [r["test_error"] for r in mine], s=10, color=c, alpha=0.35)
        ax.errorbar([s["search"]], [s["mean"]], yerr=[[s["half"] or 0.0], [s["half"] or 0.0]],
                    fmt="s" if s["method"] == TA else "o", ms=7, capsize=3, color=c, label=display_name(s["method"]))
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("search cost (s, symlog; handcrafted networks at 0)")
    ax.set_ylabel("test error (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.text(0.01, 0.01, "big markers: mean over cells with its 95 % t-interval; dots: each cell", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- the report -------------------------------------------------------------------------------------------------------
def _handcrafted_text(b, m: str) -> str:
    mb = b.method(m)
    if not hasattr(mb, "epochs"):
        return m
    stride = f"/s{mb.stem_stride}" if m != "cnn5" and hasattr(mb, "stem_stride") else ""
    return f"{m} {mb.epochs or b.retrain.epochs}{stride}"


def _resolved(cfg: SuiteConfig, budget: str) -> dict:
    """The effective settings of one budget (nulls resolved the way the methods resolve them)."""
    b = cfg.budgets[budget]
    f = b.fuse
    r = b.method("random")
    d = b.method("darts")
    ros = b.method("random-one-shot")
    plan = cfg.suite.get(budget)
    samples = b.samples
    return {
        "samples (train/val/test)": "/".join("all" if v is None else str(v) for v in (samples.train, samples.val,
                                                                                  samples.test)),
        "retraining epochs": b.retrain.epochs,
        "FUSE (candidates per round × rounds, cycles)": (f"{f.candidates_per_round} × {f.rounds}"
                                                         if f.selection == "rounds" else
                                                         f"halving {_halving_text(f.pool())}")
                                                        + f", {_n(f.cycles, 'cycle')} of "
                                                          f"({f.weight_epochs} weight + {f.alpha_epochs} α epochs)",
        "FUSE candidate pool": f.pool(),
        "FUSE finalists retrained (retrain_top)": b.retrain_top,
        "parameter budget of searched methods (max_params)": (f"{b.max_params / 1e6:.3f} M"
                                                              + (", every winner scaled up to it (fill_budget)"
                                                                 if b.fill_budget else "")
                                                              if b.max_params else "none"),
        "DARTS supernet epochs": (d.epochs if d and d.epochs else f.weight_epochs_total()),
        "RandomOneShot supernet epochs + scored subnets": (f"{ros.epochs or f.weight_epochs_total()} + {ros.subnets}"
                                                          if ros else "—"),
        "random search trials × epochs each": (f"{r.trials or f.pool()} × {r.epochs or b.retrain.epochs}"
                                               if r else "—"),
        "handcrafted (epochs, stem stride)": ", ".join(
            _handcrafted_text(b, m) for m in (plan.methods if plan else [])
            if method_kind(m) == "handcrafted") or "—",
        "targets × seeds × methods": (f"{len(plan.targets)} × {len(plan.seeds)} × {len(plan.methods)}" if plan
                                      else "—"),
        "cells at a time (jobs)": plan.jobs if plan else "—",
    }


def _halving_text(pool: int) -> str:
    """``5 → 3 → 2``: the candidates of each round of ``selection: halving``."""
    return " → ".join(map(str, halving_sizes(pool)))


def _strategy_notes(cfg: SuiteConfig, planned: set[str]) -> list[str]:
    """How each strategy of the active budget is set, and why (nulls resolved as the methods resolve them)."""
    b = cfg.active
    f = b.fuse
    d, ros, rnd = (b.method(m) if m in planned else None for m in ("darts", "random-one-shot", "random"))
    w = f.weight_epochs_total()
    how = (f"{f.candidates_per_round} candidates per round, {_n(f.rounds, 'round')} ({f.pool()} candidates in all)"
           if f.selection == "rounds" else
           f"successive halving of a pool of {f.pool()} ({_halving_text(f.pool())}, the survivors training on), "
           f"{_n(f.rounds_total(), 'round')}")
    lines = [f"- **FUSE** (TA-NAS and the standard space): {how}, {_n(f.cycles, 'cycle')} of {f.weight_epochs} "
             f"weight and {f.alpha_epochs} α epochs per round; TA-NAS's search cost includes building its space "
             f"(distances to the dictionary)."
             + (f" FUSE's best {b.retrain_top} candidates are each retrained with the recipe and the best on "
                f"validation is kept (`retrain_top`); the others' trainings count in the search cost."
                if b.retrain_top > 1 else "")
             + (f" Every candidate is scaled down to at most {b.max_params:,} parameters (`max_params`); NNI's "
                f"strategies' winners are scaled to it by the same rule before retraining."
                if b.max_params else "")
             + (" With `fill_budget`, every searched method's network (each FUSE finalist, each NNI strategy's "
                "export) is then scaled up by the same compound rule to spend the budget before its retraining."
                if b.fill_budget else "")]
    if d is not None:
        why = "as set by the budget" if d.epochs else "FUSE's total weight epochs (rounds × cycles × weight epochs)"
        lines.append(f"- **NNI DARTS**: `DARTS()` with NNI's defaults (architecture lr 3e-4, no warm-up); its "
                     f"supernet trains {_n(d.epochs or w, 'epoch')}, {why}, with FUSE's weight optimiser and batch "
                     f"size, so it sees the training split as often as FUSE's weight phases do.")
    if ros is not None:
        lines.append(f"- **NNI RandomOneShot**: SPOS as NNI documents it: the supernet trains "
                     f"{_n(ros.epochs or w, 'epoch')} (as DARTS's), then NNI's `Random` strategy scores "
                     f"{ros.subnets} subnets on the validation split with the supernet's weights (BN recalibrated) and "
                     f"the best is retrained.")
    if rnd is not None:
        trials = rnd.trials or f.pool()
        why = (f"fewer than FUSE's {f.pool()} candidates, because each trial costs a whole training"
               if trials < f.pool() else "FUSE's candidate pool")
        lines.append(f"- **NNI random search**: NNI's multi-trial `Random`, every trial a full training run with the "
                     f"shared recipe ({_n(rnd.epochs or b.retrain.epochs, 'epoch')}), as NNI's multi-trial "
                     f"strategies evaluate a model; {_n(trials, 'trial')} ({why}).")
    r = b.retrain
    lines.append(f"- Every searched winner and every handcrafted network is trained from scratch with one recipe "
                 f"({_n(r.epochs, 'epoch')}, {r.optimizer} lr {r.lr}, batch {r.batch_size}, {r.schedule}, "
                 f"±{r.shift} px shifts; epoch chosen on validation) and tested once.")
    return lines


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _pt(v: float) -> str:
    return f"{v:.2f} pt"


def _verdict(ok: bool | None, gap: str) -> str:
    if ok is None:
        return "not checked"
    return "met" if ok else f"**missed** by {gap}"


def bars(cfg: SuiteConfig, rows: list[dict], summary: list[dict], pairs: list[dict]) -> list[str]:
    """The bars of docs/targets.md that a sweep can check, as met or missed and by how much."""
    by = {s["method"]: s for s in summary if s["cells"]}
    ta = by.get(TA)
    lines = ["| bar (docs/targets.md) | measured | required | verdict |", "|---|---:|---:|---|"]
    plain: list[str] = []
    if ta is None:
        return lines + ["| every bar | — | — | not checked: no TA-NAS (fuse-task-aware) cell finished |"], plain
    others = {m: s for m, s in by.items() if m != TA}
    if others:
        best = min(others.values(), key=lambda s: s["mean"])
        ok = ta["mean"] <= best["mean"]
        lines.append(f"| lowest mean test error of all methods | {ta['mean']:.2f} % | "
                     f"≤ {display_name(best['method'])}'s "
                     f"{best['mean']:.2f} % | {_verdict(ok, _pt(ta['mean'] - best['mean']))} |")
        if not ok:
            plain.append(f"TA-NAS does not have the lowest mean error: {display_name(best['method'])} is "
                         f"{ta['mean'] - best['mean']:.2f} points lower ({best['mean']:.2f} % against "
                         f"{ta['mean']:.2f} %).")
    for p in pairs:
        if p["method"] not in PAIRED_BAR_METHODS or not p["cells"]:
            continue
        frac = p["wins"] / p["cells"]
        need = wins_needed(p["cells"])
        ok = p["wins"] >= need
        lines.append(f"| beats {display_name(p['method'])} on ≥ 60 % of paired cells | {p['wins']}/{p['cells']} "
                     f"({frac:.0%}) | ≥ {need}/{p['cells']} | {_verdict(ok, str(need - p['wins']) + ' cell(s)')} |")
        if not ok:
            plain.append(f"TA-NAS beats {display_name(p['method'])} in only {p['wins']} of {p['cells']} cells "
                         f"({p['ties']} ties, {p['losses']} losses); the bar asks for {need}.")
    if "cnn5" in by:
        c = by["cnn5"]
        ok = ta["mean"] <= c["mean"]
        lines.append(f"| mean error ≤ the 5-conv CNN's | {ta['mean']:.2f} % | ≤ {c['mean']:.2f} % | "
                     f"{_verdict(ok, _pt(ta['mean'] - c['mean']))} |")
        if not ok:
            plain.append(f"TA-NAS's mean error is {ta['mean'] - c['mean']:.2f} points above the handcrafted 5-conv "
                         f"CNN's ({ta['mean']:.2f} % against {c['mean']:.2f} %).")
        ok = ta["params"] <= c["params"]
        lines.append(f"| parameters ≤ the 5-conv CNN's | {ta['params']:.3f} M | ≤ {c['params']:.3f} M | "
                     f"{_verdict(ok, '%.3f M' % (ta['params'] - c['params']))} |")
        if not ok:
            plain.append(f"TA-NAS's networks are larger than the 5-conv CNN ({ta['params']:.3f} M against "
                         f"{c['params']:.3f} M on average).")
    for m, factor in (("darts", 0.5), ("random", 0.25)):
        if m in by and by[m]["search"] > 0:
            limit = factor * by[m]["search"]
            ok = ta["search"] <= limit
            lines.append(f"| search cost ≤ {factor}× {display_name(m)}'s | {ta['search']:.0f} s | ≤ {limit:.0f} s "
                         f"({factor}× {by[m]['search']:.0f} s) | {_verdict(ok, '%.0f s' % (ta['search'] - limit))} |")
            if not ok:
                plain.append(f"TA-NAS's search costs {ta['search'] / by[m]['search']:.2f}× {display_name(m)}'s "
                             f"({ta['search']:.0f} s against {by[m]['search']:.0f} s); the bar is {factor}×.")
    b = cfg.active
    real = b.samples.train is None and b.samples.test is None and b.retrain.epochs >= 20
    cat = [r for r in rows if r["status"] == "ok" and r["method"] == TA and r["target"] == "quickdraw:cat-vs-rest"]
    if cat:
        mean = sum(r["test_error"] for r in cat) / len(cat)
        params = sum(r["params"] for r in cat) / len(cat)
        if real and len(cat) >= 3:
            ok = mean <= 3.5 and params <= 0.15
            gap = ", ".join(g for g in (f"{mean - 3.5:.2f} pt" if mean > 3.5 else "",
                                        f"{params - 0.15:.3f} M" if params > 0.15 else "") if g)
            lines.append(f"| cat-vs-rest, real budget, mean of ≥ 3 seeds | {mean:.2f} %, {params:.3f} M "
                         f"({_n(len(cat), 'seed')}) | ≤ 3.5 %, ≤ 0.15 M | {_verdict(ok, gap)} |")
            if not ok:
                plain.append(f"On quickdraw:cat-vs-rest TA-NAS's mean over {len(cat)} seeds is {mean:.2f} % with "
                             f"{params:.3f} M parameters; the bar is ≤ 3.5 % and ≤ 0.15 M.")
        else:
            why = "not the real budget" if not real else f"only {len(cat)} seed(s)"
            lines.append(f"| cat-vs-rest, real budget, mean of ≥ 3 seeds | {mean:.2f} %, {params:.3f} M "
                         f"({_n(len(cat), 'seed')}, this budget) | ≤ 3.5 %, ≤ 0.15 M | "
                         f"not checkable here ({why}) |")
    ta_rows = [r for r in rows if r["status"] == "ok" and r["method"] == TA and r["total_seconds"] is not None]
    if ta_rows:
        worst = max(ta_rows, key=lambda r: r["total_seconds"])
        lines.append(f"| a new target end to end ≤ 5 min on 2 cores | worst cell {worst['total_seconds']:.0f} s "
                     f"(distances {worst['space_seconds'] or 0:.0f} s) | ≤ 300 s | "
                     + ("not checkable here (not the real budget; " if not real else "")
                     + (_verdict(worst["total_seconds"] <= 300, f"{worst['total_seconds'] - 300:.0f} s")
                        + (" at this budget)" if not real else ""))
                     + " |")
    lines.append("| the 10×10 distance matrix, the nearest-task rate | — | — | not a suite measure "
                 "(benchmarks/distance_matrix.py) |")
    return lines, plain


def write_report(cfg: SuiteConfig, rows: list[dict], out: Path, command: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"suite-{datetime.date.today().isoformat()}-{slug()}-{cfg.budget}"
    csv_path, png_err, png_cost = (stem.with_suffix(".csv"), stem.parent / f"{stem.name}-errors.png",
                                   stem.parent / f"{stem.name}-cost.png")
    write_csv(rows, csv_path)
    plot_errors(rows, png_err, f"suite, budget {cfg.budget}: test error per target")
    plot_cost(rows, png_cost, f"suite, budget {cfg.budget}: test error vs search cost")
    summary = method_summary(rows)
    ok = [r for r in rows if r["status"] == "ok"]
    devices = sorted({r["device"] for r in ok if r["device"]})
    runs = _read_runs(cfg)
    L = [f"# Benchmark suite, budget `{cfg.budget}` ({datetime.date.today().isoformat()})", "",
         f"Command of this report: `{command}`  ",
         f"Machine: {describe()}  ",
         f"Device recorded by the methods: {'; '.join(devices) or '—'}  ",
         f"Records: `{budget_root(cfg)}`; dictionary `{cfg.dictionary}` (k = {cfg.k}, {cfg.distance} distance)  ",
         f"Cells: {len({(r['target'], r['seed']) for r in rows})} (target, seed) cells × methods = {len(rows)} method "
         f"runs: {len(ok)} finished, {sum(r['status'] == 'failed' for r in rows)} failed, "
         f"{sum(r['status'] in ('missing', 'stale') for r in rows)} missing or stale.  ",
         f"Compute in the records: {sum((r['total_seconds'] or 0) for r in ok) / 60:.1f} min of method runs.", ""]
    if runs:
        L += ["Sweep runs that made these records:", "",
              "| started | command | wall clock | ran | reused | failed | machine |",
              "|---|---|---:|---:|---:|---:|---|"]
        for run in runs:
            L.append(f"| {run['started_text']} | `{run['command']}` | {run['wall_seconds'] / 60:.1f} min | "
                     f"{run['ran']} | "
                     f"{run['reused']} | {run['failed']} | {run['machine']} |")
        L.append("")
    L += ["## Per method", "",
          f"Test error over the finished cells: mean with its 95 % t-interval (Student's t, n − 1 degrees of "
          f"freedom; "
          f"cells of different targets differ in difficulty, so the interval is wide by construction), min and max; "
          f"parameters of the retrained network; search and total (search + retraining + test) wall-clock seconds per "
          f"cell.", "",
          "| method | cells | test error (%) | 95 % interval | min – max | params (M) | search (s) | total (s) "
          "| failed |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        name = f"{display_name(s['method'])} (`{s['method']}`)"
        if not s["cells"]:
            L.append(f"| {name} | 0 | — | — | — | — | — | — | {s['failed']} |")
            continue
        half = "—" if s["half"] is None else f"± {s['half']:.2f}"
        L.append(f"| {name} | {s['cells']} | {s['mean']:.2f} | {half} | {s['min']:.2f} – {s['max']:.2f} | "
                 f"{s['params']:.3f} | {_seconds(s['search'])} | {_seconds(s['total'])} | {s['failed']} |")
    L += ["", f"Plots: `{png_err.name}` (per target, every seed), `{png_cost.name}` (error vs search cost); every "
          f"field: `{csv_path.name}`.", "", f"![per-target error]({png_err.name})", "",
          f"![error vs search cost]({png_cost.name})", ""]

    pairs = [paired(rows, s["method"]) for s in summary if s["method"] != TA]
    L += ["## TA-NAS against each method (paired cells)", ""]
    if not any(r["method"] == TA for r in ok):
        L += ["No TA-NAS (`fuse-task-aware`) cell finished, so there is nothing to pair.", ""]
    else:
        L += ["A cell is one (target, seed): the same data, split and seed for both methods. A win is fewer "
              "misclassified test examples, a **tie the same number of misclassified test examples**, a loss more. "
              "Difference: TA-NAS's error minus the other's, in points (negative: TA-NAS better). The p-value is "
              "scipy's two-sided Wilcoxon signed-rank test on the per-cell differences, ties dropped (exact for "
              f"small n); with fewer than {MIN_WILCOXON} untied cells it cannot reach p < 0.05 whatever the data, "
              "and the table says so.", "",
              "| TA-NAS vs | cells | wins | ties | losses | mean difference (pt) | Wilcoxon p |",
              "|---|---:|---:|---:|---:|---:|---|"]
        for p in pairs:
            if not p["cells"]:
                L.append(f"| {display_name(p['method'])} | 0 | — | — | — | — | no paired cells |")
                continue
            if p["untied"] < MIN_WILCOXON:
                test = (("" if p["p"] is None else f"{p['p']:.3g} ") + f"(too few cells: {p['untied']} untied, the "
                        f"test needs ≥ {MIN_WILCOXON} to reach 5 %)")
            elif p["p"] is None:
                test = "—"
            else:
                test = f"{p['p']:.3g}" + (" (significant at 5 %)" if p["p"] < 0.05 else "")
            L.append(f"| {display_name(p['method'])} | {p['cells']} | {p['wins']} | {p['ties']} | {p['losses']} | "
                     f"{p['mean_diff']:+.2f} | {test} |")
        L.append("")
        by = {s["method"]: s for s in summary if s["cells"]}
        ta = by.get(TA)
        searched = [m for m in by if m != TA and method_kind(m) == "searched" and by[m]["search"] > 0]
        if ta and searched:
            L += ["## Search cost", "", "TA-NAS's mean search seconds over each searched method's (below 1: TA-NAS "
                  "searches faster). TA-NAS's includes its distances and space (and, with `retrain_top` > 1, its "
                  "finalists' trainings but the kept one's); the NNI strategies are given that space.",
                  "", "| method | its search (s) | TA-NAS's (s) | ratio TA-NAS / it |", "|---|---:|---:|---:|"]
            for m in searched:
                L.append(f"| {display_name(m)} | {by[m]['search']:.0f} | {ta['search']:.0f} | "
                         f"{ta['search'] / by[m]['search']:.2f} |")
            L.append("")
    bar_lines, plain = bars(cfg, rows, summary, pairs)
    L += ["## The bars of docs/targets.md", "", *bar_lines, ""]
    if plain:
        L += ["Where TA-NAS falls short, plainly:", "", *[f"- {p}" for p in plain], ""]
    elif any(r["method"] == TA for r in ok):
        L += ["TA-NAS meets every bar this suite can check at this budget.", ""]
    losers = [p for p in pairs if p["cells"] and p["losses"] > p["wins"]]
    if losers:
        L += ["Methods that beat TA-NAS in more cells than they lose: "
              + "; ".join(f"{display_name(p['method'])} ({p['losses']} losses against {p['wins']} wins for TA-NAS)"
                          for p in losers) + ".", ""]
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        L += ["## Failed and missing runs", "", "| target | seed | method | status | error |", "|---|---:|---|---|---|"]
        for r in bad:
            L.append(f"| {r['target']} | {r['seed']} | {r['method']} | {r['status']} | {r['error']} |")
        L.append("")
    L += ["## Budget", "",
          f"Budget `{cfg.budget}` of `{_rel(cfg_path_of(cfg))}`. How each strategy is set and why:", "",
          *_strategy_notes(cfg, set(cfg.plan.methods) | {r['method'] for r in rows}), ""]
    others = [b for b in ("cpu", "gpu") if b in cfg.budgets and b != cfg.budget]
    cols = [cfg.budget, *others]
    table = {b: _resolved(cfg, b) for b in cols}
    L += [f"What `{cfg.budget}` does against " + (", ".join(f"`{b}`" for b in others) or "no other budget") + ":", "",
          "| setting | " + " | ".join(f"`{b}`" for b in cols) + " |", "|---|" + "---|" * len(cols)]
    for key in table[cfg.budget]:
        L.append(f"| {key} | " + " | ".join(str(table[b][key]) for b in cols) + " |")
    L.append("")
    if others:
        for b in others:
            cut = [f"{key}: {table[b][key]} → {table[cfg.budget][key]}" for key in table[cfg.budget]
                   if str(table[b][key]) != str(table[cfg.budget][key])]
            L += [f"Against `{b}`, `{cfg.budget}` changes: " + ("; ".join(cut) or "nothing") + ".", ""]
    if cfg.budget == "cpu":
        L += ["The `cpu` budget is cut (data, epochs, trials) so that the default sweep (6 targets × 2 seeds × 6 "
              "methods) fits 75 minutes on 2 CPU cores; one cell was measured to size it (benchmarks/suite.yml). Its "
              "errors are above what the same methods reach with all data and 20 epochs: it measures the methods "
              "against each other, not the absolute error.", ""]
    if cfg.budget == "gpu":
        L += ["The `gpu` budget was sized, not measured, to fit 10 minutes on one H200 with `jobs` cells at a time "
              "(benchmarks/suite.yml says how).", ""]
    text = "\n".join(L)
    stem.with_suffix(".md").write_text(text)
    return stem.with_suffix(".md")


_CONFIG_PATH: dict[int, Path] = {}


def cfg_path_of(cfg: SuiteConfig) -> Path:
    return _CONFIG_PATH.get(id(cfg), DEFAULT_CONFIG)


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _runs_file(cfg: SuiteConfig) -> Path:
    return budget_root(cfg) / "runs.jsonl"


def _read_runs(cfg: SuiteConfig) -> list[dict]:
    path = _runs_file(cfg)
    runs = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue
    return runs


def _log_run(cfg: SuiteConfig, command: str, started: float, counts: dict) -> None:
    path = _runs_file(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"command": command, "started": started,
             "started_text": datetime.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M"),
             "machine": describe(), **counts}
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


# --- the command ------------------------------------------------------------------------------------------------------
def _set_overrides(items: list[str]) -> dict:
    """``--set KEY=VALUE`` flags as config overrides (``budgets.cpu.fuse.rounds=3``); each value is read as YAML."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
            raise TanasError(f"--set: expected KEY=VALUE with a dotted field path (budgets.cpu.retrain_top=2), "
                             f"got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise TanasError(f"--set {key.strip()}: {value!r} is not a YAML value") from None
        if parsed is None:  # load_config reads None as "not given"; a null must be written in the config itself
            raise TanasError(f"--set {key.strip()}: give a value (null and empty values are set in the config file)")
        out[key.strip()] = parsed
    return out


def main(argv: list[str] | None = None) -> int:
    """The command; a Ctrl-C or SIGTERM ends it with a line and exit 130 / 143 (finished runs are kept: rerun to go
    on), as every ``tanas`` command does (:mod:`tanas_nni.core.signals`)."""
    previous = install_signal_handlers()  # before Lightning's own SIGTERM handling, which would end the process with 0
    try:
        return _main(argv)
    except Interrupted as e:
        print(f"suite: interrupted ({e.name}); run the same command again to go on (finished runs are kept)",
              file=sys.stderr, flush=True)
        return exit_code(e)
    finally:
        restore_signal_handlers(previous)


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="cpu", help="a budget of the config (tiny, cpu, gpu)")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--targets", default=None, help="comma-separated task ids (default: the budget's)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: the budget's)")
    ap.add_argument("--methods", default=None, help="comma-separated registry names (default: the budget's)")
    ap.add_argument("--dictionary", default=None)
    ap.add_argument("--results", default=None, help="records under <results>/<budget>/seed<k>/ (default: the config's)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="where the report goes")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads per cell (default: the budget's)")
    ap.add_argument("--jobs", type=int, default=None, help="cells at a time, in processes (default: the budget's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field of the config, e.g. budgets.gpu.fuse.weight_loss=mixture (a YAML value); "
                         "repeatable")
    ap.add_argument("--retrain-top", type=int, default=None,
                    help="FUSE's best K candidates retrained, the best on validation kept (default: the budget's)")
    ap.add_argument("--verbose", action="store_true", help="print every method's own progress events")
    ap.add_argument("--report-only", action="store_true", help="write the report from the existing records")
    ap.add_argument("--force", action="store_true", help="rerun finished cells (their records are replaced)")
    args = ap.parse_args(argv)
    command = " ".join(["python", "benchmarks/suite.py", *(sys.argv[1:] if argv is None else argv)])

    import warnings

    warnings.filterwarnings("ignore")
    try:
        load_plugins()  # methods registered by plugins (entry points, $TANAS_PLUGINS), as `tanas compare` sees them
        seeds = None
        if args.seeds is not None:
            try:
                seeds = [int(s) for s in _csv_list(args.seeds)]
            except ValueError:
                raise TanasError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
        cfg = load_suite(args.config, args.budget,
                         {**_set_overrides(args.set),
                          "dictionary": args.dictionary, "results": args.results, "data_dir": args.data_dir},
                         targets=_csv_list(args.targets), seeds=seeds, methods=_csv_list(args.methods), jobs=args.jobs)
        if args.threads is not None:
            check_range("--threads", args.threads, 1)
            cfg.suite[cfg.budget] = dataclasses.replace(cfg.plan, threads=args.threads)
        if args.retrain_top is not None:  # re-validated by CompareBudget; records of another K are stale, not reused
            check_range("--retrain-top", args.retrain_top, 1)
            cfg.budgets[cfg.budget] = dataclasses.replace(cfg.budgets[cfg.budget], retrain_top=args.retrain_top)
    except TanasError as e:
        print(f"suite: error: {e}", file=sys.stderr)
        return 2
    _CONFIG_PATH[id(cfg)] = Path(args.config)
    counts = None
    if not args.report_only:
        from tanas_nni.core.logs import quiet_libraries

        quiet_libraries()
        started = time.time()
        counts = run_sweep(cfg, verbose=args.verbose, force=args.force,
                           out=lambda line: print(line, flush=True))
        _log_run(cfg, command, started, counts)
        print(f"suite: {counts['ran']} ran, {counts['reused']} reused, {counts['failed']} failed in "
              f"{counts['wall_seconds'] / 60:.1f} min", flush=True)
    rows = collect(cfg)
    path = write_report(cfg, rows, Path(args.out), command)
    print(path, flush=True)
    return 1 if counts and counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
