"""What a training run is asked to do, as plain data (no torch): the CLI builds it from its arguments,
the GUI sends it as JSON to the training process (`train_worker`).

`Recipe` holds how to train; its defaults are the measured recipe (docs/decisions/0010-training-recipe.md).
`model` overrides model settings (`architectures.ModelSettings` fields such as sampler sizes), mostly for
tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEIGHTS_COCO = "coco"  # --weights coco: torchvision's COCO weights of the base (hub cache or download)
DEFAULT_BASE = "maskrcnn_resnet18_fpn"
BASES = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2", DEFAULT_BASE)
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A setting out of range; the message names it (the CLI exits 2 with it)."""


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How to train. `lr` is the peak after a linear warm-up, then cosine decay to `final_lr_fraction`.

    `precision` auto: bf16 autocast on CPUs with native bf16 and on CUDA devices that support it (else
    fp16 with a gradient scaler), float32 on other CPUs. `scale_jitter`: each training image is scaled by
    a factor drawn uniformly from this range (1, 1 for none). `crop`: each training image is cropped to a
    window whose sides are a fraction of its own drawn from this range (1, 1 for none); `copy_paste`: the
    chance that instances of another training image are pasted onto it; `color_jitter`: the strength of
    a brightness, contrast and saturation jitter (0 for none); `vflip`, `rot90`: vertical flips and
    quarter turns, for images with no up (aerial, microscopy). See `train_augment`.
    """

    batch_size: int = 4
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.05  # with scale_jitter: held-out AP 0.200-0.205 against 0.172 (decision 0010)
    momentum: float = 0.9  # SGD only
    warmup_steps: int = 50
    final_lr_fraction: float = 0.5  # 0.02 overfitted 80 images: held-out AP50 0.301 -> 0.391 (decision 0010)
    grad_clip: float = 10.0
    hflip: bool = True
    vflip: bool = False
    rot90: bool = False
    scale_jitter: tuple[float, float] = (0.5, 1.5)
    crop: tuple[float, float] = (1.0, 1.0)
    copy_paste: float = 0.5  # held-out AP50 0.391-0.404 -> 0.452-0.494 in 20 minutes (decision 0010)
    color_jitter: float = 0.0
    ema: float = 0.0  # the decay of the weight average that is validated and kept (0: the weights as trained)
    precision: str = "auto"
    channels_last: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale_jitter", tuple(float(v) for v in self.scale_jitter))
        object.__setattr__(self, "crop", tuple(float(v) for v in self.crop))
        _require(1 <= self.batch_size <= 256, "batch_size must be in [1, 256]")
        _require(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        _require(self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}")
        _require(_positive(self.lr) and self.lr < 10, "lr must be in (0, 10)")
        _require(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay must be >= 0")
        _require(0 <= self.warmup_steps <= 100_000, "warmup_steps must be in [0, 100000]")
        _require(0 <= self.final_lr_fraction <= 1, "final_lr_fraction must be in [0, 1]")
        low, high = self.scale_jitter
        _require(0.1 <= low <= high <= 10, "scale_jitter must be (low, high) with 0.1 <= low <= high <= 10")
        _require(len(self.crop) == 2 and 0.1 <= self.crop[0] <= self.crop[1] <= 1,
                 "crop must be (low, high) with 0.1 <= low <= high <= 1")  # fmt: skip
        _require(_finite(self.copy_paste) and 0 <= self.copy_paste <= 1, "copy_paste must be in [0, 1]")
        _require(_finite(self.color_jitter) and 0 <= self.color_jitter < 1, "color_jitter must be in [0, 1)")
        _require(_finite(self.ema) and 0 <= self.ema < 1, "ema must be in [0, 1)")
        _require(_positive(self.grad_clip), "grad_clip must be positive")
        _require(_finite(self.momentum) and 0 <= self.momentum < 1, "momentum must be in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One `annotator train` run. `epochs` or `minutes` bounds it (both: whichever ends first; neither:
    DEFAULT_EPOCHS). `input_size`: the long side the images are scaled to (None: the recipe's choice
    for the base and the images). `weights`: None (from scratch), "coco", or a checkpoint file."""

    data: Path
    out: Path
    images_root: Path | None = None
    base: str = DEFAULT_BASE
    weights: str | None = None
    epochs: int | None = None
    minutes: float | None = None
    val_split: float = 0.2
    input_size: int | None = None
    device: str = "auto"
    resume: Path | None = None
    seed: int = 0
    save_every_s: float = 180.0  # a resumable "last" checkpoint at least this often
    recipe: Recipe = field(default_factory=Recipe)
    model: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("data", "out", "images_root", "resume"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        _require(
            self.images_root is None or self.images_root.is_dir(),
            f"--images {self.images_root}: no such folder of images",
        )
        _require(self.base in BASES, f"--base must be one of {', '.join(BASES)}")
        _require(self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}")
        _require(self.epochs is None or 1 <= self.epochs <= 100_000, "--epochs must be in [1, 100000]")
        _require(self.minutes is None or _positive(self.minutes), "--minutes must be positive")
        _require(_finite(self.val_split) and 0 <= self.val_split < 1, "--val-split must be in [0, 1)")
        _require(
            self.input_size is None or 32 <= self.input_size <= 4096, "--input-size must be in [32, 4096]"
        )
        _require(_positive(self.save_every_s), "save_every_s must be positive")
        object.__setattr__(self, "model", dict(self.model))

    @property
    def last_path(self) -> Path:
        """The resumable checkpoint beside `out`: `MODEL.last.pt` for `MODEL.pt`."""
        return self.out.with_name(f"{self.out.stem}.last{self.out.suffix or '.pt'}")

    @property
    def val_predictions_path(self) -> Path:
        """The kept model's detections on the validation images, beside `out`: `MODEL.val-predictions.json`."""
        from annotator.io.model_folder import validation_predictions_path

        return validation_predictions_path(self.out)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("data", "out", "images_root", "resume"):
            data[name] = None if data[name] is None else str(data[name])
        data["recipe"]["scale_jitter"] = list(self.recipe.scale_jitter)
        data["recipe"]["crop"] = list(self.recipe.crop)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainConfig:
        """From `to_json`'s dict (as the training process reads it); ConfigError names a bad key."""
        if not isinstance(data, Mapping):
            raise ConfigError("a training config must be a JSON object")
        values = dict(data)
        try:
            # a config from before copy-paste existed trained without it: a resume goes on the same way
            recipe = Recipe(**{"copy_paste": 0.0, **dict(values.pop("recipe", {}) or {})})
            return cls(recipe=recipe, **values)
        except TypeError as exc:
            raise ConfigError(f"bad training config: {exc}") from None

    def dumps(self) -> str:
        return json.dumps(self.to_json())


DEFAULT_EPOCHS = 30


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _finite(value) and value > 0
