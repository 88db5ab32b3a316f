"""NNI 3.0's remote training service, for real: sshd on loopback, a two-task dictionary experiment, compared with a
local build entry by entry (benchmarks/remote_service.py)."""
from __future__ import annotations

import os
import shutil

import pytest

from benchmarks import remote_service


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(remote_service.SSHD) or not shutil.which("ssh-keygen"),
                    reason="openssh-server (/usr/sbin/sshd, ssh-keygen) is not installed")
def test_remote_training_service_over_loopback_ssh(data_dir):
    r = remote_service.main(str(data_dir), write=False)
    assert r["status"] == "DONE"
    assert [t["status"] for t in r["trials"]] == ["SUCCEEDED"] * len(remote_service.TASKS)
    assert r["remote_dirs"], "the trials did not run under the SSH sessions' own HOME"
    assert sorted(r["remote"]) == sorted(remote_service.TASKS)
    assert r["remote"] == r["local"]  # same weights (sha256) and metrics as a local build
