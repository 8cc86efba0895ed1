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


def test_an_image_labelled_by_hand_is_marked_done_and_back_in_one_reversible_step():
    ds = _dataset()
    ds.put_images([Image(3, "c.png", 20, 20)], notify=False)
    ds.put_instances([Instance(5, 3, 1, TRI)], notify=False)  # drawn by hand: nothing to judge
    done = review.mark_done(ds, 3, True)
    done.apply(ds)
    assert ds.images[3].status is ImageStatus.DONE and review.mark_done(ds, 3, True) is None
    again = review.mark_done(ds, 3, False)
    again.apply(ds)
    assert ds.images[3].status is ImageStatus.IN_REVIEW  # it has a label: being labelled
    again.revert(ds)
    done.revert(ds)
    assert ds.images[3].status is ImageStatus.NEW
    assert review.mark_done(ds, 2, False) is None  # empty and new already
    review.mark_done(ds, 2, True).apply(ds)  # nothing on it is a label too: "nothing to label here"
    assert review.mark_done(ds, 2, False).new[0].status is ImageStatus.NEW


def test_an_image_with_predictions_not_judged_is_not_marked_done():
    ds = _dataset()
    try:
        review.mark_done(ds, 1, True)
    except ValueError as exc:
        assert "3 predictions on this image not judged yet" in str(exc)
    else:
        raise AssertionError("marked done with predictions left unjudged")
    review.reject(ds, [ds.instances[i] for i in (1, 2, 3)]).apply(ds)
    assert ds.images[1].status is ImageStatus.DONE  # judged: done already
    back = review.mark_done(ds, 1, False)
    assert back.new[0].status is ImageStatus.IN_REVIEW
