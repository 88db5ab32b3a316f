"""Running a strategy in NNI's ``NasExperiment``: stopped when the run ends, however it ends.

NNI's ``NasExperiment.run()`` leaves a finished experiment running until interpreter exit, where an ``atexit`` hook
stops it (docs/nni.md, "the experiment manifest"). Two things go wrong with that in a process that can be stopped by a
signal at any moment:

- the manifest (``~/nni-experiments/.experiment``) is written under NNI's lock file ``.experiment.lock.<pid>``; a signal
  that lands between the file's creation and the lock's record leaves it behind, and the exit hook then waits for
  this very process's lock for ever. A lock file left by a killed process whose pid this one now has does the same.
- a run stopped by a signal exits through the hook, after the message, with nothing left to report a hang.

So :func:`nas_experiment` stops the experiment itself when its block ends, and NNI's manifest bookkeeping runs with
signals held back (:func:`tanas_nni.core.signals.signals_deferred`). It is NNI's own experiment otherwise: its config,
engine, checkpoints and export are untouched.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import nni.nas.strategy  # noqa: F401  (before anything of nni.nas.oneshot: docs/nni.md, "import order")
from nni.nas.experiment import NasExperiment, NasExperimentConfig
from nni.tools.nnictl.constants import NNI_HOME_DIR

from ..core.signals import signals_deferred

__all__ = ["nas_experiment"]


def _clear_own_stale_lock() -> None:
    """Remove a manifest lock file named with this process's pid: this process holds NNI's lock only inside a deferred
    block, so outside one such a file is a dead process's (pid reuse), and NNI would wait on it for ever."""
    with contextlib.suppress(OSError):
        os.remove(Path(NNI_HOME_DIR) / f".experiment.lock.{os.getpid()}")


class _Experiment(NasExperiment):
    """NNI's ``NasExperiment`` with its manifest updates safe from signals (see the module's docstring)."""

    started = False

    def start(self, *args, **kwargs) -> None:
        self.started = True  # from here on NNI's stop() has something to undo (it copes with a start cut short)
        super().start(*args, **kwargs)

    def _start_without_nni_manager(self) -> None:
        with signals_deferred():
            _clear_own_stale_lock()
            super()._start_without_nni_manager()

    def _stop_without_nni_manager(self) -> None:
        # Runs inside stop(), which nas_experiment calls with signals already held back.
        _clear_own_stale_lock()
        super()._stop_without_nni_manager()


@contextlib.contextmanager
def nas_experiment(model_space: Any, evaluator: Any, strategy: Any,
                   config: NasExperimentConfig | None = None) -> Iterator[NasExperiment]:
    """``with nas_experiment(space, evaluator, strategy, config) as exp: exp.run(); exp.export_top_models()``.

    The experiment is stopped (NNI's ``stop()``: a last checkpoint, the manifest marked stopped) when the block ends:
    normally, on an error, or on SIGINT / SIGTERM; a second signal during the stop waits until it is done.
    """
    exp = _Experiment(model_space, evaluator, strategy, config or NasExperimentConfig("sequential", "raw"))
    try:
        yield exp
    finally:
        if exp.started:
            with signals_deferred():
                exp.stop()
