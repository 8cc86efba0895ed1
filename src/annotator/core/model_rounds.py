"""The models a project has trained, round by round: the learning loop's memory (no Qt, no torch).

Each Model > Train run that leaves a model adds a round; the project file keeps them (`io.store`), the
train dialog lists them ("Round 2 · 2026-12-04 · 40 images · AP50 0.61") and the next round starts from
the last one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ModelRound:
    """One trained model. `path` is the checkpoint relative to the project file's folder (POSIX);
    `images` counts training and validation images; AP values are the best validation mask AP (None:
    trained without validation). `details` holds the rest (architecture, started_from, val_images,
    reason, minutes, steps, epochs, input_size) as plain JSON values."""

    number: int
    path: str
    date: str  # ISO 8601, local time, to the second
    images: int
    val_ap: float | None = None
    val_ap50: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def day(self) -> str:
        return self.date[:10]

    def label(self) -> str:
        """One line for a list: round, day, images, AP50 (or "not validated": no validation split, or
        stopped before its first epoch ended); "interrupted" when the window ended before the round did."""
        score = "not validated" if self.val_ap50 is None else f"AP50 {self.val_ap50:.2f}"
        reason = self.details.get("reason")
        stopped = {"cancelled": " · stopped early", "unfinished": " · interrupted"}.get(reason, "")
        return f"Round {self.number} · {self.day} · {self.images} images · {score}{stopped}"


def next_round_number(rounds: Sequence[ModelRound], *, taken: Sequence[int] = ()) -> int:
    """The number of the next round: after every recorded one and every number `taken` otherwise (a
    file left by a run that was never recorded)."""
    return max([0, *(r.number for r in rounds), *taken]) + 1


def last_round(rounds: Sequence[ModelRound]) -> ModelRound | None:
    return max(rounds, key=lambda r: r.number, default=None)


def best_round(rounds: Sequence[ModelRound]) -> ModelRound | None:
    """The round with the best validation AP50 (the latest of equals; a round not validated counts
    least): what a project pre-labels with when nobody chose. Later rounds learnt from more labels, but
    one stopped seconds in (AP50 0.04 after 0.41) is no improvement."""
    return max(rounds, key=lambda r: (-1.0 if r.val_ap50 is None else r.val_ap50, r.number), default=None)
