"""`annotator prelabel IMAGES --out OUT [--engine local|ray] [--resume] [--model NAME] [--weights FILE] ...`.

IMAGES is a folder (searched recursively) or one image file. OUT is a COCO file of the predictions (RLE
masks with scores; a COCO results list with `--results`), or a `.annotator` project that gets them as
they arrive. Each finished image goes into a journal beside OUT at once (`OUT.journal`), so a killed run
loses nothing finished and `--resume` does only the rest; the COCO file is written from it, atomically,
at the end. `--embeddings FILE.npz` also keeps each image's pooled FPN features (journalled alike) for
`annotator rank`. `--engine ray` runs on a Ray cluster (docs/scaling.md). Broken images are reported on stderr
and skipped; missing weights or bad input exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from annotator.core.wording import counted
from annotator.io.errors import DatasetError

if TYPE_CHECKING:
    from annotator.inference.batch import ImageResult, Progress
    from annotator.io.prelabel_journal import PrelabelJournal, PrelabelRecord

_MODEL_NAMES = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prelabel", help="pre-label images with Mask R-CNN")
    parser.add_argument("images", metavar="IMAGES", help="a folder of images, or one image file")
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="the COCO .json to write, or a .annotator project to fill"
    )
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
        help="longest input side (default: the size a model trained by `annotator train` learnt at, else 1333)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "fp32", "bf16"),
        help="auto: bf16 after the ResNet body where the CPU has native bf16; bf16: whole network (faster, less exact)",
    )  # fmt: skip
    parser.add_argument(
        "--runtime", default="auto", choices=("auto", "torch", "openvino"),
        help="what runs the ResNet body, FPN, RPN head and mask head on a CPU; auto: OpenVINO where installed and the CPU has native bf16",
    )  # fmt: skip
    parser.add_argument("--results", action="store_true", help="write a COCO results list instead")
    parser.add_argument(
        "--embeddings", metavar="FILE.npz", type=Path,
        help="also write each image's pooled model features, for `annotator rank --embeddings`",
    )  # fmt: skip
    parser.add_argument(
        "--resume", action="store_true", help="go on from where a stopped run left off (skip finished images)"
    )
    parser.add_argument(
        "--engine", default="local", choices=("local", "ray"), help="in this process, or on Ray"
    )
    parser.add_argument(
        "--address",
        metavar="A",
        help="ray: the cluster (auto, or ray://HOST:PORT); default: a new local instance",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="ray: actors in the pool (default: what fits)"
    )
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="F", help="ray: GPUs per actor")
    parser.add_argument(
        "--cpus-per-worker",
        type=float,
        metavar="F",
        help="ray: CPUs per actor (default: what a node has left)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.io.prelabel_journal import PrelabelJournal, journal_path
    from annotator.io.prelabel_output import ProjectOutput, check_output_path, is_project_target

    engine = _engine(args)
    paths, root = _image_paths(Path(args.images))
    if not paths:
        raise UsageError(f"{args.images}: no images found (looked for jpg, png, bmp, tif, webp)")
    out = Path(args.out)
    check_output_path(out)
    from annotator.io.output_target import check_output

    if not is_project_target(out):  # `--out photo.jpg` would replace an image being labelled
        check_output(out, inputs=paths)
    if args.embeddings is not None:
        if args.embeddings.resolve() == out.resolve():
            raise UsageError("--embeddings and --out name the same file")
        check_output(args.embeddings, inputs=paths)
    options = _options(args)
    if is_project_target(out) and args.results:
        raise UsageError("--results writes a COCO file: give --out a .json name")
    if args.results:  # eval and audit read a results list by id, which says nothing of which image
        print(
            "annotator prelabel: note: a results list names images by id alone: these are this run's own "
            "(1, 2, ... in file-name order), not another dataset's; to compare with a COCO file, leave out "
            "--results (eval and audit match a COCO file's images by name)",
            file=sys.stderr,
        )
    project = ProjectOutput.open(out, root, paths) if is_project_target(out) else None
    try:
        journal = PrelabelJournal.open(journal_path(out), settings=_settings(args, root), resume=args.resume)
        try:
            return _run_with_journal(args, engine, paths, root, out, options, project, journal)
        finally:
            journal.close()
            if not journal.records:  # nothing finished: nothing to resume, no file to trip the next run
                journal.remove()
    finally:
        if project is not None:
            project.close()


def _run_with_journal(args, engine, paths, root, out, options, project, journal: PrelabelJournal) -> int:
    from annotator.cli.prelabel_engines import LoadedInfo
    from annotator.io.prelabel_output import CocoOutput, ProjectOutput

    name_of = _namer(project, root)
    done = journal.done()
    todo = [p for p in paths if name_of(p) not in done]
    if journal.records:
        _say_resuming(journal, len(paths), len(todo))
    if todo or journal.model is None:
        info = engine.load()
        journal.set_model(info.name, info.categories)
    else:  # only the output is left to write: no model needed
        info = LoadedInfo(*journal.model, description="all images done earlier")
    if args.max_size is None and info.input_size is not None:
        min_size, max_size = info.input_size  # objects are found best at the scale they were learnt at
        options = dataclasses.replace(options, min_size=min_size, max_size=max_size)
    options = _with_classes(options, args.classes, info.categories)
    if project is not None:
        target = ProjectOutput(project, model_name=info.name, categories=info.categories)
    else:
        target = CocoOutput(out, results=args.results)
    interrupted = _predict_all(engine, todo, options, target, journal, name_of)
    journal.sync()
    try:
        order = [name_of(p) for p in paths]
        summary = target.finish(journal.records, order, model_name=info.name, categories=info.categories)
        failed = sum(1 for name in order if name in journal.records and not journal.records[name].ok)
        if args.embeddings is not None:
            _write_embeddings(args.embeddings, journal, order)
    except DatasetError as exc:
        raise DatasetError(exc.path, f"{exc.reason}; {_kept(journal)}", item=exc.item) from None
    if interrupted:  # what was done is saved; main reports the interruption (exit 130)
        print(
            f"wrote {out}: the {summary.images} of {len(paths)} images done so far; "
            f"--resume goes on from there ({journal.path})",
            file=sys.stderr,
        )
        raise KeyboardInterrupt
    journal.remove()
    print(
        f"wrote {out}: {counted(summary.images, 'image')}, {counted(summary.predictions, 'prediction')}"
        + (f", {counted(failed, 'image')} skipped" if failed else "")
        + f" ({info.description})"
        + (f"; and {args.embeddings}" if args.embeddings is not None else "")
    )
    return 0


def _write_embeddings(path: Path, journal: PrelabelJournal, order: list[str]) -> None:
    """The pooled features of every image done, by file name (`rank --embeddings` reads them)."""
    from annotator.io.image_descriptors import save_embeddings

    records = (journal.records.get(name) for name in order)
    save_embeddings(
        path, {r.file_name: r.embedding for r in records if r is not None and r.embedding is not None}
    )


def _namer(project, root: Path):
    """How an image is named in the output: relative to the project's folder, or to IMAGES."""
    if project is None:
        return lambda path: path.relative_to(root).as_posix()
    images_root = project.root.resolve()
    return lambda path: path.resolve().relative_to(images_root).as_posix()


def _say_resuming(journal: PrelabelJournal, total: int, todo: int) -> None:
    damaged = f" ({journal.skipped_lines} damaged lines ignored)" if journal.skipped_lines else ""
    print(
        f"annotator prelabel: resuming {journal.path}: {total - todo} of {total} images done earlier, "
        f"{todo} to do{damaged}",
        file=sys.stderr,
    )


def _engine(args: argparse.Namespace):
    """The engine asked for; a missing Ray or Ray options without it are usage errors (exit 2)."""
    from annotator.cli.main import UsageError
    from annotator.cli.prelabel_engines import LocalEngine, RayEngine
    from annotator.core.predictor import Device, ModelSpec, Precision, Runtime

    spec = ModelSpec(
        name=args.model,
        weights=args.weights,
        device=Device(args.device),
        precision=Precision(args.precision),
        runtime=Runtime(args.runtime),
    )
    if args.engine == "local":
        if args.address or args.workers or args.gpus_per_worker or args.cpus_per_worker:
            raise UsageError(
                "--address, --workers, --gpus-per-worker and --cpus-per-worker need --engine ray"
            )
        return LocalEngine(spec)
    from annotator.inference.ray_engine import RayOptions, RayUnavailable

    if (args.workers is not None and args.workers < 1) or args.gpus_per_worker < 0:
        raise UsageError("--workers must be at least 1, --gpus-per-worker at least 0")
    ray_options = RayOptions(
        address=args.address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
    )
    try:
        return RayEngine(spec, ray_options, report=lambda text: print(text, file=sys.stderr, flush=True))
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None


def _options(args: argparse.Namespace):
    from annotator.cli.main import UsageError
    from annotator.core.predictor import PredictOptions

    try:
        return PredictOptions.with_max_size(
            args.max_size or 1333,
            score_threshold=args.score_thr,
            mask_threshold=args.mask_thr,
            max_detections=args.max_dets,
            embed=args.embeddings is not None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _settings(args: argparse.Namespace, root: Path) -> dict:
    """What a resumed run must share with the run it continues (the engine and its size may differ)."""
    return {
        "images": str(root.resolve()),
        "model": args.model,
        "weights": None if args.weights is None else str(args.weights.resolve()),
        "score_thr": args.score_thr,
        "mask_thr": args.mask_thr,
        "max_dets": args.max_dets,
        "classes": args.classes or None,
        "max_size": args.max_size,
        "precision": args.precision,
        "runtime": args.runtime,
    } | ({"embeddings": True} if args.embeddings is not None else {})  # a journal's images all have them


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


def _predict_all(engine, todo: list[Path], options, target, journal, name_of) -> bool:
    """Run the engine over `todo`, writing each image to the target and the journal as it comes.

    Ctrl-C stops it, keeping what finished: True when interrupted. Any other failure is raised after a
    word on what was kept.
    """
    if not todo:
        return False
    bar = _ProgressBar(sys.stderr)
    try:
        for result in engine.results(todo, options):
            _keep(_record(result, name_of), target, journal, bar)
            bar.update(result.progress)
    except KeyboardInterrupt:
        bar.close()
        return True
    except DatasetError as exc:  # the journal or the project could not be written (a full disk)
        bar.close()
        raise DatasetError(exc.path, f"{exc.reason}; {_kept(journal)}", item=exc.item) from None
    except BaseException:
        bar.close()
        print(f"annotator prelabel: {_kept(journal)}", file=sys.stderr)
        raise
    bar.close()
    return False


def _kept(journal: PrelabelJournal) -> str:
    return (
        f"the {counted(len(journal.records), 'image')} finished are kept in {journal.path}: "
        "run the same command with --resume to go on"
    )


def _record(result: ImageResult, name_of) -> PrelabelRecord:
    from annotator.io.prelabel_journal import PrelabelRecord

    name = name_of(result.path)
    if not result.ok:
        return PrelabelRecord(name, result.width, result.height, (), result.error)
    return PrelabelRecord(name, result.width, result.height, result.detections, None, result.embedding)


def _keep(record: PrelabelRecord, target, journal: PrelabelJournal, bar: _ProgressBar) -> None:
    """Write one image to the target, then to the journal; report it if it was skipped."""
    from dataclasses import replace

    problem = target.put(record)
    if problem is not None:
        record = replace(record, detections=(), error=problem)
    journal.append(record, detections=target.keeps_detections)
    if not record.ok:
        bar.message(f"annotator prelabel: skipped {record.error}")


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
