"""A watchdog for long stages: a stall becomes a clear error instead of a silent hang.

A stage beats (:meth:`Watchdog.beat`) at every step of progress. When no beat comes for ``seconds``, the watchdog thread
prints one line naming the stage and its last position, then the stack of every thread (so the cause can be found), and
ends the process with exit code :data:`EXIT_STALL`. It ends the process rather than raising: a stall is usually a thread
blocked in native code (a device call, a lock), where no Python exception can be delivered.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

__all__ = ["Watchdog", "EXIT_STALL"]

EXIT_STALL = 3


class Watchdog:
    """``with Watchdog(600, "FUSE search on mnist:3-vs-rest") as dog: ... dog.beat("round 1, epoch 2, batch 7")``.

    ``seconds`` of 0 or None turns it off.
    """

    def __init__(self, seconds: float | None, what: str):
        self.seconds = seconds
        self.what = what
        self.position = "starting"
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, position: str | None = None) -> None:
        self._last = time.monotonic()
        if position is not None:
            self.position = position

    def _watch(self) -> None:
        while not self._stop.wait(min(5.0, self.seconds / 4)):
            idle = time.monotonic() - self._last
            if idle >= self.seconds:
                print(f"tanas: error: {self.what} made no progress for {idle:.0f} s (last: {self.position}); it is "
                      f"stopped. The stacks of every thread follow; please report them.", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                sys.stderr.flush()
                os._exit(EXIT_STALL)

    def __enter__(self) -> "Watchdog":
        if self.seconds:
            self.beat()
            self._thread = threading.Thread(target=self._watch, name="tanas-watchdog", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
