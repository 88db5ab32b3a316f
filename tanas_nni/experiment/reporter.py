"""The link from a trial process to the NNI trial that started it.

A stage that runs an inner ``NasExperiment`` (FUSE, DARTS) would have NNI's default trial command channel swapped under
it; :class:`Reporter` keeps the outer trial's channel and parameter id from the start, so metrics always reach the
outer trial.
"""
from __future__ import annotations

import math
import sys
from typing import Any

import nni
from nni.runtime.env_vars import trial_env_vars
from nni.runtime.trial_command_channel import get_default_trial_command_channel

__all__ = ["Reporter", "clean_metric"]


def clean_metric(value: Any) -> Any:
    """NNI metrics must be JSON: turn numpy scalars and non-finite floats into plain values."""
    if isinstance(value, dict):
        return {str(k): clean_metric(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_metric(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Reporter:
    """Talks to the NNI trial that started this process, even after an inner experiment replaced NNI's channel."""

    def __init__(self):
        self._channel = get_default_trial_command_channel()
        self.params: dict = nni.get_next_parameter() or {}
        self._record = nni.trial._params  # the outer trial's parameter record (None when standalone)
        self._trial_id = trial_env_vars.NNI_TRIAL_JOB_ID
        self._seq = 0
        self.under_nni = trial_env_vars.NNI_PLATFORM not in (None, "unittest")

    def _send(self, kind: str, metric: Any, sequence: int) -> None:
        self._channel.send_metric(parameter_id=self._record["parameter_id"] if self._record else None,
                                  trial_job_id=self._trial_id, type=kind, sequence=sequence,
                                  value=clean_metric(metric))

    def intermediate(self, metric: float | dict) -> None:
        """One point of the trial's curve in the web UI (``metric['default']`` is plotted)."""
        self._send("PERIODICAL", metric, self._seq)
        self._seq += 1

    def final(self, metric: float | dict) -> None:
        self._send("FINAL", metric, 0)

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)
