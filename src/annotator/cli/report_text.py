"""Plain-text renderings of the consistency checks and the statistics, for `annotator info`, and the
exit status of a read that left damaged rows out."""

from __future__ import annotations

import statistics as pystats
import sys
from typing import TYPE_CHECKING

from annotator.core.checks import CheckKind, CheckReport
from annotator.core.model import Dataset
from annotator.core.statistics import DatasetStats
from annotator.core.wording import counted

if TYPE_CHECKING:
    from annotator.io.dataset_files import LoadedDataset


def checks_text(dataset: Dataset, report: CheckReport) -> list[str]:
    """A header with the counts, then one line per finding, by kind, worst first."""
    counts = report.counts()
    total = sum(counts.values())
    lines = [f"checks: {report.checked} instances, {total} finding{'s' * (total != 1)}"]
    lines += [f"  {kind.value}: {counts[kind]}" for kind in CheckKind]
    for finding in report.findings:
        image = dataset.images[finding.image_id]
        lines.append(
            f"  - {finding.kind.value}: {image.file_name} instance {finding.instance_id}: {finding.message}"
        )
    return lines


def stats_text(stats: DatasetStats) -> list[str]:
    per_image = list(stats.per_image.values()) or [0]
    judged = stats.review
    lines = [
        f"statistics: {counted(stats.images, 'image')}, {counted(stats.instances, 'instance')} "
        "(rejected ones not counted)",
        "  sizes (COCO): " + ", ".join(f"{size.value} {n}" for size, n in stats.sizes.items()),
        "  made by: " + ", ".join(f"{origin.value} {n}" for origin, n in stats.origins.items()),
        f"  review: {judged.reviewed} of {judged.total} predictions judged ({100 * judged.fraction:.0f}%); "
        "images " + ", ".join(f"{status.value} {n}" for status, n in stats.image_status.items()),
        f"  instances per image: min {min(per_image)}, median {pystats.median(per_image):g}, "
        f"mean {pystats.fmean(per_image):.1f}, max {max(per_image)}",
        "  per class: id, name, instances, images, small, medium, large",
    ]
    used = [c for c in stats.classes if c.instances or any(c.origins.values())]
    width = max((len(c.name) for c in used), default=4)
    for c in used:
        small, medium, large = c.sizes.values()
        lines.append(
            f"  {c.category_id:>5}  {c.name:<{width}}  {c.instances:>7} {c.images:>7} "
            f"{small:>7} {medium:>7} {large:>7}"
        )
    if len(used) < len(stats.classes):
        lines.append(f"  ({len(stats.classes) - len(used)} classes without instances)")
    return lines


def damaged_rows_status(command: str, loaded: LoadedDataset) -> int:
    """The exit status once `info` or `convert` has used what it could read: 2 when a project had rows
    it could not read (named among the problems), so that a script does not take the result for whole."""
    if not loaded.damaged_rows:
        return 0
    rows = "row" if loaded.damaged_rows == 1 else "rows"
    print(
        f"annotator {command}: {loaded.path}: {loaded.damaged_rows} damaged {rows} not read (named above); "
        "the rest was used",
        file=sys.stderr,
    )
    return 2
