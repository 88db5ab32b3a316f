"""Quieter third-party logging for the pipeline's commands and trials."""
from __future__ import annotations

import logging
import sys
import warnings

__all__ = ["quiet_libraries", "warn"]

_warned: set[str] = set()


def warn(message: str) -> None:
    """``tanas: warning: <message>`` on stderr, once per message per process (the form of every warning here)."""
    if message not in _warned:
        _warned.add(message)
        print(f"tanas: warning: {message}", file=sys.stderr, flush=True)


def quiet_libraries(silence_stdout: bool = True) -> None:
    """NNI and Lightning log every experiment start/stop and trainer setting; the progress lines say what matters.

    ``silence_stdout`` also mutes NNI's console output (commands whose stdout carries only their result); an NNI trial
    keeps it.
    """
    import nni.runtime.log
    import pytorch_lightning  # noqa: F401  (sets its loggers' levels on import; ours must come after)

    if silence_stdout:
        nni.runtime.log.silence_stdout()  # NNI's own switch; stdout then carries only the export folder's path
    for name in ("nni", "pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pytorch_lightning\..*")
    warnings.filterwarnings("ignore", module=r"lightning_fabric\..*")
