"""FUSE's winner vs. the median of random architectures from the same space, under one retraining recipe.

Usage (the dictionary must have architectures: ``tanas dictionary architectures configs/dictionary.yml -d DIR``)::

    python benchmarks/fuse_vs_random.py --target quickdraw:cat-vs-rest --dictionary runs/dictionary \
        --data-dir /work/shared/datasets --random 5 --retrain-epochs 20 --out benchmarks/results/fuse-vs-random.md

Steps: the task-aware space for the target (distances from the dictionary), FUSE over it (``tanas_nni.pipeline``
defaults), then the winner and ``--random`` architectures drawn from the same space's generator (its priors) are each
trained from scratch with ``tanas_nni.training.fit`` (same recipe, same seed, same data) and evaluated once on the test
split. Writes a Markdown table with the command and the machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from tanas_nni.core.config import config_hash, to_dict  # noqa: E402
from tanas_nni.data import SplitSizes, load_task  # noqa: E402
from tanas_nni.pipeline import SearchConfig, build_space, retrain, search  # noqa: E402
from tanas_nni.space import CandidateGenerator  # noqa: E402
from tanas_nni.training import TrainConfig, count_parameters  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", default="quickdraw:cat-vs-rest")
    p.add_argument("--dictionary", default="runs/dictionary")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--method", default="fisher")
    p.add_argument("--random", type=int, default=5)
    p.add_argument("--retrain-epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/fuse-vs-random.md")
    p.add_argument("--work", default="runs/fuse-vs-random",
                   help="where each retrained architecture's result is kept, so a rerun retrains only what is new")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    cfg = SearchConfig(target=args.target, space="task-aware", dictionary=args.dictionary, data_dir=args.data_dir,
                       k=args.k, method=args.method, seed=args.seed, retrain=TrainConfig(epochs=args.retrain_epochs))
    log = lambda stage, info: print(f"[{stage}] {info}", file=sys.stderr, flush=True)  # noqa: E731
    data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed, sizes=SplitSizes())
    t0 = time.perf_counter()
    space = build_space(cfg, None, log)
    result = search(data, space, cfg.fuse, cfg.pool(), cfg.seed, progress=log)
    search_seconds = time.perf_counter() - t0

    gen = CandidateGenerator(space.spec, space.operation_prior, space.skeleton_prior, space.cell_prior,
                             seed=cfg.seed + 1000)
    randoms = gen.sample(args.random, exclude=[result.winner])
    work = Path(args.work) / str(data.spec).replace(":", "__")
    work.mkdir(parents=True, exist_ok=True)
    recipe = config_hash({"retrain": cfg.retrain, "seed": cfg.seed, "data": data.fingerprint})
    rows = []
    for label, arch in [("FUSE winner", result.winner)] + [(f"random {i + 1}", a) for i, a in enumerate(randoms)]:
        done = work / f"{arch.key}-{recipe}.json"
        if done.is_file():
            row = json.loads(done.read_text())
        else:
            model, fit_result = retrain(arch, data, cfg.retrain, seed=cfg.seed)
            row = {"error": 1 - fit_result["test_acc"], "params_m": count_parameters(model) / 1e6,
                   "seconds": fit_result["seconds"]}
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(row))
            tmp.replace(done)
        rows.append((label, str(arch), row["error"], row["params_m"], row["seconds"]))
        print(f"{label}: test error {rows[-1][2]:.2%}", file=sys.stderr, flush=True)
    median = statistics.median(r[2] for r in rows[1:])
    cmd = " ".join(["python", *sys.argv])
    lines = [f"# FUSE winner vs. {args.random} random architectures ({args.target})", "",
             f"Command: `{cmd}`", f"Machine: {describe()}", f"Space: task-aware, k={args.k}, {args.method} distance; "
             f"FUSE search {search_seconds:.0f} s; retraining: `tanas_nni.training.fit`, {args.retrain_epochs} epochs.",
             f"FUSE settings: `{json.dumps(to_dict(cfg.fuse), sort_keys=True)}`; splits "
             f"{ {k: len(v) for k, v in data.y.items()} }, data fingerprint `{data.fingerprint}`.",
             "", "| architecture | | test error | params (M) | retrain s |", "|---|---|---|---|---|"]
    lines += [f"| {r[0]} | `{r[1]}` | {r[2]:.2%} | {r[3]:.3f} | {r[4]:.0f} |" for r in rows]
    lines += ["", f"Median random test error: {median:.2%}; FUSE winner: {rows[0][2]:.2%} "
              f"({'better' if rows[0][2] < median else 'not better'})."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
