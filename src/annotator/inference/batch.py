"""Batch pre-labelling: a generator over image files that yields each result as soon as it is ready.

No torch here: it drives any `core.predictor.Predictor`, so the GUI's worker and the CLI share it. A
broken image is reported in its result and skipped; the cancel token is checked before every image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotator.core.predictor import CancelToken, Detection, PredictOptions, Predictor
from annotator.io.errors import DatasetError
from annotator.io.images import load_rgb


@dataclass(frozen=True)
class Progress:
    """n of N images done, after `elapsed` seconds."""

    done: int
    total: int
    elapsed: float

    @property
    def images_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.images_per_second
        return (self.total - self.done) / rate if rate > 0 else None

    def text(self) -> str:
        eta = self.eta_seconds
        eta_text = "--:--" if eta is None else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"
        return f"{self.done}/{self.total} images, {self.images_per_second:.2f} images/s, ETA {eta_text}"


@dataclass(frozen=True)
class ImageResult:
    """One image's outcome: detections at full resolution, or the reason it was skipped."""

    index: int
    path: Path
    width: int
    height: int
    detections: tuple[Detection, ...]
    error: str | None
    progress: Progress
    unreadable: bool = False  # the error is the image file's: it cannot be decoded (retrying will not help)

    @property
    def ok(self) -> bool:
        return self.error is None


def prelabel_images(
    predictor: Predictor,
    paths: Sequence[str | Path],
    options: PredictOptions,
    *,
    cancel: CancelToken | None = None,
) -> Iterator[ImageResult]:
    """Run `predictor` on each image in turn; stops before the next image once `cancel` is set."""
    started = time.perf_counter()
    total = len(paths)
    for index, raw_path in enumerate(paths):
        if cancel is not None and cancel.checkpoint():
            return
        path = Path(raw_path)
        try:
            image = load_rgb(path)
        except DatasetError as exc:
            progress = Progress(index + 1, total, time.perf_counter() - started)
            yield ImageResult(index, path, 0, 0, (), str(exc), progress, unreadable=True)
            continue
        unusable = options.unusable_size(image.shape[1], image.shape[0])
        if unusable is not None:  # the image's fault, not the model's
            progress = Progress(index + 1, total, time.perf_counter() - started)
            yield ImageResult(
                index, path, image.shape[1], image.shape[0], (), f"{path}: {unusable}", progress
            )
            continue
        try:
            detections = tuple(predictor.predict(image, options))
        except Exception as exc:  # a model failure on one image (out of memory, a CUDA error) is reported
            progress = Progress(index + 1, total, time.perf_counter() - started)
            error = f"{path}: the model failed on this image ({type(exc).__name__}: {exc})"
            yield ImageResult(index, path, image.shape[1], image.shape[0], (), error, progress)
            continue
        progress = Progress(index + 1, total, time.perf_counter() - started)
        yield ImageResult(index, path, image.shape[1], image.shape[0], detections, None, progress)
