"""What the dataset looks like: instances per class and per image, COCO's small/medium/large counts, who
made each instance, and how far review has got; one value for the statistics dock, the CSV export and
`annotator info --stats`.

Sizes use COCOeval's area ranges (small < 32^2 <= medium < 96^2 <= large) on the pixel area as
pycocotools rasterises it. Only instances whose area bounds straddle a limit are rasterised
(`core.instance_table`), so 100,000 instances take well under a second or two.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core.geometry import GeometryError
from annotator.core.instance_table import InstanceTable, build_table
from annotator.core.model import Dataset, ImageStatus, Instance, Review
from annotator.core.review import ReviewProgress
from annotator.core.rules import is_unreviewed_prediction

SMALL_LIMIT, MEDIUM_LIMIT = 32**2, 96**2  # COCOeval's areaRng


class Origin(StrEnum):
    """Who made an instance, as the person sees it."""

    ACCEPTED = "prediction accepted as is"
    EDITED = "prediction edited"
    HAND_DRAWN = "drawn or imported"  # a person's label: drawn here, or read from a file
    UNREVIEWED = "prediction not reviewed"
    REJECTED = "rejected"


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


def origin(instance: Instance) -> Origin:
    if instance.review is Review.REJECTED:
        return Origin.REJECTED
    if is_unreviewed_prediction(instance):
        return Origin.UNREVIEWED
    if not instance.source.is_model:
        return Origin.HAND_DRAWN
    return Origin.EDITED if instance.review is Review.EDITED else Origin.ACCEPTED


@dataclass(frozen=True)
class ClassStats:
    category_id: int
    name: str
    instances: int  # not rejected
    images: int  # images holding at least one
    sizes: dict[Size, int]
    origins: dict[Origin, int]  # rejected ones included here


@dataclass(frozen=True)
class DatasetStats:
    images: int
    instances: int  # not rejected
    classes: tuple[ClassStats, ...]  # most instances first
    sizes: dict[Size, int]
    origins: dict[Origin, int]
    per_image: dict[int, int]  # image id -> instances (not rejected)
    image_status: dict[ImageStatus, int]
    review: ReviewProgress  # predictions judged (accepted, edited or rejected) of all predictions

    @property
    def instances_per_image(self) -> dict[int, int]:
        """How many images hold n instances, for each n: the histogram the dock draws."""
        return dict(sorted(Counter(self.per_image.values()).items()))


def dataset_stats(dataset: Dataset) -> DatasetStats:
    """The statistics of every instance; rejected ones count only as rejected."""
    table = build_table(dataset)
    size_of = _sizes(table)
    origin_of = [origin(i) for i in table.instances]
    kept = np.array([o is not Origin.REJECTED for o in origin_of], bool)
    names = {c.id: c.name for c in dataset.categories.values()}
    classes = []
    for category_id in sorted(set(table.category_ids.tolist()) | set(names)):
        rows = np.flatnonzero(table.category_ids == category_id)
        live = rows[kept[rows]]
        classes.append(
            ClassStats(
                category_id=category_id,
                name=names.get(category_id, "(no such category)"),
                instances=int(live.size),
                images=len(set(table.image_ids[live].tolist())),
                sizes=_count(Size, (size_of[r] for r in live)),
                origins=_count(Origin, (origin_of[r] for r in rows)),
            )
        )
    classes.sort(key=lambda c: (-c.instances, c.category_id))
    per_image = dict.fromkeys(sorted(dataset.images), 0)
    per_image.update(Counter(table.image_ids[kept].tolist()))
    judged = sum(1 for i in table.instances if i.source.is_model and i.review is not Review.UNREVIEWED)
    predictions = sum(1 for i in table.instances if i.source.is_model)
    return DatasetStats(
        images=len(dataset.images),
        instances=int(kept.sum()),
        classes=tuple(classes),
        sizes=_count(Size, (size_of[r] for r in np.flatnonzero(kept))),
        origins=_count(Origin, origin_of),
        per_image=per_image,
        image_status=_count(ImageStatus, (image.status for image in dataset.images.values())),
        review=ReviewProgress(judged, predictions),
    )


def _count(kind, values) -> dict:
    counts = Counter(values)
    return {member: counts.get(member, 0) for member in kind}


def _sizes(table: InstanceTable) -> list[Size]:
    """Each row's COCO size; rasterised only where its area bounds straddle a limit."""
    low, high = table.area_low, table.area_high
    sizes = np.where(high < SMALL_LIMIT, 0, np.where((low >= SMALL_LIMIT) & (high < MEDIUM_LIMIT), 1, 2))
    unsure = ((low < SMALL_LIMIT) & (high >= SMALL_LIMIT)) | ((low < MEDIUM_LIMIT) & (high >= MEDIUM_LIMIT))
    for row in np.flatnonzero(unsure & table.is_polygon).tolist():
        try:
            area = int(mask_utils.area(table.rle(row)))
        except GeometryError:
            area = 0
        sizes[row] = 0 if area < SMALL_LIMIT else 1 if area < MEDIUM_LIMIT else 2
    members = list(Size)
    return [members[s] for s in sizes.tolist()]


CSV_HEADER = ("category_id", "name", "instances", "images", *Size, *Origin)


def to_csv_rows(stats: DatasetStats) -> list[tuple]:
    """One row per class and a last row for all classes; the header is CSV_HEADER."""
    rows = [
        (c.category_id, c.name, c.instances, c.images, *c.sizes.values(), *c.origins.values())
        for c in stats.classes
    ]
    rows.append(
        ("", "(all classes)", stats.instances, stats.images, *stats.sizes.values(), *stats.origins.values())
    )
    return [CSV_HEADER, *rows]


def image_csv_rows(dataset: Dataset, stats: DatasetStats) -> list[tuple]:
    """One row per image: file name, status and instance count."""
    rows = [("image_id", "file_name", "status", "instances")]
    for image_id, count in stats.per_image.items():
        image = dataset.images[image_id]
        rows.append((image_id, image.file_name, image.status.value, count))
    return rows
