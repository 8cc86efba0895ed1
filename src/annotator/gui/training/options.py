"""What a person chooses for a training round in the window, remembered (QSettings), and the
`TrainConfig` it becomes for the training process.

`model` and `recipe` are not in the dialog: they override `architectures.ModelSettings` and
`train_config.Recipe` fields for tests and experiments, as `annotator train --set` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from annotator.inference.train_config import (
    BASES,
    DEFAULT_BASE,
    DEVICES,
    WEIGHTS_COCO,
    Recipe,
    TrainConfig,
)

_GROUP = "train"


class StartFrom(StrEnum):
    LAST = "last"  # the project's last model; from scratch when it has none yet
    SCRATCH = "scratch"
    COCO = "coco"  # torchvision's COCO weights of the base (R50 only; hub cache or a download)
    FILE = "file"  # a checkpoint file the person picks


class Length(StrEnum):
    MINUTES = "minutes"
    EPOCHS = "epochs"


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """`input_size` 0: the recipe chooses (from the objects' sizes); `base` counts only when starting
    from scratch or COCO (a checkpoint brings its own architecture)."""

    base: str = DEFAULT_BASE
    start: StartFrom = StartFrom.LAST
    weights_file: str = ""
    length: Length = Length.MINUTES
    minutes: float = 20.0
    epochs: int = 30
    input_size: int = 0
    device: str = "auto"
    val_split: float = 0.2
    model: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)

    def weights(self, last_model: Path | None) -> str | None:
        """What `--weights` the run gets: the last model (if any), a file, "coco", or None (scratch)."""
        if self.start is StartFrom.LAST:
            return None if last_model is None else str(last_model)
        if self.start is StartFrom.COCO:
            return WEIGHTS_COCO
        if self.start is StartFrom.FILE:
            return str(Path(self.weights_file).expanduser()) if self.weights_file.strip() else None
        return None

    def config(self, *, data: Path, out: Path, images_root: Path, last_model: Path | None) -> TrainConfig:
        """The run's config; ConfigError names a setting out of range."""
        return TrainConfig(
            data=data, out=out, images_root=images_root, base=self.base, weights=self.weights(last_model),
            epochs=self.epochs if self.length is Length.EPOCHS else None,
            minutes=self.minutes if self.length is Length.MINUTES else None,
            val_split=self.val_split, input_size=self.input_size or None, device=self.device,
            recipe=Recipe(**dict(self.recipe)), model=dict(self.model),
        )  # fmt: skip

    @classmethod
    def load(cls, settings: QSettings) -> TrainOptions:
        """The remembered choices; a missing or unreadable one falls back to its default."""
        value = cls()
        for spec in fields(cls):
            if spec.name in ("model", "recipe"):
                continue
            raw = settings.value(f"{_GROUP}/{spec.name}")
            if raw is None:
                continue
            try:
                value = replace(value, **{spec.name: type(getattr(value, spec.name))(raw)})
            except (TypeError, ValueError):
                continue
        if value.base not in BASES:
            value = replace(value, base=DEFAULT_BASE)
        return value if value.device in DEVICES else replace(value, device="auto")

    def save(self, settings: QSettings) -> None:
        for spec in fields(self):
            if spec.name not in ("model", "recipe"):
                raw = getattr(self, spec.name)
                settings.setValue(f"{_GROUP}/{spec.name}", raw.value if isinstance(raw, StrEnum) else raw)
        settings.sync()
