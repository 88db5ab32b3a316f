"""Build the default dictionary from scratch and record its figures.

    python benchmarks/dictionary_build.py [--config configs/dictionary.yml] [--out benchmarks/results]

Writes ``<out>/dictionary-default.md``: per-task accuracies, the build time, the machine and the command.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from tanas_nni.dictionary import build_dictionary  # noqa: E402
from tanas_nni.pipeline import load_dictionary_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/dictionary.yml")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_dictionary_config(args.config, {"dictionary": str(Path(tmp) / "d"), "data_dir": args.data_dir})
        t0 = time.perf_counter()
        store = build_dictionary(cfg)
        seconds = time.perf_counter() - t0
        rows = [(e.task, e.metrics["train_acc"], e.metrics["val_acc"], e.metrics["test_acc"], e.metrics["seconds"],
                 e.meta["data_fingerprint"]) for e in store.entries()]
    lines = [
        "# Default dictionary build", "",
        f"Command: `python benchmarks/dictionary_build.py --config {args.config}`  ",
        f"Machine: {describe()}  ",
        f"Load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} (above 1: other processes "
        f"shared the cores, so the seconds are pessimistic)  ",
        f"Total build time: {seconds:.0f} s for {len(rows)} entries (data loading included)", "",
        "| task | train acc | val acc | test acc | train seconds | data fingerprint |", "|---|---|---|---|---|---|",
    ] + [f"| {t} | {a:.2%} | {b:.2%} | {c:.2%} | {s:.1f} | `{f}` |" for t, a, b, c, s, f in rows]
    out = Path(args.out) / "dictionary-default.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
