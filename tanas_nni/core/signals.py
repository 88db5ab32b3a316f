"""SIGINT and SIGTERM as a clean stop: a short message, exit code 130 / 143, and a rerun that resumes.

Why not KeyboardInterrupt: Lightning's trainer catches ``KeyboardInterrupt`` itself, ignores further Ctrl-C and calls
``sys.exit(1)``, so a stopped search would end with exit 1 and no word. :class:`Interrupted` derives from
``BaseException`` but not from ``KeyboardInterrupt``: Lightning re-raises it untouched after its own teardown, and so
does every ``except Exception`` in between. ``nnictl stop`` sends SIGTERM to a trial; it gets the same treatment.
Every write of the package is atomic (a temporary sibling renamed into place), so a stop at any moment leaves the
previous state or the new one, never half of one.
"""
from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from typing import Callable, Iterator

__all__ = ["Interrupted", "install_signal_handlers", "restore_signal_handlers", "exit_code", "run_stoppable",
           "signals_deferred"]


class Interrupted(BaseException):
    """The process was asked to stop (SIGINT or SIGTERM)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


# Module names and file names of the import system's own frames (frozen in CPython builds, plain files in others).
_IMPORT_MODULES = {"importlib._bootstrap", "importlib._bootstrap_external", "_frozen_importlib",
                   "_frozen_importlib_external"}
_REDELIVERY_SECONDS = 0.05
_pending: dict[int, threading.Timer] = {}  # at most one re-delivery waiting per signal
_boundaries: list = []  # the frames that installed the handlers, innermost last: the stack walk stops there


def _importing(frame) -> bool:
    """Whether the interrupted code runs inside an import started below the frame that installed the handlers (an entry
    point that itself runs inside an import, e.g. from a module's top level, is not held up by that outer import)."""
    boundary = _boundaries[-1] if _boundaries else None
    while frame is not None and frame is not boundary:
        if frame.f_globals.get("__name__") in _IMPORT_MODULES or "importlib._bootstrap" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    _pending.pop(signum, None)
    # The signal as if it arrived again, on every platform (os.kill on Windows would end the process outright); it
    # does nothing where the handler is no longer Python's.
    _thread.interrupt_main(signum)


def _raise(signum, frame):
    # An exception raised while a module is being imported can cross a C++ extension's initialisation: torch's import
    # calls back into Python from pybind11 code that cannot pass an exception on, and the process aborts (SIGABRT,
    # exit 134) instead of stopping cleanly. So a signal that lands inside an import is delivered again a moment later,
    # and raised once no import is in progress. The import system has no hook for "the outermost import ended" that
    # also covers importlib.import_module and imports started from C, hence the short timer (a daemon thread).
    if _importing(frame):
        if signum not in _pending:
            timer = threading.Timer(_REDELIVERY_SECONDS, _redeliver, args=(signum,))
            timer.daemon = True
            _pending[signum] = timer
            timer.start()
        return
    raise Interrupted(signum)


def _cancel_redeliveries() -> None:
    for signum in list(_pending):
        timer = _pending.pop(signum, None)
        if timer is not None:
            timer.cancel()


def install_signal_handlers() -> dict:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` in this process (call it first thing in an entry point).

    Returns the handlers it replaced, for :func:`restore_signal_handlers` (an entry point called in-process, from a
    test or a notebook, gives the process its own handling back). Outside the main thread, where Python allows no
    handler, it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise)
    _boundaries.append(sys._getframe(1))
    return previous


def restore_signal_handlers(previous: dict) -> None:
    """Give the process the handlers it had before :func:`install_signal_handlers`; a signal still waiting to be
    delivered again (it came during the last import and the work finished first) is dropped, not handed to handlers
    that did not ask for it."""
    if not previous:
        return
    _cancel_redeliveries()
    if _boundaries:
        _boundaries.pop()
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def exit_code(e: Interrupted) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + e.signum


def run_stoppable(main: Callable[[], int], hint: str) -> int:
    """Run an entry point's ``main`` with SIGINT and SIGTERM as a clean stop: one line (``hint`` says how to go on),
    exit code 130 / 143; the process's own handlers come back afterwards."""
    previous = install_signal_handlers()
    try:
        return main()
    except Interrupted as e:
        print(f"tanas: interrupted ({e.name}); {hint}", file=sys.stderr)
        return exit_code(e)
    finally:
        restore_signal_handlers(previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block; one that came in it is delivered, to the handler the process had,
    when the block ends.

    For short bookkeeping that must not be cut in half by an exception: NNI's experiment manifest is written under a
    lock file, and a signal between the lock file's creation and its record leaves a lock that this process itself then
    waits on for ever (docs/nni.md, "the experiment manifest"). Outside the main thread, or where a handler was set
    from C, it holds nothing back.
    """
    sigs = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in sigs}
    if any(h is None for h in previous.values()):
        yield
        return
    pending: list[int] = []
    for sig in sigs:
        signal.signal(sig, lambda signum, frame: pending.append(signum))  # noqa: ARG005
    try:
        yield
    finally:
        for sig, handler in previous.items():  # not restore_signal_handlers: a re-delivery on its way stays so
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])
