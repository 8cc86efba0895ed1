"""Review actions: accept/reject are undoable, move the image status along, and count progress."""

from __future__ import annotations

import numpy as np

from annotator.core import review
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source

TRI = Polygons((np.array([[0, 0], [8, 0], [0, 8]], float),))


def _dataset() -> Dataset:
    ds = Dataset()
    ds.put_categories([Category(1, "a")], notify=False)
    ds.put_images(
        [Image(1, "a.png", 20, 20, ImageStatus.PRELABELED), Image(2, "b.png", 20, 20)], notify=False
    )
    preds = [
        Instance(i, 1, 1, TRI, source=Source.from_model("m", s)) for i, s in ((1, 0.9), (2, 0.6), (3, 0.3))
    ]
    ds.put_instances([*preds, Instance(4, 1, 1, TRI)], notify=False)  # 4 is manual
    return ds


def test_accept_and_reject_move_the_status_and_undo_exactly():
    ds = _dataset()
    before = (dict(ds.instances), dict(ds.images))
    first = review.accept(ds, [ds.instances[1]])
    first.apply(ds)
    assert ds.instances[1].review is Review.ACCEPTED and ds.images[1].status is ImageStatus.IN_REVIEW
    assert review.progress(ds, [1]) == review.ReviewProgress(1, 3)
    rest = review.reject(ds, [ds.instances[2], ds.instances[3]])
    rest.apply(ds)
    assert ds.images[1].status is ImageStatus.DONE and review.progress(ds).fraction == 1.0
    rest.revert(ds)
    first.revert(ds)
    assert (dict(ds.instances), dict(ds.images)) == before


def test_accept_above_takes_only_pending_predictions_over_the_threshold():
    ds = _dataset()
    review.reject(ds, [ds.instances[1]]).apply(ds)
    edit = review.accept_above(ds, [1, 2], 0.5)
    edit.apply(ds)
    assert [ds.instances[i].review for i in (1, 2, 3, 4)] == [
        Review.REJECTED, Review.ACCEPTED, Review.UNREVIEWED, Review.UNREVIEWED,
    ]  # fmt: skip
    assert review.accept_above(ds, [1], 0.5) is None  # nothing left to do is no edit


def test_an_edited_prediction_stays_edited_when_accepted():
    ds = _dataset()
    ds.put_instances([ds.instances[1].with_changes(review=Review.EDITED)])
    assert review.accept(ds, [ds.instances[1]]) is None
