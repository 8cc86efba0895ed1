"""`annotator prelabel IMAGES --out OUT.json [--model NAME] [--weights FILE] [--score-thr 0.5] ...`.

IMAGES is a folder (searched recursively) or one image file. Writes a COCO dataset of the predictions
(RLE masks with scores), or a COCO results list with `--results`. Broken images are reported on stderr
and skipped; missing weights or bad input exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from annotator.core.model import Dataset
    from annotator.inference.batch import Progress

_MODEL_NAMES = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prelabel", help="pre-label images with Mask R-CNN")
    parser.add_argument("images", metavar="IMAGES", help="a folder of images, or one image file")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="the COCO file to write")
    parser.add_argument("--model", default=_MODEL_NAMES[0], choices=_MODEL_NAMES, help="architecture")
    parser.add_argument(
        "--weights", metavar="FILE", type=Path, help="a checkpoint (ours or a torchvision state dict)"
    )
    parser.add_argument("--score-thr", type=float, default=0.5, help="keep detections scoring at least this")
    parser.add_argument("--mask-thr", type=float, default=0.5, help="mask probability threshold")
    parser.add_argument("--max-dets", type=int, default=100, help="detections per image, at most")
    parser.add_argument("--classes", help="comma-separated category ids or names to keep")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--max-size", type=int, metavar="N",
        help="longest input side (default: the size a checkpoint of ours was trained at, else 1333)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "fp32", "bf16"),
        help="auto: bf16 after the ResNet body where the CPU has native bf16; bf16: whole network (faster, less exact)",
    )  # fmt: skip
    parser.add_argument("--results", action="store_true", help="write a COCO results list instead")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from annotator.cli.main import UsageError
    from annotator.core.predictor import Device, ModelSpec, Precision, PredictOptions

    paths, root = _image_paths(Path(args.images))
    if not paths:
        raise UsageError(f"{args.images}: no images found (looked for jpg, png, bmp, tif, webp)")
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    try:
        options = PredictOptions.with_max_size(
            args.max_size or 1333,
            score_threshold=args.score_thr,
            mask_threshold=args.mask_thr,
            max_detections=args.max_dets,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    spec = ModelSpec(
        name=args.model, weights=args.weights, device=Device(args.device), precision=Precision(args.precision)
    )

    from annotator.inference.allocator import keep_freed_memory
    from annotator.inference.predictor import TorchPredictor, configure_threads

    configure_threads()
    keep_freed_memory()
    predictor = TorchPredictor.from_spec(spec)
    if args.max_size is None and predictor.info.input_size:
        min_size, max_size = predictor.info.input_size  # objects look best at the scale they were learnt
        options = replace(options, min_size=min_size, max_size=max_size)
    options = _with_classes(options, args.classes, predictor.info.categories)
    dataset, failed, interrupted = _predict_all(predictor, paths, root, options)
    _write(dataset, out, results=args.results)
    if interrupted:  # what was done is saved; main reports the interruption (exit 130)
        print(f"wrote {out}: the first {len(dataset.images)} of {len(paths)} images", file=sys.stderr)
        raise KeyboardInterrupt
    count = len(dataset.instances)
    print(
        f"wrote {out}: {len(dataset.images)} images, {count} predictions"
        + (f", {failed} images skipped" if failed else "")
        + f" ({predictor.info.name}, {predictor.info.device}, {predictor.info.precision})"
    )
    return 0


def _image_paths(images: Path) -> tuple[list[Path], Path]:
    from annotator.io.errors import DatasetError
    from annotator.io.images import is_image_file, list_images

    if images.is_dir():
        return list_images(images), images
    if images.is_file():
        if not is_image_file(images):
            raise DatasetError(images, "not an image file (jpg, png, bmp, tif, webp) or a folder")
        return [images], images.parent
    raise DatasetError(images, "no such file or folder")


def _with_classes(options, classes: str | None, categories):
    from dataclasses import replace

    from annotator.cli.main import UsageError

    if not classes:
        return options
    by_name = {c.name.casefold(): c.id for c in categories}
    ids = set()
    for raw in classes.split(","):
        key = raw.strip().casefold()
        if key.isdigit() and int(key) in {c.id for c in categories}:
            ids.add(int(key))
        elif key in by_name:
            ids.add(by_name[key])
        else:
            raise UsageError(f"--classes: the model has no class {raw.strip()!r}")
    return replace(options, classes=frozenset(ids))


def _predict_all(predictor, paths: list[Path], root: Path, options) -> tuple[Dataset, int, bool]:
    """Run the batch, putting each image's detections into a fresh dataset as they come.

    Ctrl-C stops it after the current image: (dataset so far, images skipped, interrupted).
    """
    from annotator.core.model import Dataset
    from annotator.inference.batch import prelabel_images

    dataset = Dataset()
    dataset.put_categories(predictor.info.categories, notify=False)
    bar = _ProgressBar(sys.stderr)
    failed = 0
    try:
        for result in prelabel_images(predictor, paths, options):
            failed += _add_result(dataset, result, root, predictor, bar)
    except KeyboardInterrupt:
        bar.close()
        return dataset, failed, True
    bar.close()
    return dataset, failed, False


def _add_result(dataset: Dataset, result, root: Path, predictor, bar: _ProgressBar) -> int:
    """Put one image and its detections into `dataset`; 1 if the image was skipped, else 0."""
    from annotator.core.model import Image
    from annotator.core.prelabel import prelabel_edit

    try:
        if not result.ok:
            bar.message(f"annotator prelabel: skipped {result.error}")
            return 1
        image_id = len(dataset.images) + 1
        file_name = result.path.relative_to(root).as_posix()
        dataset.put_images([Image(image_id, file_name, result.width, result.height)], notify=False)
        edit = prelabel_edit(
            dataset, image_id, result.detections, model_name=predictor.info.name,
            categories=predictor.info.categories,
        )  # fmt: skip
        edit.apply(dataset)
        return 0
    finally:
        bar.update(result.progress)


def _write(dataset: Dataset, out: Path, *, results: bool) -> None:
    from annotator.io.coco import save_coco, save_coco_results

    if results:
        save_coco_results(dataset, out)
    else:
        save_coco(dataset, out, rle=True, include_scores=True)


class _ProgressBar:
    """A one-line bar on a terminal; on a pipe or file, a plain line every few seconds and at the end."""

    def __init__(self, stream: TextIO, *, every: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self._last = 0.0
        self._drawn = False

    def update(self, progress: Progress) -> None:
        if self.tty:
            width = 30
            filled = int(width * progress.done / max(progress.total, 1))
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.text()}"
            self.stream.write(line)
            self.stream.flush()
            self._drawn = True
            return
        now = time.monotonic()
        if progress.done == progress.total or now - self._last >= self.every:
            self._last = now
            print(progress.text(), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\033[K")
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
