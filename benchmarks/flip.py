"""Does mirroring training images left-right (``TrainConfig.flip``) lower a network's test error?

Usage::

    python benchmarks/flip.py --data-dir ../shared/datasets \
        --targets quickdraw:eye-vs-rest,quickdraw:cloud-vs-rest --seeds 0,1 --budget gpu --jobs 2

A handcrafted network (``--network``, default the 5-conv CNN) is trained on each target with the retraining recipe of
a suite budget (``--budget``, default ``gpu``: all data, 20 epochs), once as the recipe is and once with ``flip: true``,
from the same seeded initialisation, and tested once. Use targets outside the suite (benchmarks/suite.yml): the
recipe must not be chosen on the targets that judge it. One JSON line per run in ``<out>/flip.jsonl`` (resumable: a
rerun skips what is there); ``--jobs`` runs that many trainings at a time, each in its own process with ``--threads``
torch threads (results depend on the thread count, which each line records). The paired table is printed and written
to ``<out>/flip.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402
from suite import load_suite  # noqa: E402

from tanas_nni.core.errors import TanasError  # noqa: E402
from tanas_nni.data import canonical_task_id, load_task  # noqa: E402
from tanas_nni.models import build_network  # noqa: E402
from tanas_nni.training import count_parameters, fit, seeded_init  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_one(job: dict) -> dict:
    """Train ``job['network']`` on one target and seed, with or without flips; its JSON line."""
    torch.set_num_threads(job["threads"])
    budget = load_suite(REPO / "benchmarks" / "suite.yml", job["budget"]).active
    recipe = dataclasses.replace(budget.retrain, flip=job["flip"])
    data = load_task(job["target"], job["data_dir"], seed=job["seed"], sizes=budget.samples)
    with seeded_init(job["seed"]):
        model = build_network(job["network"], data.num_classes, data.input_shape)
    r = fit(model, data, recipe, seed=job["seed"], stage=f"training {job['network']}")
    test_size = len(data.y["test"])
    return {"target": job["target"], "seed": job["seed"], "flip": job["flip"], "network": job["network"],
            "budget": job["budget"], "test_error": round(100 * (1 - r["test_acc"]), 4),
            "test_wrong": round((1 - r["test_acc"]) * test_size), "test_size": test_size, "val_acc": r["val_acc"],
            "best_epoch": r["best_epoch"], "parameters": count_parameters(model), "seconds": round(r["seconds"], 1),
            "threads": job["threads"], "machine": describe()}


def table(rows: list[dict]) -> str:
    """Per (target, seed): test errors without and with flips; then the paired summary."""
    by = {(r["target"], r["seed"], r["flip"]): r for r in rows}
    cells = sorted({(t, s) for t, s, _ in by if (t, s, False) in by and (t, s, True) in by})
    lines = ["| target | seed | test examples | without flips (%) | with flips (%) | difference (pt) |",
             "|---|---:|---:|---:|---:|---:|"]
    diffs = []
    for t, s in cells:
        off, on = by[(t, s, False)], by[(t, s, True)]
        diffs.append(on["test_error"] - off["test_error"])
        lines.append(f"| {t} | {s} | {off['test_size']} | {off['test_error']:.2f} | {on['test_error']:.2f} | "
                     f"{diffs[-1]:+.2f} |")
    if diffs:
        better = sum(d < 0 for d in diffs)
        worse = sum(d > 0 for d in diffs)
        lines.append("")
        lines.append(f"{len(diffs)} paired runs: flips better in {better}, worse in {worse}, tied in "
                     f"{len(diffs) - better - worse}; mean difference {statistics.mean(diffs):+.2f} pt "
                     f"(negative: flips better).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--targets", required=True, help="comma-separated target tasks (outside the suite)")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--budget", default="gpu", help="a budget of benchmarks/suite.yml (its samples and retrain recipe)")
    p.add_argument("--network", default="cnn5", help="a handcrafted network (tanas compare --list)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/flip")
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    try:
        load_suite(REPO / "benchmarks" / "suite.yml", a.budget)
        for target in a.targets.split(","):
            canonical_task_id(target, "--targets")
    except TanasError as e:
        print(f"flip.py: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "flip.jsonl"
    rows = []
    for line in log.read_text().splitlines() if log.is_file() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut short by a kill: that run is redone
            continue
    mine = lambda r: r["budget"] == a.budget and r["network"] == a.network and r["threads"] == a.threads  # noqa: E731
    done = {(r["target"], r["seed"], r["flip"]) for r in rows if mine(r)}
    jobs = [{"target": t, "seed": s, "flip": f, "network": a.network, "budget": a.budget, "data_dir": a.data_dir,
             "threads": a.threads} for t in a.targets.split(",") for s in seeds for f in (False, True)
            if (t, s, f) not in done]
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for future in as_completed([pool.submit(run_one, job) for job in jobs]):
            row = future.result()
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
            print(f"{row['target']} seed {row['seed']} flip {row['flip']}: {row['test_error']:.2f} % "
                  f"({row['seconds']:.0f} s)", flush=True)
    text = table([r for r in rows if mine(r)])
    (out / "flip.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
