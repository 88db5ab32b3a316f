"""Progress events: what every long stage reports, as typed values rather than dicts with conventional keys.

A stage takes an optional ``progress`` callable (:data:`ProgressFn`) and calls it with one of the events below. The
``tanas`` command prints them with :func:`format_event`; the nnictl trials turn them into NNI intermediate results;
tests collect them. ``task`` names the task the event belongs to when a stage works on several (the dictionary's
architectures); ``method`` the comparison method when several run in one process.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Optional

__all__ = ["Event", "Message", "Resumed", "RoundStart", "PhaseEnd", "RoundEnd", "SearchDone", "Epoch", "Step",
           "Finished", "ProgressFn", "format_event", "tagged"]


@dataclass(frozen=True)
class Event:
    stage: str  # "space", "search", "retrain", "dictionary", "compare", ...
    task: Optional[str] = field(default=None, kw_only=True)
    method: Optional[str] = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Message(Event):
    """A line of text for people (what is being computed, a warning)."""

    text: str = ""


@dataclass(frozen=True)
class Resumed(Event):
    """A stage resumed from a checkpoint instead of starting afresh."""

    checkpoint: str = ""


@dataclass(frozen=True)
class RoundStart(Event):
    """A FUSE round began with these candidates (names of the whole-network choice)."""

    round: int = 0
    candidates: tuple = ()


@dataclass(frozen=True)
class PhaseEnd(Event):
    """A FUSE phase-epoch ended; ``probabilities``: softmax(α) of every candidate by name (0 for inactive ones)."""

    epoch: int = 0
    round: int = 0
    cycle: int = 0
    phase: str = ""
    probabilities: dict = field(default_factory=dict)

    @property
    def max_probability(self) -> float:
        return max(self.probabilities.values()) if self.probabilities else 0.0


@dataclass(frozen=True)
class RoundEnd(Event):
    """A FUSE round ended; ``winner`` is its argmax-α candidate."""

    round: int = 0
    winner: str = ""
    probabilities: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SearchDone(Event):
    """A search ended with ``winner`` (an architecture's printable form) after ``seconds``."""

    winner: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Epoch(Event):
    """One training epoch ended (retraining, a dictionary network, a supernet)."""

    epoch: int = 0
    epochs: int = 0
    train_loss: Optional[float] = None
    val_acc: Optional[float] = None


@dataclass(frozen=True)
class Step(Event):
    """One unit of a search that is not an epoch: a random-search trial, a scored subnet."""

    unit: str = "trial"
    index: int = 0
    total: int = 0
    val_acc: Optional[float] = None


@dataclass(frozen=True)
class Finished(Event):
    """A stage's end: its headline numbers and where its output is."""

    test_error: Optional[float] = None
    parameters: Optional[int] = None
    search_seconds: Optional[float] = None
    retrain_seconds: Optional[float] = None
    out: Optional[str] = None
    skipped: bool = False


ProgressFn = Callable[[Event], None]


def tagged(progress: ProgressFn | None, **tags) -> ProgressFn | None:
    """``progress`` with ``task`` / ``method`` set on every event that has none."""
    if progress is None:
        return None

    def inner(event: Event) -> None:
        fill = {k: v for k, v in tags.items() if getattr(event, k) is None}
        progress(dataclasses.replace(event, **fill) if fill else event)
    return inner


def format_event(event: Event) -> str | None:
    """One progress line for people, or None for events not worth a line."""
    # The method names which of several runs of one process a line belongs to; the task is in every line's context
    # already (one target per command), so it is left to the consumers that need it (NNI trials, logs).
    head = f"[{event.stage}]" + (f" {event.method}:" if event.method else "")
    if isinstance(event, Message):
        return f"{head} {event.text}"
    if isinstance(event, Resumed):
        return f"{head} resuming from {event.checkpoint}"
    if isinstance(event, RoundStart):
        return f"{head} round {event.round + 1}: candidates {', '.join(map(str, event.candidates))}"
    if isinstance(event, PhaseEnd):
        top = sorted(((k, v) for k, v in event.probabilities.items() if v > 0), key=lambda kv: -kv[1])[:4]
        return (f"{head} epoch {event.epoch} round {event.round + 1} {event.phase:7s} "
                + " ".join(f"{k}:{v:.3f}" for k, v in top))
    if isinstance(event, RoundEnd):
        return f"{head} round {event.round + 1} won by candidate {event.winner}"
    if isinstance(event, SearchDone):
        return f"{head} winner {event.winner} ({event.seconds:.0f} s)"
    if isinstance(event, Epoch):
        parts = [f"epoch {event.epoch}/{event.epochs}"]
        if event.train_loss is not None:
            parts.append(f"train loss {event.train_loss:.4f}")
        if event.val_acc is not None:
            parts.append(f"val acc {event.val_acc:.2%}")
        return f"{head} " + " ".join(parts)
    if isinstance(event, Step):
        acc = f" val acc {event.val_acc:.2%}" if event.val_acc is not None else ""
        return f"{head} {event.unit} {event.index}/{event.total}{acc}"
    if isinstance(event, Finished):
        if event.skipped:
            return f"{head} finished already" + (f" ({event.out})" if event.out else "")
        parts = []
        if event.test_error is not None:
            parts.append(f"test error {event.test_error:.2%}")
        if event.parameters is not None:
            parts.append(f"{event.parameters / 1e6:.3f} M parameters")
        if event.search_seconds is not None:
            parts.append(f"search {event.search_seconds:.0f} s")
        if event.retrain_seconds is not None:
            parts.append(f"retrain {event.retrain_seconds:.0f} s")
        return f"{head} " + ", ".join(parts) + (f" -> {event.out}" if event.out else "")
    return None
