"""User-facing errors.

Every problem a user can fix (a bad config, a missing file, an unknown name) is raised as :class:`TanasError`. The CLI prints
it as one line and exits with :data:`EXIT_USAGE`; Python callers can catch it. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

EXIT_USAGE = 2


class TanasError(Exception):
    """A problem in the user's input or environment, explained in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class NumericalError(TanasError):
    """A loss became NaN or infinite; the message names the stage, the task and the step."""
