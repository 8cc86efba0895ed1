"""`annotator convert IN --to coco|labelme|yolo|panoptic --out OUT [--images DIR] [--rle]`.

IN is a COCO JSON, a LabelMe JSON or a folder of them (or a `.annotator` project). Exit 0 on success
(what the conversion skipped or changed is listed on stderr as warnings), 2 on bad input, and 2 after
writing the rest when IN is a project with damaged rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.core.wording import counted

if TYPE_CHECKING:
    from annotator.core.model import Dataset
    from annotator.io.problems import Written

FORMATS = ("coco", "labelme", "yolo", "panoptic")
_SHOWN_WARNINGS = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert between COCO, LabelMe, YOLO and COCO panoptic")
    parser.add_argument("input", metavar="IN", help="COCO JSON, LabelMe JSON or folder")
    parser.add_argument("--to", required=True, choices=FORMATS, help="output format")
    parser.add_argument("--out", required=True, metavar="OUT", help="COCO: a .json file; others: a folder")
    parser.add_argument("--images", metavar="DIR", help="the images folder (checked for COCO input)")
    parser.add_argument("--rle", action="store_true", help="COCO: write every mask as RLE")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.cli.project_note import note_window_edits
    from annotator.io.dataset_files import load_dataset_file
    from annotator.io.export_files import refuse_linked_folder

    if args.rle and args.to != "coco":
        raise UsageError("--rle applies to --to coco only")
    out = Path(args.out)
    loaded = load_dataset_file(args.input, images_root=args.images)
    note_window_edits("convert", args.input)
    images_root = Path(args.images) if args.images else loaded.root
    try:
        if args.to != "coco" or out.is_dir():  # a link to a file is replaced by the atomic rename
            refuse_linked_folder(out)  # a dataset can ship `lm` linked anywhere: never written into it
        _refuse_overwriting_input(loaded.path, loaded.dataset, args.to, out, images_root)
        if args.to == "coco" and not out.is_dir() and out.suffix.lower() != ".json":
            raise UsageError(
                f"--out {out}: a COCO file ends in .json (a file of another kind is not replaced)"
            )
        _make_folder(out if args.to != "coco" else None if out.is_dir() else out.parent)
    except OSError as exc:  # a name too long, a loop of links: said as the path's problem
        from annotator.io.errors import DatasetError

        raise DatasetError(out, f"cannot write here: {exc.strerror or exc}") from None
    written = _write(loaded.dataset, args.to, out, rle=args.rle, images_root=images_root)
    _warn(loaded.path, loaded.problems)
    _warn(out, written.notes)
    target = out / "annotations.json" if args.to == "coco" and out.is_dir() else out
    images, instances = counted(len(loaded.dataset.images), "image"), counted(written.instances, "instance")
    print(f"wrote {target} ({args.to}): {images}, {instances}")
    from annotator.cli.report_text import damaged_rows_status

    return damaged_rows_status("convert", loaded)


def _write(dataset: Dataset, to: str, out: Path, *, rle: bool, images_root: Path | None) -> Written:
    if to == "coco":
        from annotator.core.areas import precompute_areas
        from annotator.io.coco import save_coco
        from annotator.io.gc_pause import gc_paused
        from annotator.io.problems import Problems, Written

        images = dataset.images  # COCO stores every polygon's exact area: rasterise them on every core
        with gc_paused():  # keeping 100,000 areas would otherwise walk every loaded object again
            precompute_areas(
                (i.geometry, images[i.image_id].height, images[i.image_id].width)
                for i in dataset.instances.values()
            )
        target = out / "annotations.json" if out.is_dir() else out
        problems = Problems()
        count = save_coco(dataset, target, rle=rle, problems=problems)
        return Written(count, problems.lines())
    if to == "labelme":
        from annotator.io.labelme import save_labelme

        return save_labelme(dataset, out, images_root=images_root)
    if to == "panoptic":
        from annotator.io.panoptic import save_panoptic

        return save_panoptic(dataset, out)
    from annotator.io.yolo import save_yolo

    return save_yolo(dataset, out)


def _make_folder(folder: Path | None) -> None:
    """The output folder, made if missing; a file, a pipe or a link to nothing there is refused."""
    from annotator.io.errors import DatasetError

    if folder is None:
        return
    if folder.is_symlink() and not folder.exists():
        raise DatasetError(folder, "is a link to nothing; --out names a folder to write in")
    if folder.exists() and not folder.is_dir():
        raise DatasetError(folder, "--out must be a folder for this format, and this is a file")
    folder.mkdir(parents=True, exist_ok=True)


def _refuse_overwriting_input(
    source: Path, dataset: Dataset, to: str, out: Path, images_root: Path | None
) -> None:
    """`convert labelme_dir --to labelme --out labelme_dir` would replace the files it reads, and
    `--to coco --out an_image.png` an image: refuse (exit 2) before writing anything."""
    from annotator.io.errors import DatasetError
    from annotator.io.export_files import export_files
    from annotator.io.output_target import check_output, dataset_inputs, first_written_over

    if to == "coco":
        target = out / "annotations.json" if out.is_dir() else out
        roots = [images_root, source if source.is_dir() else source.parent]
        check_output(target, inputs=dataset_inputs(source, dataset, roots, target))
        return
    inputs = list(source.rglob("*.json")) if source.is_dir() else [source]
    written_over = first_written_over(export_files(dataset, out, to), inputs)
    if written_over is not None:
        raise DatasetError(written_over, "is an input file: --out would write over it; choose another --out")


def _warn(path: Path, problems: list[str]) -> None:
    for line in problems[:_SHOWN_WARNINGS]:
        print(f"annotator convert: warning: {path}: {line}", file=sys.stderr)
    if len(problems) > _SHOWN_WARNINGS:
        print(f"annotator convert: warning: {path}: {len(problems) - _SHOWN_WARNINGS} more", file=sys.stderr)
