"""Plain-text renderings of the consistency checks and the statistics, for `annotator info`."""

from __future__ import annotations

import statistics as pystats

from annotator.core.checks import CheckKind, CheckReport
from annotator.core.model import Dataset
from annotator.core.statistics import DatasetStats


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
        f"statistics: {stats.images} images, {stats.instances} instances (rejected ones not counted)",
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
