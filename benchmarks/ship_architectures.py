"""Write a dictionary's searched architectures as package data (tanas_nni/resources/architectures/<name>.json).

    python benchmarks/ship_architectures.py configs/dictionary.yml --dictionary DIR --name default \
        --command "..." --wall-seconds N

The record's ``key`` is :func:`tanas_nni.pipeline.search_key` of the config, so `tanas dictionary architectures`
installs these architectures only for a config with the same tasks, samples, recipe, seed and search budget.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tanas_nni.dictionary import DictionaryStore
from tanas_nni.pipeline import load_dictionary_config, search_key


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--dictionary", "-d", required=True)
    p.add_argument("--name", default="default")
    p.add_argument("--command", required=True, help="the command that ran the search (recorded)")
    p.add_argument("--wall-seconds", type=float, required=True)
    p.add_argument("--commit", default=None, help="the commit whose code ran the search (default: as recorded)")
    p.add_argument("--machine", default="2 shared CPU cores, 1 thread (benchmarks/machine.py)")
    a = p.parse_args(argv)
    cfg = load_dictionary_config(a.config, {"dictionary": a.dictionary})
    store = DictionaryStore.open(cfg.dictionary)
    tasks, prov = {}, None
    for t in cfg.tasks:
        arch = store.get(t).architecture
        if not arch or "retrained_val_acc" not in arch.get("score", {}):
            print(f"{t}: no searched architecture in {store.root}", file=sys.stderr)
            return 2
        prov = prov or arch["provenance"]
        tasks[t] = {k: arch[k] for k in ("arch", "key", "str", "score", "space", "strategy", "settings", "retrained")}
    rec = {"key": search_key(cfg), "config": Path(a.config).name,
           "provenance": {**prov, **({"commit": a.commit} if a.commit else {}),
                          "seed": cfg.seed if cfg.architecture_search.seed is None else cfg.architecture_search.seed,
                          "seed_note": "each task's pool and weights use derive_seed(seed, task id)", "command": a.command, "wall_seconds": round(a.wall_seconds),
                          "machine": a.machine},
           "tasks": tasks}
    out = Path(__file__).resolve().parent.parent / "tanas_nni" / "resources" / "architectures" / f"{a.name}.json"
    out.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
