"""Batch pre-labelling: a generator over image files that yields each result as soon as it is ready.

No torch here: it drives any `core.predictor.Predictor`, so the GUI's worker and the CLI share it. A
broken image is reported in its result and skipped; the cancel token is checked before every image.
The next image is decoded on a thread while the model runs on this one (a 4000x3000 PNG takes about
0.35 s of CPU to decode; the decoders release the GIL).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    embedding: np.ndarray | None = None  # pooled features, with `options.embed` (`predict_and_embed`)

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
    with ThreadPoolExecutor(1, "decode") as decoder:
        upcoming = decoder.submit(_decode, Path(paths[0])) if total else None
        for index, raw_path in enumerate(paths):
            if cancel is not None and cancel.checkpoint():
                upcoming.cancel()
                return
            path = Path(raw_path)
            image = upcoming.result()
            if index + 1 < total:
                upcoming = decoder.submit(_decode, Path(paths[index + 1]))
            yield _result(predictor, index, path, image, options, total, started)


def _decode(path: Path) -> np.ndarray | DatasetError:
    """The image, or the DatasetError that says why it cannot be decoded."""
    try:
        return load_rgb(path)
    except DatasetError as exc:
        return exc


def _result(
    predictor: Predictor,
    index: int,
    path: Path,
    image: np.ndarray | DatasetError,
    options: PredictOptions,
    total: int,
    started: float,
) -> ImageResult:
    """The model's detections on one decoded image, or why there are none."""
    if isinstance(image, DatasetError):
        progress = Progress(index + 1, total, time.perf_counter() - started)
        return ImageResult(index, path, 0, 0, (), str(image), progress, unreadable=True)
    unusable = options.unusable_size(image.shape[1], image.shape[0])
    if unusable is not None:  # the image's fault, not the model's
        progress = Progress(index + 1, total, time.perf_counter() - started)
        return ImageResult(index, path, image.shape[1], image.shape[0], (), f"{path}: {unusable}", progress)
    embedding = None
    try:
        if options.embed and hasattr(predictor, "predict_and_embed"):
            found, embedding = predictor.predict_and_embed(image, options)
        else:
            found = predictor.predict(image, options)
        detections = tuple(found)
    except Exception as exc:  # a model failure on one image (out of memory, a CUDA error) is reported
        progress = Progress(index + 1, total, time.perf_counter() - started)
        error = f"{path}: the model failed on this image ({type(exc).__name__}: {exc})"
        return ImageResult(index, path, image.shape[1], image.shape[0], (), error, progress)
    progress = Progress(index + 1, total, time.perf_counter() - started)
    return ImageResult(
        index, path, image.shape[1], image.shape[0], detections, None, progress, embedding=embedding
    )
