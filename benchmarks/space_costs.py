"""Training cost of architectures of the standard space on the benchmark task (seconds per epoch, parameters).

Usage: python benchmarks/space_costs.py [--epochs 1] [--samples 6] [--task quickdraw:cat-vs-rest] [--out FILE]

Trains a few reference architectures and a few drawn uniformly from the standard space with the shared recipe
(tanas_nni.training.fit) on 4200/900/900 examples, one thread, and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import platform
import subprocess

import torch

from tanas_nni.data import SplitSizes, load_task
from tanas_nni.space import Architecture, CandidateGenerator, build_model, load_space
from tanas_nni.training import TrainConfig, count_parameters, fit

REFERENCE = {
    # A plain conv-like network: stem 32, one normal cell at 28x28, then 14x14 and 7x7, two sep convs per cell.
    "chain2 sep3, stem32, 3 cells": {"skeleton": {"stem": 32, "cells": 3, "reductions": [1, 2]},
                                     "cell": {"nodes": 3, "edges": [[0, 1, "sep_conv_3x3"], [1, 2, "sep_conv_3x3"]]}},
    "chain2_res sep3+skip, stem32, 4 cells": {
        "skeleton": {"stem": 32, "cells": 4, "reductions": [1, 3]},
        "cell": {"nodes": 3, "edges": [[0, 1, "sep_conv_3x3"], [1, 2, "sep_conv_3x3"], [0, 2, "skip_connect"]]}},
    "diamond sep3/dil3, stem24, 5 cells": {
        "skeleton": {"stem": 24, "cells": 5, "reductions": [1, 3]},
        "cell": {"nodes": 4, "edges": [[0, 1, "sep_conv_3x3"], [0, 2, "dil_conv_3x3"], [1, 3, "sep_conv_3x3"],
                                       [2, 3, "max_pool_3x3"]]}},
    "dag4 mixed, stem16, 3 cells": {
        "skeleton": {"stem": 16, "cells": 3, "reductions": [1, 2]},
        "cell": {"nodes": 4, "edges": [[0, 1, "sep_conv_3x3"], [0, 2, "skip_connect"], [0, 3, "max_pool_3x3"],
                                       [1, 2, "sep_conv_5x5"], [1, 3, "dil_conv_3x3"], [2, 3, "sep_conv_3x3"]]}},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="quickdraw:cat-vs-rest")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="datasets folder (default: $TANAS_DATA_DIR, then the cache)")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_task(args.task, args.data_dir, seed=args.seed, sizes=SplitSizes(4200, 900, 900))
    archs = [(name, Architecture.from_dict(d)) for name, d in REFERENCE.items()]
    archs += [(f"sample {i}", a) for i, a in enumerate(CandidateGenerator(load_space(), seed=args.seed)
                                                          .sample(args.samples))]
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    print(f"task {args.task}, 4200/900/900, {args.epochs} epoch(s), 1 thread, {cpu or platform.processor()}\n")
    print("| architecture | params | s/epoch | val acc |")
    print("|---|---|---|---|")
    for name, arch in archs:
        model = build_model(arch, data.num_classes, data.input_shape)
        out = fit(model, data, TrainConfig(epochs=args.epochs), seed=args.seed, evaluate_test=False)
        print(f"| {name}: `{arch}` | {count_parameters(model) / 1e6:.3f} M | {out['seconds'] / args.epochs:.1f} | "
              f"{out['val_acc']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
