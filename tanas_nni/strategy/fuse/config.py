"""FUSE's configuration and schedule numbers, shared by every module of :mod:`tanas_nni.strategy.fuse`.

:class:`FuseConfig` is the ``fuse:`` section of a search config; :func:`pool_size` says how many candidates a schedule
consumes; ``WEIGHTS`` and ``ALPHA`` name the two phases; ``_mix_seed`` derives the per-epoch and per-round seeds.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...core.config import check_range

__all__ = ["FuseConfig", "pool_size", "halving_rounds", "halving_sizes", "survivors", "WEIGHTS", "ALPHA"]

WEIGHTS, ALPHA = "weights", "alpha"


@dataclass
class FuseConfig:
    """FUSE's budget and learning rates, as a config section (``fuse:``); :meth:`FUSE.from_config` builds the strategy.

    Defaults: 4 candidates per round, 3 rounds (10 candidates in all), 2 cycles of (1 weight epoch, 5 α epochs) per
    round, weights AdamW lr 3e-3 (weight decay 5e-4), α Adam lr 0.05, every round's candidates re-initialised, each
    trained on its own loss in weight phases, rounds of incumbent against newcomers (docs/fuse.md).
    """

    candidates_per_round: int = 4
    rounds: int = 3
    cycles: int = 2
    weight_epochs: int = 1
    alpha_epochs: int = 5
    weight_lr: float = 3e-3
    weight_decay: float = 5e-4
    alpha_lr: float = 0.05
    batch_size: int = 128
    reset_weights: bool = True
    stall_seconds: float = 1800  # no progress for this long stops the search with an error (0: never)
    # "constant" (the weight lr as given) or "cosine": each round's candidates get a cosine schedule from the weight lr
    # to 0 over the round's weight steps, so that they are compared at the end of a completed schedule
    weight_schedule: str = "constant"
    # what a weight phase trains: "own" (each candidate on its own loss, as it is retrained alone) or "mixture" (the
    # softmax(α)-weighted sum of the candidates' logits, one loss for the ensemble)
    weight_loss: str = "own"
    # how the pool is narrowed to one: "rounds" (each round the incumbent against the next candidates, all
    # re-initialised) or "halving" (the whole pool in round 0, then each round the better half of the last one, which
    # keeps training: the survivors are compared after longer training; docs/fuse.md)
    selection: str = "rounds"

    def __post_init__(self):
        check_range("candidates_per_round", self.candidates_per_round, 2)
        check_range("rounds", self.rounds, 1)
        check_range("cycles", self.cycles, 1)
        check_range("weight_epochs", self.weight_epochs, 1)
        check_range("alpha_epochs", self.alpha_epochs, 1)
        check_range("weight_lr", self.weight_lr, 0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0)
        check_range("alpha_lr", self.alpha_lr, 0, lo_open=True)
        check_range("batch_size", self.batch_size, 1)
        check_range("stall_seconds", self.stall_seconds, 0)
        check_choice("weight_schedule", self.weight_schedule, SCHEDULES)
        check_choice("weight_loss", self.weight_loss, WEIGHT_LOSSES)
        check_choice("selection", self.selection, SELECTIONS)

    def pool(self) -> int:
        """How many candidates the rounds consume."""
        return pool_size(self.candidates_per_round, self.rounds)

    def rounds_total(self) -> int:
        """Rounds a space with the whole pool runs: ``rounds``, or with ``selection: halving`` one per halving."""
        return self.rounds if self.selection == "rounds" else halving_rounds(self.pool())

    def weight_epochs_total(self) -> int:
        """Weight epochs of the longest-trained candidate (the last round's)."""
        return self.rounds_total() * self.cycles * self.weight_epochs

    def epochs_total(self) -> int:
        return self.rounds_total() * self.cycles * (self.weight_epochs + self.alpha_epochs)


SCHEDULES = ("constant", "cosine")
WEIGHT_LOSSES = ("own", "mixture")
SELECTIONS = ("rounds", "halving")


def check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        from ...core.errors import TanasError
        raise TanasError(f"{name}: {value!r} is not one of {', '.join(choices)}")


def pool_size(candidates_per_round: int, rounds: int) -> int:
    """How many candidates ``rounds`` rounds of ``candidates_per_round`` consume (the incumbent is reused)."""
    return candidates_per_round + (rounds - 1) * (candidates_per_round - 1)


def halving_sizes(pool: int) -> list[int]:
    """Candidates in each round of ``selection: halving`` for a pool of ``pool`` (5: ``[5, 3, 2]``): each round keeps
    the better ⌈n/2⌉ until one is left."""
    sizes = []
    while pool > 1:
        sizes.append(pool)
        pool = survivors(pool)
    return sizes


def halving_rounds(pool: int) -> int:
    """Rounds of ``selection: halving`` for a pool of ``pool``."""
    return len(halving_sizes(pool))


def survivors(n: int) -> int:
    """How many of a halving round's ``n`` candidates go on to the next round."""
    return -(-n // 2)


def _mix_seed(*parts: int) -> int:
    """A deterministic 63-bit seed from integers (for per-epoch data order and per-round re-initialisation)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return h
