"""`annotator info FILE [--checks] [--stats [--csv OUT]]`: validate and summarise a dataset file (COCO JSON,
LabelMe JSON or folder, `.annotator` project). `--checks` lists the consistency checks' findings
(`core.checks`), `--stats` the dataset statistics (`core.statistics`), `--csv` writes them per class.
Exit 0 when it loads (problems and findings are listed), 2 when it is unusable or is a project with
damaged rows (the rest is still summarised)."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the model pulls in OpenCV: only `run` needs it
    from annotator.core.model import Dataset


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="validate and summarise a dataset file")
    parser.add_argument("file", help="COCO JSON, LabelMe JSON or folder, or .annotator project")
    parser.add_argument("--images", metavar="DIR", help="images folder: report images that are missing")
    parser.add_argument("--checks", action="store_true", help="run the consistency checks")
    parser.add_argument(
        "--min-fragment",
        type=int,
        default=50,
        metavar="N",
        help="--checks: parts under N pixels are fragments",
    )
    parser.add_argument("--stats", action="store_true", help="print the dataset statistics")
    parser.add_argument("--csv", metavar="OUT", type=Path, help="write the statistics per class as CSV")
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class Summary:
    images: int
    images_without_instances: int
    instances: int
    polygons: int
    masks: int
    crowd: int
    predictions: int
    per_category: dict[int, int]


def summarise(dataset: Dataset) -> Summary:
    from annotator.core.geometry import Polygons

    instances = list(dataset.instances.values())
    polygons = sum(isinstance(i.geometry, Polygons) for i in instances)
    return Summary(
        images=len(dataset.images),
        images_without_instances=sum(1 for i in dataset.images if not dataset.instance_count(i)),
        instances=len(instances),
        polygons=polygons,
        masks=len(instances) - polygons,
        crowd=sum(i.iscrowd for i in instances),
        predictions=sum(i.source.is_model for i in instances),
        per_category=dict(Counter(i.category_id for i in instances)),
    )


def run(args: argparse.Namespace) -> int:
    from annotator.cli.project_note import note_window_edits
    from annotator.io.dataset_files import load_dataset_file
    from annotator.io.output_target import check_dataset_output

    loaded = load_dataset_file(args.file, images_root=args.images)
    note_window_edits("info", args.file)
    if args.csv:
        check_dataset_output(args.csv, loaded, [args.images, loaded.root, loaded.path.parent])
    summary = summarise(loaded.dataset)
    print(f"{loaded.path}: {loaded.format.value}")
    for line in _report(loaded.dataset, summary):
        print(line)
    print(f"problems: {len(loaded.problems)}")
    for problem in loaded.problems:
        print(f"  - {problem}")
    if args.checks:
        from annotator.cli.report_text import checks_text
        from annotator.core.checks import CheckOptions, run_checks

        if args.min_fragment < 1:
            from annotator.cli.main import UsageError

            raise UsageError("--min-fragment must be at least 1")
        report = run_checks(loaded.dataset, CheckOptions(min_fragment_pixels=args.min_fragment))
        print("\n".join(checks_text(loaded.dataset, report)))
    if args.stats or args.csv:
        from annotator.cli.report_text import stats_text
        from annotator.core.statistics import dataset_stats, to_csv_rows
        from annotator.io.csv_file import write_csv

        stats = dataset_stats(loaded.dataset)
        print("\n".join(stats_text(stats)))
        if args.csv:
            write_csv(args.csv, to_csv_rows(stats))
            print(f"wrote {args.csv}")
    from annotator.cli.report_text import damaged_rows_status

    return damaged_rows_status("info", loaded)


def _report(dataset: Dataset, summary: Summary) -> list[str]:
    lines = [
        f"images: {summary.images} ({summary.images_without_instances} without instances)",
        f"instances: {summary.instances} ({summary.polygons} polygons, {summary.masks} RLE masks; "
        f"{summary.crowd} crowd; {summary.predictions} model predictions)",
        f"categories: {len(dataset.categories)} ({sum(1 for c in dataset.categories if c in summary.per_category)} used)",
    ]
    width = max((len(c.name) for c in dataset.categories.values()), default=4)
    for category in sorted(dataset.categories.values(), key=lambda c: c.id):
        lines.append(
            f"  {category.id:>5}  {category.name:<{width}}  {summary.per_category.get(category.id, 0)}"
        )
    unknown = sorted(set(summary.per_category) - set(dataset.categories))
    for category_id in unknown:
        lines.append(
            f"  {category_id:>5}  {'(no such category)':<{width}}  {summary.per_category[category_id]}"
        )
    return lines
