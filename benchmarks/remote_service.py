"""NNI 3.0's `remote` training service for real, over SSH to a throwaway sshd on loopback.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/remote_service.py

Starts sshd on 127.0.0.1:2222 with a fresh host key and user key, runs a two-task dictionary experiment (one trial per
task) on `platform: remote`, builds the same dictionary locally with `tanas dictionary build`, compares the entries
(files' sha256, which cover weights.pt, and metrics except wall-clock `seconds`), tears everything down and writes
benchmarks/results/2026-12-02-remote-loopback.md.

Facts from NNI 3.0's source (nni_node/training_service/remote_v3, nni/tools/nni_manager_scripts):
- non-reuse `remote` is RemoteTrainingServiceV3: Node's ssh2 client, not paramiko (paramiko is only used by
  `nnictl experiment clean`);
- `pythonPath` must be the *directory* of the interpreter; it is put first on PATH for the trial keeper and the trials;
- at every start the worker runs `python -m pip install nni --upgrade` on the remote host (needs PyPI there);
- the remote working directory is `~/nni-experiments/<experiment id>` (not configurable: "TODO: configurable" in
  launch_trial_keeper.py), so this script gives the SSH sessions their own HOME with sshd's `SetEnv`;
- the trial code directory is uploaded as a tarball (at most 2000 files / 300 MB, `.nniignore` honoured);
- the trial keeper connects back to the manager over a WebSocket at `nniManagerIp` (default: localhost).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESOURCES = REPO / "tanas_nni" / "resources"  # the packaged experiment templates
RESULT = REPO / "benchmarks" / "results" / "2026-12-02-remote-loopback.md"
SSHD = "/usr/sbin/sshd"
SSH_PORT = 2222
NNI_PORT = 8130
TASKS = ["mnist:0-vs-rest", "fashion-mnist:trouser-vs-rest"]


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"sshd did not answer on 127.0.0.1:{port}")


def start_sshd(tmp: Path) -> tuple[subprocess.Popen, Path, Path]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "user_key")], check=True)
    shutil.copy(tmp / "user_key.pub", tmp / "authorized_keys")
    home = tmp / "remote-home"  # the remote side's HOME, so NNI's ~/nni-experiments lands here
    home.mkdir()
    cfg = tmp / "sshd_config"
    cfg.write_text(f"""ListenAddress 127.0.0.1
Port {SSH_PORT}
HostKey {tmp / 'host_key'}
AuthorizedKeysFile {tmp / 'authorized_keys'}
PidFile {tmp / 'sshd.pid'}
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
SetEnv HOME={home}
""")
    # sshd refuses to start without its privilege-separation directory (Debian creates it at boot only)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = open(tmp / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-f", str(cfg), "-D", "-e"], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_port(SSH_PORT)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(f"sshd did not start: {(tmp / 'sshd.log').read_text().strip()[-300:]}") from None
    return proc, tmp / "user_key", home


def entry_digest(root: Path) -> dict:
    from tanas_nni.dictionary import DictionaryStore

    store = DictionaryStore.open(root)
    out = {}
    for task in store.task_ids():
        e = store.get(task)
        metrics = {k: v for k, v in e.metrics.items() if k != "seconds"}  # wall-clock time differs by nature
        out[task] = {"files": {n: f["sha256"] for n, f in e.meta["files"].items()}, "metrics": metrics}
    return out


def main(data_dir: str | None = None, write: bool = True) -> dict:
    from tanas_nni.experiment import nnictl

    data_dir = str(Path(data_dir or os.environ.get("TANAS_DATA_DIR", REPO.parent / "shared" / "datasets")).resolve())
    python_dir = str(Path(sys.executable).parent)
    tmp = Path(tempfile.mkdtemp(prefix="tanas-remote-"))
    sshd = exp_id = None
    timings = {}
    try:
        t0 = time.perf_counter()
        sshd, key, home = start_sshd(tmp)
        timings["sshd up"] = time.perf_counter() - t0

        def stage(dictionary: Path) -> Path:
            p = dictionary.with_suffix(".yml")
            p.write_text(yaml.safe_dump({
                "dictionary": str(dictionary), "data_dir": data_dir, "tasks": TASKS,
                "samples": {"train": 400, "val": 200, "test": 200}, "network": {"width": 8, "features": 32},
                "training": {"epochs": 2, "batch_size": 64}, "threads": 1}))
            return p

        remote_stage = stage(tmp / "dict-remote")
        exp = yaml.safe_load((RESOURCES / "experiments" / "dictionary.yml").read_text())
        exp["searchSpace"]["task"]["_value"] = list(TASKS)
        exp["trialCommand"] = exp["trialCommand"].replace("configs/dictionary.yml", str(remote_stage))
        exp["trialCodeDirectory"] = str(REPO)
        exp["maxTrialNumber"] = len(TASKS)
        exp["experimentWorkingDirectory"] = str(tmp / "nni")
        exp["nniManagerIp"] = "127.0.0.1"
        training_service = {"platform": "remote", "machineList": [{
            "host": "127.0.0.1", "port": SSH_PORT, "user": "root", "sshKeyFile": str(key),
            "pythonPath": python_dir}]}
        exp["trainingService"] = training_service
        cfg = tmp / "exp.yml"
        cfg.write_text(yaml.safe_dump(exp, sort_keys=False))

        t0 = time.perf_counter()
        exp_id = nnictl.start(cfg, NNI_PORT)
        final = nnictl.wait(NNI_PORT, timeout=300)
        timings["remote experiment"] = time.perf_counter() - t0
        trials = nnictl.trials(NNI_PORT)
        if not all(t["status"] == "SUCCEEDED" for t in trials) or len(trials) != len(TASKS):
            raise RuntimeError(f"experiment {exp_id} ended {final}: trials {trials}; see {tmp / 'nni' / exp_id}")
        remote_dirs = sorted(str(p) for p in (home / "nni-experiments").glob("*/environments/*"))

        local_stage = stage(tmp / "dict-local")
        t0 = time.perf_counter()
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
        subprocess.run([sys.executable, "-m", "tanas_nni.cli", "dictionary", "build", str(local_stage)], check=True,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        timings["local build"] = time.perf_counter() - t0

        remote, local = entry_digest(tmp / "dict-remote"), entry_digest(tmp / "dict-local")
        result = {"experiment": exp_id, "status": final, "trials": trials, "training_service": training_service,
                  "remote_dirs": remote_dirs, "timings": timings, "remote": remote, "local": local,
                  "identical": remote == local and sorted(remote) == sorted(TASKS)}
    finally:
        if exp_id:
            nnictl.stop(exp_id, NNI_PORT)
        if sshd:
            sshd.terminate()
            sshd.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    if write:
        write_result(result)
    return result


def _versions() -> dict:
    import importlib.metadata as md

    def v(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "not installed (not used: NNI 3.0's remote service uses Node's ssh2)"
    ssh = subprocess.run([SSHD, "-V"], capture_output=True, text=True)
    return {"nni": v("nni"), "paramiko": v("paramiko"), "OpenSSH": (ssh.stderr or ssh.stdout).strip().splitlines()[0]}


def write_result(r: dict) -> None:
    from benchmarks.machine import describe

    ts = dict(r["training_service"])
    m = dict(ts["machineList"][0], sshKeyFile="<tmp>/user_key", pythonPath="<directory of the venv's python>")
    ts["machineList"] = [m]
    rows = "\n".join(f"| {t} | {r['remote'][t]['files']['weights.pt'][:16]}… | "
                     f"{r['remote'][t]['metrics']['test_acc']:.4f} | "
                     f"{'same' if r['remote'][t] == r['local'].get(t) else 'DIFFERENT'} |" for t in sorted(r["remote"]))
    text = f"""# NNI 3.0 `remote` training service over SSH to loopback (2026-12-02)

Command: `PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python benchmarks/remote_service.py`
(also `python -m pytest -q -m slow tests/test_remote_service.py`).

Machine: {describe()}

Versions: {', '.join(f'{k} {v}' for k, v in _versions().items())}

What ran: a throwaway `sshd` on 127.0.0.1:{SSH_PORT} (fresh ed25519 host and user keys, root login by key only), and
`nnictl create` of `experiments/dictionary.yml` with two tasks ({', '.join(TASKS)}; 400/200/200 examples, 2 epochs,
width 8) on this training service, with `nniManagerIp: 127.0.0.1`:

```yaml
{yaml.safe_dump({"trainingService": ts}, sort_keys=False).strip()}
```

Experiment {r['experiment']}: {r['status']}, trials {', '.join(t['status'] for t in r['trials'])}. The remote side
worked in `$HOME/nni-experiments/<id>/environments/<env>` (HOME set for SSH sessions by sshd's `SetEnv`;
{len(r['remote_dirs'])} environment folder(s) found there).

Timings: {', '.join(f'{k} {v:.1f} s' for k, v in r['timings'].items())}.

The same two entries built locally with `tanas dictionary build` and compared entry by entry (files' sha256, which
cover weights.pt, and metrics except the wall-clock `seconds`): **{'identical' if r['identical'] else 'NOT identical'}**.

| task | weights.pt sha256 | test acc | remote vs local |
|---|---|---|---|
{rows}

Notes from NNI 3.0's source (nni_node/training_service/remote_v3/worker.js, nni/tools/nni_manager_scripts/):
`pythonPath` is the interpreter's directory, put first on PATH; each worker start runs
`python -m pip install nni --upgrade` on the remote host (a no-op here, nni 3.0 is current, but it needs PyPI there);
the remote working directory is `~/nni-experiments` (not configurable); the trial code directory is uploaded as a
tarball of at most 2000 files / 300 MB (use `.nniignore` to leave out `.venv/` and `runs/`).

Not checked here: GPU scheduling on the remote side (`trialGpuNumber`, `useActiveGpu`, `gpuIndices`,
`maxTrialNumberPerGpu`): this machine has no GPU.
"""
    RESULT.write_text(text)


if __name__ == "__main__":
    r = main()
    print(json.dumps({k: r[k] for k in ("experiment", "status", "timings", "identical")}, indent=1))
    sys.exit(0 if r["identical"] else 1)
