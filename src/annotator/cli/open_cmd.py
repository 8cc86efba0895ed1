"""`annotator [open] [PATH] [--gt DATA] [--screenshot FILE] [--size WxH]`: the GUI on a folder, project,
COCO or LabelMe file, or a COCO results list with the dataset it belongs to."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "open",
        help="open the GUI on a folder of images, a project, a COCO or LabelMe JSON (default: the samples)",
    )
    parser.add_argument(
        "path", nargs="?", type=Path, help="image folder, .annotator project, COCO or LabelMe .json"
    )
    parser.add_argument(
        "--gt",
        type=Path,
        metavar="DATA",
        help="ground truth to compare with (a COCO file); for a COCO results list, the dataset its image "
        "ids belong to (a COCO file, or a folder of images named by id)",
    )
    parser.add_argument("--screenshot", type=Path, metavar="FILE", help="render the window to a PNG and exit")
    parser.add_argument(
        "--size", type=_size, default=(1600, 1000), metavar="WxH", help="window size for --screenshot"
    )
    parser.set_defaults(run=run)


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{2,5})[xX](\d{2,5})", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1600x1000, got {text!r}")
    return int(match[1]), int(match[2])


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.io.errors import DatasetError
    from annotator.io.results_file import NeedsDatasetError

    for given in (args.path, args.gt):
        if given is not None and not given.exists():
            raise DatasetError(given, "no such file or folder")
    if args.gt is not None and args.path is None:
        raise UsageError("--gt needs a PATH to open (the predictions to compare with it)")
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a screenshot needs no screen
    from annotator import app  # Qt is imported only when the GUI is wanted

    try:
        if args.screenshot is None:
            return app.run(args.path, dataset=args.gt)
        app.screenshot(args.path, args.screenshot, size=args.size, dataset=args.gt)
    except NeedsDatasetError as error:
        raise DatasetError(error.path, f"{error.reason}: --gt DATA") from None
    print(args.screenshot)
    return 0
