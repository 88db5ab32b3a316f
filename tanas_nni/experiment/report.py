"""The comparison's table and plot, from a results directory or from an NNI experiment's own records.

:func:`records_from_experiment` reads what NNI keeps for every experiment, running or stopped: the experiment registry
``~/nni-experiments/.experiment`` (each experiment's ``logDir``, i.e. its ``experimentWorkingDirectory``) and the
experiment's SQLite database ``<logDir>/<id>/db/nni.sqlite`` (tables ``TrialJobEvent`` and ``MetricData``). It does so
rather than calling ``nnictl experiment export``, which asks the experiment's REST server and so fails once the
experiment is stopped. Each trial's final metric dict (written by the ``compare`` trial stage) holds the record's
fields.

Why not NNI's client (``nni.experiment.Experiment``), which :mod:`tanas_nni.experiment.nnictl` uses for live
experiments: ``Experiment.connect(port)`` needs a running manager, and ``Experiment(None, id=...).view(port)`` serves a
stopped one only by starting a new NNI manager (a Node process on a free port, to be stopped after) and only for an
experiment in *this* user's registry (``has_checkpoint`` looks the id up there). So it cannot serve an experiment folder
copied from another machine or a cluster's shared storage (``--nni-dir``), nor a registry in a read-only home (NNI's lock
spins forever there). The database below is what the manager itself writes.

:func:`write_report` writes ``report.md`` (the paper's columns), ``report.csv`` (every field) and ``report.png`` (test
error vs parameters, log x, marker area ∝ search cost).
"""
from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

from ..core.errors import TanasError
from .compare import display_name, load_records, method_kind, method_names

__all__ = ["records_from_experiment", "experiment_dir", "table_rows", "markdown_table", "write_report", "load_any"]

COLUMNS = ["Architecture", "Error (%)", "Params (M)", "Search cost (s)", "Search cost (device-hours)", "Device"]


def _registry(home: Path) -> dict:
    """NNI's experiment registry (``<home>/.experiment``), read by NNI's own :class:`Experiments` (under its lock)."""
    from nni.tools.nnictl.config_utils import Experiments

    if not (home / ".experiment").is_file():
        return {}  # checked first: Experiments() would create ``home`` and a lock file just to find nothing
    if not os.access(home, os.W_OK):
        # NNI's lock spins forever where it cannot create its lock file, so read NNI's way without it.
        reader = Experiments.__new__(Experiments)
        reader.experiment_file = str(home / ".experiment")
        return reader.read_file()
    return Experiments(home_dir=str(home)).get_all_experiments()


def experiment_dir(experiment_id: str, nni_dir: str | Path | None = None) -> Path:
    """The folder NNI keeps experiment ``experiment_id`` in (``<experimentWorkingDirectory>/<id>``)."""
    # NNI's default experimentWorkingDirectory; expanded per call (nnictl's NNI_HOME_DIR is fixed at import).
    home = Path(os.path.expanduser("~/nni-experiments"))
    candidates = []
    if nni_dir:
        candidates.append(Path(nni_dir).expanduser() / experiment_id)
    info = _registry(home).get(experiment_id)
    if info and info.get("logDir"):
        candidates.append(Path(os.path.expanduser(info["logDir"])) / experiment_id)
    candidates.append(home / experiment_id)
    for c in candidates:
        if (c / "db" / "nni.sqlite").is_file():
            return c
    raise TanasError(f"experiment {experiment_id}: no NNI records found (looked in "
                     f"{', '.join(str(c) for c in candidates)}); pass a results directory, or --nni-dir with the "
                     f"experiment's experimentWorkingDirectory")


def _decode(data: str) -> Any:
    value = json.loads(data)
    while isinstance(value, str):  # NNI stores the metric JSON as a JSON string (sometimes twice)
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def records_from_experiment(experiment_id: str, nni_dir: str | Path | None = None) -> list[dict]:
    """One record per trial of an NNI compare experiment, read from NNI's database (works for stopped experiments).

    A trial without a final metric (failed, killed, still running) gives a record with its ``status`` and no numbers.
    """
    folder = experiment_dir(experiment_id, nni_dir)
    db = folder / "db" / "nni.sqlite"
    # Read by hand: NNI's only trial readers (Experiment.export_data etc.) ask the REST server, gone once stopped.
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            events = con.execute("SELECT trialJobId, event, data, timestamp FROM TrialJobEvent "
                                 "ORDER BY timestamp").fetchall()
            finals = con.execute("SELECT trialJobId, data FROM MetricData WHERE type = 'FINAL'").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise TanasError(f"{db}: cannot read NNI's database ({e})") from None
    status: dict[str, str] = {}
    params: dict[str, dict] = {}
    for trial, event, data, _ in events:
        status[trial] = event
        if data:
            try:
                p = json.loads(data)
                params[trial] = p.get("parameters", {}) if isinstance(p, dict) else {}
            except ValueError:
                pass
    final = {trial: _decode(data) for trial, data in finals}
    records = []
    for trial in status:
        rec = final.get(trial)
        if isinstance(rec, dict) and "test_error" in rec:
            rec = dict(rec)
            if isinstance(rec.get("budget"), str):
                try:
                    rec["budget"] = json.loads(rec["budget"])
                except ValueError:
                    pass
        else:
            rec = {"method": params.get(trial, {}).get("method", "?")}
        rec.update(trial_id=trial, status=status[trial], experiment=experiment_id)
        records.append(rec)
    if not records:
        raise TanasError(f"experiment {experiment_id}: no trials in {db}")
    return records


def load_any(source: str | Path, nni_dir: str | Path | None = None) -> tuple[list[dict], str]:
    """Records from a results directory (if ``source`` is one) or an NNI experiment id; also a title."""
    path = Path(source)
    if path.is_dir():
        records = load_records(path)
        if not records:
            raise TanasError(f"{path}: no comparison records (<method>.json) found; run `tanas compare` first")
        return records, f"results in {path}"
    if path.suffix or os.sep in str(source):
        raise TanasError(f"{source}: no such results directory (and not an NNI experiment id)")
    return records_from_experiment(str(source), nni_dir), f"NNI experiment {source}"


def _order(rec: dict) -> tuple:
    """Records in the methods' registration order (unknown methods last), then by target."""
    order = method_names()
    m = rec.get("method", "")
    return (order.index(m) if m in order else len(order), m, str(rec.get("target", "")))


def _device_kind(device: str | None) -> str:
    return "GPU" if device and device.startswith("cuda") else "CPU"


def table_rows(records: list[dict]) -> list[dict]:
    """The paper's columns, one row per record, in method order (failed trials show their status)."""
    rows = []
    several = len({r.get("target") for r in records if r.get("target")}) > 1
    for rec in sorted(records, key=_order):
        name = display_name(rec.get("method", "?"))
        if several and rec.get("target"):
            name = f"{name} [{rec.get('target')}]"
        if "test_error" not in rec:
            rows.append({"Architecture": name, "Error (%)": rec.get("status", "no result"), "Params (M)": "",
                         "Search cost (s)": "", "Search cost (device-hours)": "", "Device": ""})
            continue
        s = float(rec.get("search_seconds") or 0.0)
        rows.append({"Architecture": name, "Error (%)": f"{rec['test_error']:.2f}", "Params (M)": f"{rec['params']:.3f}",
                     "Search cost (s)": f"{s:.0f}",
                     "Search cost (device-hours)": f"{s / 3600:.4f} {_device_kind(rec.get('device'))}-h",
                     "Device": rec.get("device", "")})
    return rows


def markdown_table(records: list[dict]) -> str:
    rows = table_rows(records)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] + ["---:"] * 4 + ["---"]) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


CSV_FIELDS = ["method", "target", "status", "test_error", "params", "parameters", "search_seconds", "space_seconds",
              "retrain_seconds", "retrain_epochs", "val_acc", "test_acc", "device", "architecture", "budget",
              "budget_name", "seed", "data_fingerprint", "trial_id"]


def write_csv(records: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for rec in sorted(records, key=_order):
            row = {k: rec.get(k, "") for k in CSV_FIELDS}
            if isinstance(row["budget"], dict):
                row["budget"] = json.dumps(row["budget"], sort_keys=True)
            w.writerow(row)


def plot(records: list[dict], path: Path, title: str = "") -> None:
    """Test error vs parameters (log x); marker area grows with search cost; handcrafted networks (cost 0) as squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in records if "test_error" in r and r.get("params")]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    top = max([float(r.get("search_seconds") or 0) for r in done] + [1.0])
    points: list[tuple[float, float, str, float]] = []
    for rec in sorted(done, key=_order):
        cost = float(rec.get("search_seconds") or 0)
        size = 40 + 1200 * math.sqrt(cost / top)  # area ∝ sqrt(cost) keeps small costs visible
        searched = (rec.get("kind") or method_kind(rec.get("method", ""))) != "handcrafted"
        ax.scatter(rec["params"], rec["test_error"], s=size, marker="o" if searched else "s", alpha=0.55,
                   edgecolors="black", linewidths=0.8,
                   color="tab:red" if rec.get("method") == "fuse-task-aware" else
                   ("tab:blue" if searched else "tab:gray"))
        label = display_name(rec.get("method", "?"))
        if searched:
            label += f"\n{cost:.0f} s search"
        points.append((rec["params"], rec["test_error"], label, size))
    ax.set_xscale("log")
    ax.set_xlabel("parameters (M, log scale)")
    ax.set_ylabel("test error (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "test error vs parameters (marker area: search cost)", fontsize=10)
    if done:
        errs = [r["test_error"] for r in done]
        pad = max(0.5, 0.15 * (max(errs) - min(errs)))
        ax.set_ylim(max(0.0, min(errs) - pad), max(errs) + 2 * pad)
        ps = [r["params"] for r in done]
        ax.set_xlim(min(ps) / 2, max(ps) * 4)
    fig.tight_layout()
    _place_labels(ax, points)
    fig.savefig(path)
    plt.close(fig)


def _place_labels(ax, points: list[tuple[float, float, str, float]]) -> None:
    """Annotate each point at the first of a few offsets whose text box overlaps no label placed before and no other
    marker (matplotlib has no label placement of its own; points of similar size and error are common here)."""
    offsets = [(8, 6, "left"), (8, -26, "left"), (-8, 6, "right"), (-8, -26, "right"), (8, 24, "left"),
               (8, -44, "left"), (-8, 24, "right"), (-8, -44, "right")]
    placed: list[tuple[float, float, float, float]] = []
    markers = []
    for x, y, _, size in points:
        px, py = ax.transData.transform((x, y))
        r = math.sqrt(size / math.pi) * 1.33 * 0.8  # marker area is in points²; keep a little overlap allowed
        markers.append((px - r, py - r, px + r, py + r))
    for x, y, label, _ in sorted(points, key=lambda p: (p[0], p[1])):
        px, py = ax.transData.transform((x, y))
        lines = label.split("\n")
        w, h = 5.2 * max(len(t) for t in lines), 11.0 * len(lines)
        choice = offsets[0]
        for dx, dy, ha in offsets:
            x0 = px + dx * 1.33 - (w if ha == "right" else 0)  # offset points -> pixels at 120 dpi
            y0 = py + dy * 1.33
            box = (x0, y0, x0 + w, y0 + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed + [m for m in markers if not (m[0] < px < m[2] and m[1] < py < m[3])]):
                choice = (dx, dy, ha)
                placed.append(box)
                break
        else:
            dx, dy, ha = choice
            x0 = px + dx * 1.33 - (w if ha == "right" else 0)
            placed.append((x0, py + dy * 1.33, x0 + w, py + dy * 1.33 + h))
        dx, dy, ha = choice
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8, ha=ha)


def write_report(records: list[dict], out: str | Path, title: str = "") -> dict[str, Path]:
    """Write ``report.md``, ``report.csv`` and ``report.png`` into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "report.md", "csv": out / "report.csv", "png": out / "report.png"}
    targets = sorted({str(r.get("target")) for r in records if r.get("target")})
    heading = f"# Comparison on {', '.join(targets) or '?'}"
    notes = ["", "Search cost: wall-clock seconds of the search phase only (handcrafted networks: 0); "
             "device-hours = seconds / 3600 on the device named. Error: test split, once, after retraining from "
             "scratch with the shared recipe. Budgets per method are in report.csv.", ""]
    paths["md"].write_text("\n".join([heading, "", f"Source: {title}", "", markdown_table(records), *notes]))
    write_csv(records, paths["csv"])
    plot(records, paths["png"], f"{', '.join(targets)}: test error vs parameters (marker area: search cost)")
    return paths
