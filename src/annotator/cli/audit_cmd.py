"""`annotator audit DATA [PRED] --out ISSUES.json`: likely label errors (missing, spurious, class swap,
outline), worst first.

DATA is a COCO JSON, LabelMe JSON or folder, or a `.annotator` project; its accepted instances are the
labels. PRED is a COCO results list (DATA's image ids) or a COCO dataset with scores (images matched by
file name); without PRED, the project's own unreviewed predictions are used. The images are read too
(from `--images`, or where DATA keeps them), to check each label's outline against the picture's edges
and to compare its class with similar labels' by shape and colour; `--no-images` skips that. Flags
dismissed in the window (kept in the project) are left out unless `--all`. ISSUES.json is written
atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from annotator.core.wording import counted


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="find likely label errors by comparing with predictions")
    parser.add_argument("data", metavar="DATA", help="the labels: COCO JSON, LabelMe, or .annotator project")
    parser.add_argument(
        "pred", metavar="PRED", nargs="?", type=Path, help="predictions (default: DATA's own)"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="ISSUES.json", help="the flags, as JSON")
    parser.add_argument("--match-iou", type=float, default=0.5, help="IoU that makes the same object (0.5)")
    parser.add_argument(
        "--outline-iou", type=float, default=0.85, help="a match below this is a bad outline (0.85)"
    )
    parser.add_argument("--min-score", type=float, default=0.5, help="ignore predictions scoring less (0.5)")
    parser.add_argument("--all", action="store_true", help="include flags dismissed in the window")
    parser.add_argument("--images", metavar="DIR", help="the images' folder (default: where DATA keeps them)")
    parser.add_argument(
        "--no-images", action="store_true",
        help="do not read the images: no outline-to-edge check, classes compared by shape alone (faster)",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.cli.project_note import note_window_edits
    from annotator.core.audit import AuditOptions, audit, own_predictions
    from annotator.io.dataset_files import InputFormat, load_dataset_file
    from annotator.io.image_pixels import ImagePixels
    from annotator.io.jsonfile import write_json
    from annotator.io.output_target import check_dataset_output

    if not 0 <= args.match_iou < args.outline_iou <= 1:
        raise UsageError("need 0 <= --match-iou < --outline-iou <= 1")
    if not 0 <= args.min_score <= 1:
        raise UsageError("--min-score must be between 0 and 1")
    loaded = load_dataset_file(args.data, images_root=args.images)
    note_window_edits("audit", args.data)
    dataset = loaded.dataset
    check_dataset_output(args.out, loaded, [args.images, loaded.root, loaded.path.parent], also=[args.pred])
    if args.pred is None:
        predictions = own_predictions(dataset)
    else:
        from annotator.io.predictions import load_predictions

        predictions = load_predictions(args.pred, dataset)
    options = AuditOptions(match_iou=args.match_iou, outline_iou=args.outline_iou, min_score=args.min_score)
    pixels = None if args.no_images else ImagePixels(_images_root(args, loaded))
    report = audit(dataset, predictions, options, pixels=pixels)
    if pixels is not None:
        _warn(pixels.problems)
    dismissed: frozenset[str] = frozenset()
    if loaded.format is InputFormat.PROJECT and not args.all:
        from annotator.io.dismissed import dismissed_in_file

        dismissed = dismissed_in_file(loaded.path)
        report = report.without(dismissed)
    write_json(args.out, _payload(args, loaded, report, len(dismissed)), indent=True)
    counts = {}
    for flag in report.flags:
        counts[flag.kind.value] = counts.get(flag.kind.value, 0) + 1
    summary = ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "nothing suspicious"
    print(f"audited {counted(report.images, 'image')} ({counted(report.labels, 'label')}, "
          f"{counted(report.predictions, 'prediction')}): "
          f"{summary}; wrote {args.out}")  # fmt: skip
    if report.images == 0:
        print(
            "annotator audit: note: no image holds both labels (accepted, edited or drawn) and predictions: "
            "nothing to compare" + ("" if args.pred else " (give a predictions file as PRED)"),
            file=sys.stderr,
        )
    weak = report.weak_predictions()
    if weak is not None:
        print(f"annotator audit: note: {weak} (--min-score)", file=sys.stderr)
    return 0


def _images_root(args: argparse.Namespace, loaded) -> Path:
    root = args.images or loaded.root
    if root is None:  # a COCO file: its images beside it or in a usual folder near it
        from annotator.io.images_root import guess_images_root

        root = guess_images_root(loaded.path)
    return Path(root)


def _warn(problems: list[str]) -> None:
    for problem in problems[:20]:
        print(
            f"annotator audit: warning: {problem} (its labels not checked against the picture)",
            file=sys.stderr,
        )
    if len(problems) > 20:
        print(
            f"annotator audit: warning: {len(problems) - 20} more images could not be read", file=sys.stderr
        )


def _payload(args, loaded, report, dismissed: int) -> dict[str, Any]:
    images = loaded.dataset.images
    return {
        "data": str(loaded.path),
        "predictions": "own unreviewed predictions" if args.pred is None else str(args.pred),
        "images": report.images,
        "labels": report.labels,
        "predictions_used": report.predictions,
        "dismissed_left_out": dismissed,
        "flags": [_flag_dict(flag, images[flag.image_id], loaded.dataset) for flag in report.flags],
    }


def _flag_dict(flag, image, dataset) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": flag.key,
        "kind": flag.kind.value,
        "suspicion": round(flag.suspicion, 4),
        "file_name": image.file_name,
        "image_id": image.id,
        "instance_id": flag.instance_id,
        "iou": None if flag.iou is None else round(flag.iou, 4),
        "message": flag.message,
        "evidence": [e.value for e in flag.evidence],
    }
    if flag.instance_id is not None:
        out["label_category_id"] = dataset.instances[flag.instance_id].category_id
    prediction = flag.prediction
    if prediction is not None:
        rle = prediction.geometry.to_rle(image.height, image.width)
        out["prediction"] = {
            "category_id": prediction.category_id,
            "score": prediction.score,
            "bbox": list(prediction.geometry.bbox(image.height, image.width)),
            "segmentation": {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")},
        }
    return out
