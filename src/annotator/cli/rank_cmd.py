"""`annotator rank DATA --out ORDER.txt`: which images to label next (active learning).

DATA is a COCO JSON, LabelMe JSON or folder, or a `.annotator` project; the images nobody has labelled
(`rules.labelled_image_ids`: the others are the labelled set) are ranked (`core.ranking`) from their
stored predictions and an image embedding: the colour/texture descriptor of each image file (kept in
`DATA.descriptors.npz` beside DATA), or vectors given with `--embeddings` (an .npz of `file_names` and
`vectors`, such as pooled model features). ORDER.txt gets one file name per line, best first, written
atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from annotator.core.wording import counted


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rank", help="rank the images to label next (active learning)")
    parser.add_argument(
        "data", metavar="DATA", help="COCO JSON, LabelMe JSON or folder, or .annotator project"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="ORDER.txt", help="file names, best first")
    parser.add_argument("--images", metavar="DIR", type=Path, help="the images folder (default: beside DATA)")
    parser.add_argument("--embeddings", metavar="FILE.npz", type=Path, help="vectors to use per file name")
    parser.add_argument("--score-thr", type=float, default=0.5, help="the review threshold (default 0.5)")
    parser.add_argument(
        "--aggregate",
        choices=("any", "sum"),
        default="any",
        help="an image's doubts: 'any', the chance that at least one prediction is wrong (default), or "
        "'sum', the corrections it is expected to need (favours crowded images)",
    )
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the descriptor sidecar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from annotator.cli.main import UsageError
    from annotator.cli.project_note import note_window_edits
    from annotator.core.ranking import RankOptions, dataset_uncertainty, rank_images
    from annotator.core.rules import labelled_image_ids
    from annotator.io.atomic import write_bytes_atomic
    from annotator.io.dataset_files import load_dataset_file
    from annotator.io.output_target import check_dataset_output

    if not 0 <= args.score_thr <= 1:
        raise UsageError("--score-thr must be between 0 and 1")
    loaded = load_dataset_file(args.data, images_root=args.images)
    note_window_edits("rank", args.data)
    dataset = loaded.dataset
    roots = [args.images, loaded.root, loaded.path.parent]
    check_dataset_output(args.out, loaded, roots, also=[args.embeddings])
    options = RankOptions(score_threshold=args.score_thr, aggregate=args.aggregate)
    uncertainty = dataset_uncertainty(dataset, options)
    vectors = _embeddings(args, loaded)
    done = labelled_image_ids(dataset)  # done, or holding a person's work (labels imported with it too)
    labelled = {i: vectors[i] for i in done if i in vectors}
    ranking = rank_images(
        uncertainty,
        {i: v for i, v in vectors.items() if i not in done},
        labelled=labelled,
        options=options,
    )
    names = [dataset.images[r.image_id].file_name for r in ranking.images]
    write_bytes_atomic(args.out, "".join(f"{name}\n" for name in names).encode("utf-8"))
    unknown = int(np.isnan(uncertainty.values).sum())
    print(
        f"ranked {counted(len(names), 'image')} nobody has labelled ({len(names) - unknown} with "
        f"predictions, {unknown} without; {counted(len(labelled), 'labelled image')} as the labelled set); "
        f"wrote {args.out}"
    )
    return 0


def _embeddings(args: argparse.Namespace, loaded) -> dict:
    from annotator.io.image_descriptors import describe_images, load_embeddings, sidecar_path

    if args.embeddings is not None:
        vectors = load_embeddings(args.embeddings, loaded.dataset)
        missing = len(loaded.dataset.images) - len(vectors)
        if missing:  # names of another dataset matched nothing, and the order said nothing of it
            print(
                f"annotator rank: warning: {args.embeddings}: {missing} of the {len(loaded.dataset.images)} "
                "images have no vector there (ranked after the others, by uncertainty alone)",
                file=sys.stderr,
            )
        return vectors
    root = args.images or loaded.root
    if root is None:  # a COCO file: its images beside it or in a usual folder near it
        from annotator.io.project import guess_images_root

        root = guess_images_root(loaded.path)
    sidecar = None
    if not args.no_cache:
        sidecar = sidecar_path(loaded.path) if loaded.path.is_file() else loaded.path / "descriptors.npz"
    result = describe_images(loaded.dataset, Path(root), sidecar=sidecar, progress=_terminal_progress())
    for problem in result.problems[:20]:
        print(f"annotator rank: warning: {problem} (ranked without a descriptor)", file=sys.stderr)
    if len(result.problems) > 20:
        print(
            f"annotator rank: warning: {len(result.problems) - 20} more images could not be read",
            file=sys.stderr,
        )
    return result.vectors


def _terminal_progress() -> Callable[[int, int], None] | None:
    """A one-line count on a terminal while image files are described (the first run reads them all)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] > 0.2:
            last[0] = now
            end = "\n" if done == total else ""
            sys.stderr.write(f"\rdescribing images {done}/{total}{end}")
            sys.stderr.flush()

    return show
