"""What a training run reports, as small plain values that cross a pipe as JSON lines (no torch here).

`training.train` calls `on_event` with these; the training process writes `event.to_json()` one per line;
the GUI side reads them back with `event_from_json`. Every field is a str, int, float, bool, None or a
list/dict of those.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **dataclasses.asdict(self)}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), allow_nan=False, default=str)


@dataclass(frozen=True)
class Notice(Event):
    """Something the person should know that does not stop training (a skipped image or class)."""

    kind: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    architecture: str
    device: str
    precision: str
    input_size: int
    train_images: int
    val_images: int
    classes: list[dict[str, Any]]  # [{"id": category id, "name": ...}], label order
    total_steps: int | None  # None when only --minutes bounds the run
    start_step: int  # > 0 when resumed


@dataclass(frozen=True)
class Step(Event):
    """After each optimizer step. `loss` is this step's total; `losses` its parts; `images_per_s` the
    rate over the last steps; `eta_s` the time to the end."""

    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    images: int  # in this step's batch
    seconds: float  # this step's forward, backward and update
    loss: float
    losses: dict[str, float]
    lr: float
    images_per_s: float
    elapsed_s: float
    eta_s: float | None
    progress: float  # 0..1


@dataclass(frozen=True)
class EpochEnd(Event):
    """After each epoch; AP values are COCOeval segm AP and AP50 on the validation images (None: none)."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    step: int
    mean_loss: float | None  # None when the epoch had no step (resumed at its end)
    val_ap: float | None
    val_ap50: float | None
    best: bool


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    path: str
    role: str  # "best" (the model to use) or "last" (resumable)
    step: int


@dataclass(frozen=True)
class Paused(Event):
    kind: ClassVar[str] = "paused"
    paused: bool


@dataclass(frozen=True)
class Finished(Event):
    """The end: `reason` is "done", "time" (the --minutes budget) or "cancelled"."""

    kind: ClassVar[str] = "finished"
    reason: str
    model_path: str | None
    last_path: str | None
    steps: int
    epochs: int
    best_val_ap: float | None
    best_val_ap50: float | None
    elapsed_s: float


@dataclass(frozen=True)
class Failed(Event):
    """The run stopped on an error; `bad_input` when the data or a file was at fault (CLI exit 2)."""

    kind: ClassVar[str] = "error"
    message: str
    bad_input: bool = True
    details: str = field(default="", repr=False)


EVENT_TYPES = {
    cls.kind: cls for cls in (Notice, Started, Step, EpochEnd, CheckpointSaved, Paused, Finished, Failed)
}


def event_from_json(data: dict[str, Any]) -> Event:
    """The event a JSON line holds; ValueError for anything else."""
    kind = data.get("event") if isinstance(data, dict) else None
    cls = EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"not a training event: {str(data)[:80]}")
    values = {k: v for k, v in data.items() if k != "event"}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"malformed {kind} event: {exc}") from None
