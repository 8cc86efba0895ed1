"""`annotator eval GT.json PRED.json [--json] [--per-image]`: mask (and box) AP/AR with COCOeval.

PRED is a COCO results list or a COCO dataset whose annotations carry scores. The tables are
pycocotools' own `summarize` output; per-class AP and per-image AP come from the same COCOeval run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from annotator.core.wording import counted


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="mask and box AP/AR of predictions against ground truth")
    parser.add_argument("gt", metavar="GT.json", type=Path, help="ground truth, a COCO instances file")
    parser.add_argument(
        "pred", metavar="PRED.json", type=Path, help="COCO results list or COCO dataset with scores"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--per-image", action="store_true", help="also list AP per image, worst first")
    parser.add_argument("--iou-type", choices=("segm", "bbox", "both"), default="both")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from annotator.core.evaluation import EvaluationError, evaluate, ground_truth, predictions_from
    from annotator.io.errors import DatasetError
    from annotator.io.eval_input import check_prediction_ids, checked_predictions, load_ground_truth
    from annotator.io.jsonfile import read_json

    # pycocotools trusts its input (a far vertex crashes it): both files pass the importer's checks first
    gt_dict = load_ground_truth(args.gt)
    try:
        gt = ground_truth(gt_dict)
    except EvaluationError as exc:
        raise DatasetError(args.gt, str(exc)) from None
    raw_predictions = read_json(args.pred)
    check_prediction_ids(raw_predictions, args.pred)
    try:
        predictions = predictions_from(raw_predictions, gt)
    except EvaluationError as exc:
        raise DatasetError(args.pred, str(exc)) from None
    predictions = checked_predictions(predictions, gt_dict, source=args.pred)
    iou_types = ("segm", "bbox") if args.iou_type == "both" else (args.iou_type,)
    try:
        results = [evaluate(gt, predictions, iou_type=t) for t in iou_types]
    except EvaluationError as exc:
        raise DatasetError(args.pred, str(exc)) from None

    if args.json:
        payload = {r.iou_type: r.as_dict() for r in results}
        if not args.per_image:
            for entry in payload.values():
                entry.pop("per_image_ap")
        print(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return 0
    names = {c["id"]: c.get("name", str(c["id"])) for c in gt.dataset.get("categories", [])}
    files = {i["id"]: i.get("file_name", str(i["id"])) for i in gt.dataset["images"]}
    for result in results:
        print(f"{'mask' if result.iou_type == 'segm' else 'box'} (iouType={result.iou_type}), "
              f"{counted(len(predictions), 'prediction')}, "
              f"{counted(len(gt.getImgIds()), 'image')}")  # fmt: skip
        print(result.table.rstrip())
        print(_per_class_text(result.per_class, names))
        if args.per_image:
            print(_per_image_text(result.per_image, files))
        print()
    return 0


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:6.2f}"


def _per_class_text(per_class, names) -> str:
    lines = ["per-class AP@[.50:.95] (%):"]
    defined = [(cid, ap) for cid, ap in per_class.items() if ap is not None]
    for cid, ap in sorted(defined, key=lambda item: item[0]):
        lines.append(f"  {cid:>4} {names.get(cid, str(cid)):<20} {_fmt(ap)}")
    absent = len(per_class) - len(defined)
    if absent:
        lines.append(f"  ({absent} categories without ground truth: no AP)")
    return "\n".join(lines)


def _per_image_text(per_image, files) -> str:
    lines = ["per-image AP (%), worst first:  AP@[.50:.95]  AP@.50  image"]
    # an image with nothing to measure (no ground truth there) is not among the worst: last
    order = sorted(per_image.items(), key=lambda item: (item[1][0] is None, item[1][0] or 0.0, item[0]))
    for image_id, (ap, ap50) in order:
        lines.append(f"  {_fmt(ap)}  {_fmt(ap50)}  {image_id}: {files.get(image_id, '')}")
    return "\n".join(lines)
