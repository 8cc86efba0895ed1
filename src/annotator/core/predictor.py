"""What a predictor is, without torch: options in, detections out.

The GUI and the CLI talk to a model only through these types; the torch implementation lives in
`annotator.inference` and is imported lazily, so nothing here (or in the GUI) loads torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from annotator.core.geometry import Mask
from annotator.core.model import Category

MODEL_NAMES = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")
DEFAULT_MODEL = MODEL_NAMES[0]


class Device(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Precision(StrEnum):
    """`auto` uses bfloat16 only where the CPU has native bf16 (avx512_bf16 or AMX), else float32."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


class Runtime(StrEnum):
    """What runs the ResNet body, the FPN, the RPN head and the mask head on a CPU: torch, or OpenVINO's CPU
    runtime (the optional `openvino` package). `auto`: see `inference.predictor.pick_runtime`. The box head,
    proposals, NMS and RoIAlign always run in torch."""

    AUTO = "auto"
    TORCH = "torch"
    OPENVINO = "openvino"


MAX_SIDE = 100_000  # pixels on the model input's long side: past the 250 Mpx limit of any image
MAX_COUNT = 10_000_000


@dataclass(frozen=True)
class ModelSpec:
    """Which model to run: an architecture name, optional weights file, device and precision.

    `weights=None` means torchvision's COCO weights for `name`, from the torch hub cache (downloaded
    once when online). A checkpoint file may name its own architecture; then `name` is only a default.
    """

    name: str = DEFAULT_MODEL
    weights: Path | None = None
    device: Device = Device.AUTO
    precision: Precision = Precision.AUTO
    allow_download: bool = True
    runtime: Runtime = Runtime.AUTO


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """Per-call options. `classes` keeps only these category ids (None keeps all).

    The image is resized so its short side is `min_size`, unless that makes the long side exceed
    `max_size` (torchvision's GeneralizedRCNNTransform rule). A detection whose thresholded mask covers
    fewer than `min_mask_area` pixels is dropped: an empty or speck mask is invisible on the canvas,
    useless to review, and exported it has area 0 (training rejects it). 0 keeps every detection.
    """

    score_threshold: float = 0.5
    classes: frozenset[int] | None = None
    mask_threshold: float = 0.5
    max_detections: int = 100
    min_size: int = 800
    max_size: int = 1333
    proposals: int | None = None  # RPN proposals kept (pre- and post-NMS); None: the model's own (1000)
    min_mask_area: int = 4  # pixels; see above
    embed: bool = False  # also the image's pooled features, for "label next" (predictors that have them)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score threshold must be in [0, 1], got {self.score_threshold}")
        if not 0.0 < self.mask_threshold < 1.0:
            raise ValueError(f"mask threshold must be in (0, 1), got {self.mask_threshold}")
        if min(self.max_detections, self.min_size, self.max_size, self.proposals or 1) < 1:
            raise ValueError("max_detections, min_size, max_size and proposals must be positive")
        if max(self.max_detections, self.proposals or 1) > MAX_COUNT or self.max_size > MAX_SIDE:
            raise ValueError(  # a side past the pixel limit, or a count no journal or tensor can hold
                f"max_detections and proposals must be at most {MAX_COUNT}, max_size at most {MAX_SIDE}"
            )
        if self.min_mask_area < 0:
            raise ValueError(f"min_mask_area must be 0 or more, got {self.min_mask_area}")
        if self.classes is not None:
            object.__setattr__(self, "classes", frozenset(int(c) for c in self.classes))

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) the model sees: torchvision's resize rule, sizes rounded down."""
        scale = min(self.min_size / min(width, height), self.max_size / max(width, height))
        return int(width * scale), int(height * scale)

    def unusable_size(self, width: int, height: int) -> str | None:
        """Why an image of this size cannot go through the model (a 1x10000 strip shrinks to nothing),
        or None. Said of the image, before the model runs, so the model is not blamed."""
        seen = self.input_size(width, height)
        if min(seen) >= 1:
            return None
        return (
            f"the image is {width}x{height} pixels, too narrow to pre-label: scaled so its long side fits "
            f"the model's input ({self.max_size} pixels) it would be {seen[0]}x{seen[1]}"
        )

    @classmethod
    def with_max_size(cls, max_size: int, **options: object) -> PredictOptions:
        """Options whose input is at most `max_size` pixels on its long side (and no more than 800 short)."""
        return cls(min_size=min(800, max_size), max_size=max_size, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Detection:
    """One predicted instance at the image's full resolution.

    `box` is (x0, y0, x1, y1) in pixels, as the model gave it; `mask` is the thresholded mask (RLE).
    """

    category_id: int
    score: float
    box: tuple[float, float, float, float]
    mask: Mask


@dataclass(frozen=True)
class BoxPrompt:
    """A box a person drew (x0, y0, x1, y1, image pixels), for the model's mask head to segment.

    `category_id`: the class the person chose, whose mask channel is used when the model knows it;
    None: the class the box head scores best. `agnostic`: the most decided mask channel, whatever its
    class (for objects of a class the model was not trained on). `positive` and `negative` are clicks
    (x, y) that refine the result: inside the object, and outside it.
    """

    box: tuple[float, float, float, float]
    category_id: int | None = None
    agnostic: bool = False
    positive: tuple[tuple[float, float], ...] = ()
    negative: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class BoxMask:
    """The mask a box gave, with the class whose channel made it (None when agnostic or unknown) and the
    box head's probability of that class."""

    mask: Mask
    category_id: int | None
    score: float


@dataclass(frozen=True)
class PredictorInfo:
    """What a loaded model can say about itself: a display name and the categories it predicts."""

    name: str
    categories: tuple[Category, ...]
    device: str
    precision: str
    # (min_size, max_size) the model was trained at, for PredictOptions (None: use the defaults)
    input_size: tuple[int, int] | None = None


@runtime_checkable
class Predictor(Protocol):
    """Anything that turns an (H, W, 3) uint8 RGB image into detections, highest score first."""

    @property
    def info(self) -> PredictorInfo: ...

    def predict(self, image: np.ndarray, options: PredictOptions) -> list[Detection]: ...


class ImageNotPrepared(LookupError):
    """`segment_box` was asked about an image it holds no features of (never prepared, or forgotten):
    prepare it and ask again. A plain message, so it crosses the model process as the same type."""


@runtime_checkable
class BoxPredictor(Protocol):
    """A predictor that also segments boxes a person draws (box-to-mask), on an image it was told of."""

    def prepare_image(self, key: object, path: Path) -> None: ...

    def segment_box(self, key: object, prompt: BoxPrompt) -> BoxMask: ...


class CancelToken:
    """Shared between the thread that asks and the worker that checks: cancel, pause and resume.

    The worker calls `checkpoint()` between images (and may between stages): it blocks while paused and
    returns True once cancelled.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused worker wakes up to notice

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> bool:
        self._running.wait()
        return self._cancelled.is_set()
