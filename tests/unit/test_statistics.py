"""Dataset statistics: counts a person can verify, COCO sizes from pycocotools' own masks."""

from __future__ import annotations

import contextlib
import io
import shutil

import numpy as np
from pycocotools.coco import COCO

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.core.statistics import CSV_HEADER, Origin, Size, dataset_stats, image_csv_rows, to_csv_rows
from annotator.io.coco import load_coco


def test_sizes_and_counts_on_real_coco_equal_pycocotools(testdata, tmp_path) -> None:
    source = tmp_path / "coco_tiny.json"
    shutil.copy(testdata / "isat_coco_tiny" / "coco_tiny.json", source)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(source))
    stats = dataset_stats(load_coco(source).dataset)
    areas = [coco.annToMask(a).sum() for a in coco.dataset["annotations"]]
    expected = {
        Size.SMALL: sum(a < 32**2 for a in areas),
        Size.MEDIUM: sum(32**2 <= a < 96**2 for a in areas),
        Size.LARGE: sum(a >= 96**2 for a in areas),
    }
    assert stats.sizes == expected and stats.instances == 63 and stats.images == 5
    person = next(c for c in stats.classes if c.name == "person")
    assert person.instances == len(coco.getAnnIds(catIds=[1])) and person.images == len(
        coco.getImgIds(catIds=[1])
    )
    assert stats.per_image == {i: len(coco.getAnnIds(imgIds=[i])) for i in coco.getImgIds()}
    assert stats.classes[0].instances == max(c.instances for c in stats.classes)  # most first


def _square(x: float) -> Polygons:
    return Polygons((np.array([[x, 0], [x + 10, 0], [x + 10, 10], [x, 10.0]]),))


def test_who_made_each_instance_and_review_progress() -> None:
    dataset = Dataset()
    dataset.put_images(
        [Image(1, "a.png", 100, 50, ImageStatus.DONE), Image(2, "b.png", 100, 50, ImageStatus.IN_REVIEW)],
        notify=False,
    )
    dataset.put_categories([Category(1, "cat"), Category(2, "dog")], notify=False)
    model = Source.from_model("m", 0.8)
    made = [
        (1, model, Review.ACCEPTED),
        (1, model, Review.EDITED),
        (1, Source(), Review.UNREVIEWED),  # drawn by hand
        (2, model, Review.UNREVIEWED),
        (2, model, Review.REJECTED),
    ]
    dataset.put_instances(
        [
            Instance(k + 1, image, 1 + k % 2, _square(12 * k), source=s, review=r)
            for k, (image, s, r) in enumerate(made)
        ],
        notify=False,
    )
    stats = dataset_stats(dataset)
    assert stats.origins == {o: 1 for o in Origin}
    assert stats.instances == 4 and stats.per_image == {1: 3, 2: 1}  # the rejected one is not counted
    assert (stats.review.reviewed, stats.review.total) == (3, 4)
    assert stats.image_status[ImageStatus.DONE] == 1 and stats.image_status[ImageStatus.IN_REVIEW] == 1
    assert stats.instances_per_image == {1: 1, 3: 1}
    rows = to_csv_rows(stats)
    assert rows[0] == CSV_HEADER and rows[-1][1] == "(all classes)" and rows[-1][2] == 4
    by_class = {row[1]: dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:-1]}
    assert by_class["cat"]["rejected"] == 1 and by_class["cat"]["instances"] == 2
    assert by_class["dog"][Origin.EDITED] == 1 and by_class["dog"][Size.SMALL] == 2
    assert image_csv_rows(dataset, stats)[1:] == [(1, "a.png", "done", 3), (2, "b.png", "in_review", 1)]
