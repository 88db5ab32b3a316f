"""Does a target's network learn better from a base task's trained weights than from scratch? (lever: warm starts)

Usage::

    python benchmarks/warm_start.py --data-dir ../shared/datasets \
        --bases mnist:0-vs-rest,fashion-mnist:coat-vs-rest,mnist:3-vs-rest \
        --targets quickdraw:cloud-vs-rest,quickdraw:eye-vs-rest --seeds 0,1

For each base task of the default dictionary, its shipped architecture (``tanas_nni/resources/architectures``) is trained
on the base task with the dictionary's samples, recipe and seed (``configs/dictionary.yml``: 4000/1000 examples, 3
epochs, seed 0): weights of the kind a dictionary that stored its architectures' networks would hold (not the very
network the architecture search retrained, whose seed was derived per task). The architecture is then scaled to the
parameter budget (``--max-params``, the suite's 0.139 M; :func:`tanas_nni.space.fit_to_budget`) and trained on each
target with the retraining recipe of a suite budget (``--budget``, default ``cpu``), starting from:

- ``scratch``: the seeded initialisation every method gets;
- ``warm``: the base network's weights, every tensor the scaled network has taken from the base's tensor of the same
  name (its leading slice where the scaled network is narrower: the inheritance of weight-sharing NAS, e.g. OFA/NAT);
- ``warm-head``: the same, with the classifier left at its seeded initialisation (the base's classes mean nothing on
  the target);
- ``warm-lr10``: ``warm`` with the recipe's learning rate divided by 10, as fine-tuning usually is.

Each (base, target, seed, mode) is tested once on the target's test split (the suite's split for that seed). One
JSON line per run in ``<out>/warm-start.jsonl`` (resumable: a rerun skips what is there); the summary table is printed
and written to ``<out>/warm-start.md``.
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
from suite import load_suite  # noqa: E402

from tanas_nni.core.config import to_dict  # noqa: E402
from tanas_nni.data import load_task  # noqa: E402
from tanas_nni.pipeline import load_dictionary_config, search_key, shipped_architectures  # noqa: E402
from tanas_nni.space import Architecture, build_model, fit_to_budget  # noqa: E402
from tanas_nni.training import TrainConfig, fit, seeded_init  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODES = ("scratch", "warm", "warm-head", "warm-lr10")


def inherit(model: torch.nn.Module, state: dict, skip: tuple[str, ...] = ()) -> tuple[int, int]:
    """Copy into ``model`` every tensor of ``state`` with its name and at least its shape in every dimension (the
    leading slice); returns (tensors copied, tensors in the model)."""
    own = model.state_dict()
    copied = 0
    for name, t in own.items():
        src = state.get(name)
        if name.startswith(skip) or src is None or src.dim() != t.dim():
            continue
        if all(a >= b for a, b in zip(src.shape, t.shape)):
            own[name] = src[tuple(slice(0, b) for b in t.shape)].clone()
            copied += 1
    model.load_state_dict(own)
    return copied, len(own)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--bases", required=True, help="comma-separated base tasks of the default dictionary")
    p.add_argument("--targets", required=True, help="comma-separated target tasks")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--budget", default="cpu", help="a budget of benchmarks/suite.yml (its samples and retrain recipe)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--max-params", type=int, default=None, help="default: the budget's max_params")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dictionary-config", default="configs/dictionary.yml",
                   help="the default dictionary's config (written by `tanas init . --keep`)")
    p.add_argument("--out", default="runs/warm-start")
    a = p.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    modes = a.modes.split(",")
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"warm_start.py: --modes: {', '.join(sorted(unknown))} not one of {', '.join(MODES)}")
    torch.set_num_threads(a.threads)
    budget = load_suite(REPO / "benchmarks" / "suite.yml", a.budget).active  # the suite's own reading of it
    sizes, recipe = budget.samples, budget.retrain
    if a.max_params is None:
        a.max_params = budget.max_params
    if a.max_params is None:
        raise SystemExit(f"warm_start.py: budget {a.budget} has no max_params; give --max-params")
    dict_cfg = load_dictionary_config(a.dictionary_config)
    shipped = shipped_architectures(search_key(dict_cfg))
    if shipped is None:
        raise SystemExit(f"warm_start.py: {a.dictionary_config}: no shipped architectures match this config")
    base_recipe = TrainConfig(**to_dict(dict_cfg.training))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "warm-start.jsonl"
    # A run is one (base, target, seed, mode) under one budget and parameter budget: a rerun into the same --out with
    # another budget adds its own runs instead of taking these for them.
    done = {(r["base"], r["target"], r["seed"], r["mode"]) for r in map(json.loads, log.read_text().splitlines())
            if r["budget"] == a.budget and r["max_params"] == a.max_params} if log.is_file() else set()
    for base in a.bases.split(","):
        arch = Architecture.from_dict(shipped["tasks"][base]["arch"])
        todo = [(t, s, m) for t in a.targets.split(",") for s in seeds for m in modes if (base, t, s, m) not in done]
        if not todo:
            continue
        data = load_task(base, a.data_dir, seed=dict_cfg.seed, sizes=dict_cfg.samples.sizes())
        with seeded_init(dict_cfg.seed):
            net = build_model(arch, data.num_classes, data.input_shape)
        t0 = time.perf_counter()
        r = fit(net, data, base_recipe, seed=dict_cfg.seed, evaluate_test=False)
        print(f"{base}: {arch} trained, val acc {r['val_acc']:.2%} ({time.perf_counter() - t0:.0f} s)", flush=True)
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        for target, seed, mode in todo:
            tdata = load_task(target, a.data_dir, seed=seed, sizes=sizes)
            scaled = fit_to_budget(arch, a.max_params, tdata.num_classes, tdata.input_shape)
            if scaled is None:
                raise SystemExit(f"warm_start.py: --max-params {a.max_params}: {base}'s architecture does not fit "
                                 f"even with one cell and a one-channel stem; raise it")
            with seeded_init(seed):
                model = build_model(scaled, tdata.num_classes, tdata.input_shape)
            copied, total = (0, 0) if mode == "scratch" else inherit(
                model, state, skip=("classifier.",) if mode == "warm-head" else ())
            rec = recipe if mode != "warm-lr10" else TrainConfig(**{**to_dict(recipe), "lr": recipe.lr / 10})
            r = fit(model, tdata, rec, seed=seed)
            row = {"base": base, "target": target, "seed": seed, "mode": mode, "architecture": str(scaled),
                   "copied": copied, "tensors": total, "test_error": round(100 * (1 - r["test_acc"]), 3),
                   "val_acc": r["val_acc"], "budget": a.budget, "max_params": a.max_params,
                   "machine": describe()}
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{base} -> {target} seed {seed} {mode}: {row['test_error']:.2f} %", flush=True)
    rows = [r for r in map(json.loads, log.read_text().splitlines())
            if r["budget"] == a.budget and r["max_params"] == a.max_params]
    lines = ["| base | mode | runs | mean test error (%) | vs scratch (pt) | better / tied / worse than scratch |",
             "|---|---|---:|---:|---:|---|"]
    for base in sorted({r["base"] for r in rows}):
        mine = [r for r in rows if r["base"] == base]
        scratch = {(r["target"], r["seed"]): r["test_error"] for r in mine if r["mode"] == "scratch"}
        for mode in MODES:
            m = [r for r in mine if r["mode"] == mode and (r["target"], r["seed"]) in scratch]
            if not m:
                continue
            d = [r["test_error"] - scratch[(r["target"], r["seed"])] for r in m]
            lines.append(f"| {base} | {mode} | {len(m)} | {statistics.mean(r['test_error'] for r in m):.2f} | "
                         f"{statistics.mean(d):+.2f} | {sum(x < 0 for x in d)} / {sum(x == 0 for x in d)} / "
                         f"{sum(x > 0 for x in d)} |")
    (out / "warm-start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
