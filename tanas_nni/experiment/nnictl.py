"""Drive ``nnictl`` experiments from Python: start, wait, read trials with NNI's own client
(``nni.experiment.Experiment.connect``), stop.

Used by the tests, the benchmark and ``tanas report`` (which reads a finished experiment's trials). It goes through the
same ``nnictl create`` a user types, so what it checks is what users get.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from ..core.errors import TanasError

# What a poll meets when no manager answers: requests' errors are OSErrors (a closed port) or ValueErrors (a half-written
# reply); connect() also looks up the manager's process, and one that just exited is psutil.NoSuchProcess.
_UNREACHABLE = (OSError, ValueError, psutil.Error)

__all__ = ["client", "free_port", "nnictl", "start", "wait", "trials", "intermediate", "status", "stop"]


def nnictl() -> str:
    """The nnictl of this Python environment (beside ``sys.executable``), else the one on PATH."""
    here = Path(sys.executable).parent / "nnictl"
    found = str(here) if here.exists() else shutil.which("nnictl")
    if not found:
        raise TanasError("nnictl not found; install tanas-nni (it depends on nni) in this environment")
    return found


def free_port(lo: int = 8150, hi: int = 8199) -> int:
    for port in range(lo, hi + 1):
        with socket.socket() as probe:  # something listening (on any address) answers a connect
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                continue
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise TanasError(f"no free port in {lo}-{hi}")


def _env() -> dict:
    env = dict(os.environ)
    # Trials run `python3 -m tanas_nni...`: make sure it is this environment's python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def start(config: str | Path, port: int, timeout: float = 120) -> str:
    """``nnictl create --config <config> --port <port>``; returns the experiment id."""
    r = subprocess.run([nnictl(), "create", "--config", str(config), "--port", str(port)], capture_output=True,
                       text=True, env=_env(), timeout=timeout, stdin=subprocess.DEVNULL)
    out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)  # nnictl colours its output
    m = re.search(r"ID:\s*(\w+)", out)
    if r.returncode != 0 or not m:
        raise TanasError(f"nnictl create failed ({r.returncode}): {(r.stdout + r.stderr).strip()[-500:]}")
    return m.group(1)


def client(port: int):
    """NNI's own client for the experiment whose manager listens on ``port``: ``nni.experiment.Experiment.connect``.

    Every read below goes through it. Starting and stopping stay with ``nnictl create`` / ``nnictl stop``, the commands
    a user types, so that what the tests check is what users get."""
    import logging

    from nni.experiment import Experiment

    # connect() logs "Connect to port ... success" at INFO on every call; the callers poll, so keep it quiet here.
    log = logging.getLogger("nni.experiment.experiment")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        return Experiment.connect(port)  # its requests errors are OSErrors, like a closed port's
    finally:
        log.setLevel(level)


def status(port: int) -> str:
    return client(port).get_status()


def trials(port: int) -> list[dict]:
    """Every trial with its parameters, status and final metric (NNI decodes the metric JSON), from ``Experiment.list_trial_jobs``."""
    out = []
    for t in client(port).list_trial_jobs():
        final = t.finalMetricData[-1].data if t.finalMetricData else None
        hp = t.hyperParameters[0].parameters if t.hyperParameters else {}
        out.append({"id": t.trialJobId, "status": t.status, "parameters": hp, "final": final})
    return out


def intermediate(port: int, trial_id: str) -> list:
    """A trial's intermediate results in order, from ``Experiment.get_job_metrics``."""
    metrics = client(port).get_job_metrics(trial_id).get(trial_id, [])
    return [m.data for m in sorted(metrics, key=lambda m: m.sequence) if m.type == "PERIODICAL"]


def wait(port: int, timeout: float = 600, poll: float = 2.0) -> str:
    """Wait until the experiment is DONE/STOPPED/ERROR or ``timeout`` seconds pass; returns the last status."""
    deadline = time.time() + timeout
    st = "UNKNOWN"
    while time.time() < deadline:
        try:
            st = status(port)
        except _UNREACHABLE:
            st = "UNREACHABLE"
        if st in ("DONE", "STOPPED", "ERROR", "NO_MORE_TRIAL"):
            if st == "NO_MORE_TRIAL":
                # NO_MORE_TRIAL: the tuner is exhausted, trials may still run
                ts = trials(port)
                if ts and all(t["status"] not in ("RUNNING", "WAITING") for t in ts):
                    return st
            else:
                return st
        time.sleep(poll)
    return st


def _answers(port: int) -> bool:
    try:
        status(port)
        return True
    except _UNREACHABLE:
        return False


def stop(experiment_id: str, port: int | None = None, timeout: float = 60) -> None:
    """``nnictl stop <id>``, repeated until the experiment's REST server is gone (a stop issued in the instant the
    experiment turns DONE can be lost)."""
    deadline = time.time() + timeout
    while True:
        subprocess.run([nnictl(), "stop", experiment_id], capture_output=True, text=True, env=_env(),
                       timeout=max(5.0, deadline - time.time()), stdin=subprocess.DEVNULL)
        for _ in range(10):
            if port is None or not _answers(port):
                return
            time.sleep(0.5)
        if time.time() > deadline:
            raise TanasError(f"experiment {experiment_id} on port {port} did not stop; stop it with `nnictl stop "
                             f"{experiment_id}`")
