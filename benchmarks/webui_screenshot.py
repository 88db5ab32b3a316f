"""See an experiment in the NNI web UI as a user does: start it with nnictl, wait, screenshot the overview and the trial
table in headless Chromium (Debian's ``chromium`` package), stop it.

    python benchmarks/webui_screenshot.py experiments/quickdraw_compare.yml --name compare \
        [--stage-config my-compare-tiny.yml] [--timeout 1800]

``--stage-config`` swaps the ``--config`` file in the experiment's trial command (to run it at a small budget). Writes
``benchmarks/results/webui-<name>-overview.png`` and ``...-trials.png``. ``--url http://127.0.0.1:PORT`` shoots an
experiment that is already running (nothing is started or stopped).
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from websockets.sync.client import connect

from tanas_nni.experiment import nnictl

REPO = Path(__file__).resolve().parents[1]


class Chromium:
    """Headless Chromium driven over the DevTools protocol: open a page, click, take a screenshot.

    Why our own few lines instead of Selenium or Playwright: the web UI needs two clicks (the trial table's "Add/Remove
    columns" dialog, so that each trial shows its method, parameters and search cost), and the DevTools protocol needs
    nothing beyond Chromium and the ``websockets`` package that NNI already installs.
    """

    def __init__(self, chromium: str, port: int, width: int = 1400, height: int = 1000):
        self.profile = tempfile.mkdtemp(prefix="tanas-chromium-")
        # The background-networking flags keep Chromium from stalling on a closed network.
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = json.load(r)
                break
            except OSError:
                if time.time() > deadline:
                    self.close()
                    raise RuntimeError(f"chromium: no DevTools endpoint on port {port} after 30 s")
                time.sleep(0.2)
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = connect(url, max_size=None).__enter__()
        self._id = 0
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, settle: float = 8.0) -> None:
        self.call("Page.navigate", url=url)
        time.sleep(settle)

    def click_text(self, selector: str, text: str) -> bool:
        """Click the first ``selector`` element whose text is ``text``; False when there is none."""
        return bool(self.js(f"(() => {{ const e = [...document.querySelectorAll({json.dumps(selector)})]"
                            f".find(e => e.innerText.trim() === {json.dumps(text)}); if (e) e.click(); return !!e }})()"))

    def screenshot(self, out: Path) -> None:
        out.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


# Columns of the trial table shown besides the defaults (labels as the web UI's column dialog names them). The method as
# the trial reports it ("metric"), not as NNI lists its parameters ("space"): NNI 3.0 may list a trial with another
# trial's parameters (microsoft/nni#5726).
EXTRA_COLUMNS = ["method (metric)", "params (metric)", "search_seconds (metric)"]


def shoot(chromium: str, base_url: str, out_dir: Path, name: str) -> list[Path]:
    """The overview page, and the trial table with the trials' parameters and metrics as columns."""
    browser = Chromium(chromium, nnictl.free_port())
    written = []
    try:
        browser.open(f"{base_url}/oview")
        written.append(out_dir / f"webui-{name}-overview.png")
        browser.screenshot(written[-1])
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1400, deviceScaleFactor=1, mobile=False)
        browser.open(f"{base_url}/detail")
        if browser.click_text("button", "Add/Remove columns"):
            time.sleep(1)
            for label in EXTRA_COLUMNS + ["ID"]:  # ID off: the method names the trial better
                browser.click_text("[role=dialog] .ms-Checkbox-text", label)
            browser.click_text("[role=dialog] button", "Save")
            time.sleep(2)
        browser.js("document.querySelector('.ms-DetailsList')?.scrollIntoView()")
        time.sleep(1)
        written.append(out_dir / f"webui-{name}-trials.png")
        browser.screenshot(written[-1])
    finally:
        browser.close()
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", nargs="?", help="nnictl experiment YAML")
    ap.add_argument("--url", default=None, help="the web UI of a running experiment: only take the screenshots")
    ap.add_argument("--name", required=True, help="name used in the PNG file names")
    ap.add_argument("--stage-config", default=None, help="replace the trial command's --config with this file")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the trials")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not found: install Debian's package (apt-get install chromium)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.url:
        for png in shoot(chromium, args.url.rstrip("/"), out, args.name):
            print(f"wrote {png}")
        return
    if not args.experiment:
        sys.exit("experiment: give an experiment YAML (or --url of a running web UI)")
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
        for png in shoot(chromium, f"http://127.0.0.1:{port}", out, args.name):
            print(f"wrote {png}")
    finally:
        nnictl.stop(exp_id, port)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
