"""See an experiment in the NNI web UI as a user does: start it with nnictl, wait, screenshot the overview and the trial
table in headless Chromium (Debian's ``chromium`` package), stop it.

    python benchmarks/webui_screenshot.py experiments/quickdraw_compare.yml --name compare \
        [--stage-config configs/compare-tiny.yml] [--timeout 1800]

``--stage-config`` swaps the ``--config`` file in the experiment's trial command (to run it at a small budget). Writes
``benchmarks/results/webui-<name>-overview.png`` and ``...-trials.png``.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tanas_nni.experiment import nnictl

REPO = Path(__file__).resolve().parents[1]


def screenshot(url: str, out: Path, chromium: str = "chromium") -> None:
    # The background-networking flags keep Chromium from stalling on a closed network.
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--window-size=1400,1000", "--virtual-time-budget=15000",
                        f"--screenshot={out}", url], check=True, capture_output=True, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", help="nnictl experiment YAML")
    ap.add_argument("--name", required=True, help="name used in the PNG file names")
    ap.add_argument("--stage-config", default=None, help="replace the trial command's --config with this file")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the trials")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not found: install Debian's package (apt-get install chromium)")

    src = Path(args.experiment).resolve()
    exp = yaml.safe_load(src.read_text())
    exp["trialCodeDirectory"] = str((src.parent / exp.get("trialCodeDirectory", ".")).resolve())
    if args.stage_config:
        exp["trialCommand"] = re.sub(r"--config\s+\S+", f"--config {Path(args.stage_config).resolve()}",
                                     exp["trialCommand"])
    work = Path(tempfile.mkdtemp(prefix="tanas-webui-"))
    exp["experimentWorkingDirectory"] = str(work / "nni")
    cfg = work / "experiment.yml"
    cfg.write_text(yaml.safe_dump(exp))

    port = nnictl.free_port()
    exp_id = nnictl.start(cfg, port)
    print(f"experiment {exp_id} on http://127.0.0.1:{port}", flush=True)
    try:
        status = nnictl.wait(port, timeout=args.timeout)
        trials = nnictl.trials(port)
        print(f"status {status}; trials: " + ", ".join(f"{t['parameters']}={t['status']}" for t in trials))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for page, suffix in (("oview", "overview"), ("detail", "trials")):
            png = out / f"webui-{args.name}-{suffix}.png"
            screenshot(f"http://127.0.0.1:{port}/{page}", png, chromium)
            print(f"wrote {png}")
    finally:
        nnictl.stop(exp_id, port)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
