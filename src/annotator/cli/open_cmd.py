"""`annotator [open] [PATH] [--screenshot FILE] [--size WxH]`: the GUI on a folder, project or COCO file."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "open", help="open the GUI on a folder of images, a project or a COCO JSON (default: the samples)"
    )
    parser.add_argument("path", nargs="?", type=Path, help="image folder, .annotator project or COCO .json")
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
    if args.screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a screenshot needs no screen
    from annotator import app  # Qt is imported only when the GUI is wanted

    if args.path is not None and not args.path.exists():
        from annotator.io.errors import DatasetError

        raise DatasetError(args.path, "no such file or folder")
    if args.screenshot is None:
        return app.run(args.path)
    app.screenshot(args.path, args.screenshot, size=args.size)
    print(args.screenshot)
    return 0
