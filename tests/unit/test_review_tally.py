"""The review tally follows accept, reject, undo, deletion and new predictions like `review.progress`."""

from __future__ import annotations

import numpy as np

from annotator.core import edits, review
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source
from annotator.core.review_tally import ReviewTally

TRI = Polygons((np.array([[0, 0], [8, 0], [0, 8]], float),))


def test_tally_equals_progress_through_edits_and_undo():
    ds = Dataset()
    ds.put_categories([Category(1, "a")], notify=False)
    ds.put_images([Image(1, "a.png", 20, 20), Image(2, "b.png", 20, 20)], notify=False)
    ds.put_instances(
        [Instance(i, 1 + i % 2, 1, TRI, source=Source.from_model("m", i / 10)) for i in range(1, 9)]
        + [Instance(20, 1, 1, TRI)],
        notify=False,
    )
    tally = ReviewTally(ds)

    def same() -> None:
        for image_id in (1, 2):
            assert tally.image(image_id) == review.progress(ds, [image_id])
        assert tally.overall() == review.progress(ds)

    same()
    steps = [
        review.accept(ds, [ds.instances[1], ds.instances[2]]),
        review.reject(ds, [ds.instances[3]]),
        review.accept_above(ds, [1, 2], 0.5),
    ]
    for step in steps:
        step.apply(ds)
        same()
    edits.RemoveInstances((ds.instances[5],)).apply(ds)
    same()
    edits.AddInstances((Instance(30, 2, 1, TRI, source=Source.from_model("m", 0.7)),)).apply(ds)
    same()
    for step in reversed(steps):
        step.revert(ds)
        same()
    tally.close()
