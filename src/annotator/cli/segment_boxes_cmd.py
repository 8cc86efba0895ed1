"""`annotator segment-boxes DATA --out OUT.json [--weights FILE | --grabcut] ...`: boxes-only annotations
to masks, turning a detection dataset into an instance-segmentation one.

Every box without a region (a COCO annotation with a bbox and no segmentation, a LabelMe rectangle) gets
the mask the model's mask head finds in it (or OpenCV's GrabCut with `--grabcut`), keeping its class and
id; everything else is written as it was. Boxes that give no mask are named on stderr and kept as boxes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_MODEL_NAMES = ("maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")
_SHOWN = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment-boxes", help="give every box-only annotation a mask (the model's mask head, or GrabCut)"
    )
    parser.add_argument("data", metavar="DATA", help="a COCO JSON, a LabelMe JSON or folder, or a project")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="the COCO file to write")
    parser.add_argument("--images", metavar="DIR", help="where the images are, if not beside DATA")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--weights", metavar="FILE", type=Path, help="a checkpoint (ours or torchvision's)")
    how.add_argument("--grabcut", action="store_true", help="OpenCV GrabCut, no model")
    parser.add_argument("--model", default=_MODEL_NAMES[0], choices=_MODEL_NAMES, help="architecture")
    parser.add_argument(
        "--agnostic", action="store_true", help="the most decided mask channel, whatever the box's class"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--max-size", type=int, metavar="N",
        help="longest input side (default: 1.5 times a trained checkpoint's own size; torchvision's weights: "
        "1333)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.io.box_only import box_only_instances
    from annotator.io.dataset_files import load_dataset_file
    from annotator.io.jsonfile import read_json
    from annotator.io.output_target import check_dataset_output

    source, out = Path(args.data), Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    loaded = load_dataset_file(source, images_root=args.images)
    root = Path(args.images) if args.images else loaded.root or source.parent
    check_dataset_output(out, loaded, [root, loaded.path.parent], also=[args.weights])
    data = read_json(source) if source.is_file() and source.suffix.lower() == ".json" else None
    dataset = loaded.dataset
    boxes = sorted(box_only_instances(source, data, dataset))
    segment = _grabcut if args.grabcut else _model_segmenter(args)
    started, failed, kept = time.monotonic(), [], 0
    by_image: dict[int, list[int]] = {}
    for instance_id in boxes:
        by_image.setdefault(dataset.instances[instance_id].image_id, []).append(instance_id)
    done = 0
    for image_id, ids in by_image.items():
        lines, not_segmented = _segment_image(dataset, root, image_id, ids, segment, args)
        failed += lines
        kept += not_segmented
        done += len(ids)
        _progress(done, len(boxes), started)
    _write(dataset, out)
    _warn_skipped(loaded)
    for line in failed[:_SHOWN]:
        print(f"annotator segment-boxes: {line}", file=sys.stderr)
    if len(failed) > _SHOWN:
        print(f"annotator segment-boxes: {len(failed) - _SHOWN} more lines like these", file=sys.stderr)
    print(
        f"wrote {out}: {len(boxes) - kept} of {len(boxes)} boxes segmented"
        + (f", {kept} kept as boxes" if kept else "")
    )
    return 0


def _segment_image(
    dataset, root: Path, image_id: int, ids: list[int], segment, args
) -> tuple[list[str], int]:
    """Masks for these box-only instances of one image; lines naming those that gave none, and how many
    boxes that is (an unreadable image: one line for all of its boxes)."""
    from annotator.core.geometry import Mask
    from annotator.core.predictor import BoxPrompt
    from annotator.io.errors import DatasetError
    from annotator.io.images import load_rgb
    from annotator.io.paths import resolve_inside

    image = dataset.images[image_id]
    try:
        pixels = load_rgb(resolve_inside(root, image.file_name))
    except DatasetError as exc:
        return [f"{image.file_name}: {exc.reason}; its {len(ids)} box(es) kept as boxes"], len(ids)
    failed, changed = [], []
    for instance_id in ids:
        instance = dataset.instances[instance_id]
        x, y, w, h = instance.geometry.bbox(image.height, image.width)
        prompt = BoxPrompt((x, y, x + w, y + h), instance.category_id, agnostic=args.agnostic)
        mask = segment(image_id, pixels, prompt)
        if not mask.any():
            failed.append(f"{image.file_name}: annotation {instance_id}: no mask found in its box")
            continue
        changed.append(instance.with_changes(geometry=Mask.from_array(mask)))
    dataset.put_instances(changed, notify=False)
    return failed, len(failed)


def _warn_skipped(loaded) -> None:
    """What the importer skipped or changed, as `convert` says it: an annotation whose box is NaN or of
    size 0 was left out of OUT without a word. The note on box-only annotations is what this command is
    for, and is not repeated."""
    from annotator.io.coco import BBOX_NOTE

    lines = [line for line in loaded.problems if BBOX_NOTE not in line]
    for line in lines[:_SHOWN]:
        print(f"annotator segment-boxes: warning: {loaded.path}: {line}", file=sys.stderr)
    if len(lines) > _SHOWN:
        print(f"annotator segment-boxes: warning: {loaded.path}: {len(lines) - _SHOWN} more", file=sys.stderr)


def _grabcut(_image_id, pixels, prompt):
    from annotator.core.grabcut import segment_box

    return segment_box(pixels, prompt.box)


def _model_segmenter(args):
    from annotator.core.predictor import Device, ModelSpec, PredictOptions
    from annotator.inference.allocator import keep_freed_memory
    from annotator.inference.box_prompt import BoxSegmenter
    from annotator.inference.predictor import TorchPredictor, configure_threads

    configure_threads()
    keep_freed_memory()
    spec = ModelSpec(name=args.model, weights=args.weights, device=Device(args.device))
    options = None if args.max_size is None else PredictOptions.with_max_size(args.max_size)
    segmenter = BoxSegmenter(TorchPredictor.from_spec(spec), options=options)
    return lambda image_id, pixels, prompt: segmenter.segment(image_id, pixels, prompt).mask.to_array()


def _write(dataset, out: Path) -> None:
    from annotator.io.coco import save_coco

    save_coco(dataset, out)


def _progress(done: int, total: int, started: float) -> None:
    if not sys.stderr.isatty() or not total:
        return
    rate = done / max(time.monotonic() - started, 1e-9)
    eta = (total - done) / rate if rate else 0.0
    print(f"\r{done}/{total} boxes  {rate:.1f} boxes/s  ETA {eta:.0f} s ", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)
