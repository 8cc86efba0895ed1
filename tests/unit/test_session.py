"""The session every part of the window follows, and the event channel that keeps listeners apart."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core import events
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Change, ChangeKind, Dataset, Image, Instance, Source
from annotator.core.session import BareDocument, Override, Session, SessionEvent
from annotator.io.errors import DatasetError


def _square(x0, y0, x1, y1) -> Polygons:
    return Polygons((np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float),))


def _dataset() -> Dataset:
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 100, 100), Image(2, "b.png", 100, 100)])
    dataset.put_categories([Category(1, "cat"), Category(2, "dog")])
    dataset.put_instances(
        [
            Instance(1, 1, 1, _square(0, 0, 50, 50)),
            Instance(2, 1, 2, _square(10, 10, 20, 20), source=Source.from_model("m", 0.3)),
            Instance(3, 2, 1, _square(0, 0, 5, 5)),
        ]
    )
    return dataset


class _Refusing(BareDocument):
    def close(self) -> None:
        raise DatasetError(self.path, "1 change could not be saved: disk full")


def test_a_failing_listener_never_stops_the_others(caplog):
    dataset, seen, reported = Dataset(), [], []
    dataset.put_images([Image(1, "a.png", 10, 10)])

    def broken(change):
        raise RuntimeError("a bug in one view")

    dataset.subscribe(broken)
    dataset.subscribe(seen.append)  # the project store, say

    def handler(error, listener, event):
        reported.append((type(error), listener))

    events.add_error_handler(handler)
    try:
        dataset.put_instances([Instance(1, 1, 1, _square(1, 1, 5, 5))])
    finally:
        events.remove_error_handler(handler)
    assert [c.kind for c in seen] == [ChangeKind.INSTANCES_ADDED]
    assert reported == [(RuntimeError, broken)]


def test_held_events_arrive_once_the_batch_ends_in_order():
    emitter, seen = events.EventEmitter(), []
    emitter.connect(seen.append)
    with emitter.held():
        emitter.emit(1)
        with emitter.held():
            emitter.emit(2)
        assert seen == []
    assert seen == [1, 2]


def test_open_switches_everything_only_after_the_old_document_closed():
    session, kinds = Session(), []
    session.subscribe(lambda change: kinds.append(change.kind))
    first = BareDocument(_dataset())
    session.open(first)
    session.show_image(1)
    session.select(1, extra=[2])
    session.set_instance_hidden(2, True)
    session.set_overrides({1: Override((1, 2, 3), "TP")})
    second = BareDocument(_dataset())
    session.open(second)
    assert session.document is second and session.image_id is None and session.selection == ()
    assert not session.hidden_instances and not session.overrides
    assert kinds.count(SessionEvent.CLOSING) == 1


def test_a_refused_close_changes_nothing():
    session, kinds = Session(), []
    refusing = _Refusing(_dataset())
    session.open(refusing)
    session.show_image(1)
    session.select(2)
    session.subscribe(lambda change: kinds.append(change.kind))
    with pytest.raises(DatasetError):
        session.open(BareDocument(_dataset()))
    assert session.document is refusing and session.image_id == 1 and session.selection == (2,)
    assert kinds == [SessionEvent.CLOSING]  # no part was told of another document


def test_selection_follows_deletions_and_moves_and_clears_on_another_image():
    dataset = _dataset()
    session = Session()
    session.open(BareDocument(dataset))
    session.show_image(1)
    session.select(1, extra=[2])
    assert session.selected_id == 1 and [i.id for i in session.selected_instances] == [1, 2]
    dataset.drop_instances([1])
    assert session.selection == (2,)
    dataset.put_instances([dataset.instances[2].with_changes(image_id=2)])
    assert session.selection == ()
    session.select(3)
    session.show_image(2)
    assert session.selection == ()


def test_what_is_shown():
    dataset = _dataset()
    session = Session()
    session.open(BareDocument(dataset))
    prediction, person = dataset.instances[2], dataset.instances[1]
    assert session.is_visible(prediction) and session.is_visible(person)
    session.set_min_score(0.5)  # hides unreviewed predictions under the score, never a person's work
    assert not session.is_visible(prediction) and session.is_visible(person)
    session.set_min_score(0.0)
    session.set_category_hidden(1, True)
    assert not session.is_visible(person) and session.is_visible(prediction)
    session.set_category_hidden(1, False)
    session.set_all_hidden(True)
    assert not session.is_visible(person)
    session.set_all_hidden(False)
    session.set_instance_hidden(1, True)
    assert not session.is_visible(person) and session.is_visible(prediction)


def test_unchanged_values_emit_nothing():
    session, seen = Session(), []
    session.open(BareDocument(_dataset()))
    session.subscribe(seen.append)
    session.set_min_score(0.0)
    session.set_all_hidden(False)
    session.set_overrides({})
    session.select(None)
    session.show_image(None)
    assert seen == []
    assert Change(ChangeKind.INSTANCES_ADDED).items == ()


def test_image_adjust_table_and_event():
    from annotator.core.session import ImageAdjust

    assert ImageAdjust().identity and np.array_equal(ImageAdjust().lut(), np.arange(256))
    brighter = ImageAdjust(gamma=2.0).lut()
    assert (
        brighter[0] == 0
        and brighter[255] == 255
        and brighter[64] > 64
        and np.all(np.diff(brighter.astype(int)) >= 0)
    )
    assert ImageAdjust(brightness=1.0).lut().min() >= 127 and ImageAdjust(contrast=0.0).lut().max() <= 128
    session, seen = Session(), []
    session.subscribe(lambda change: seen.append(change.kind))
    session.set_image_adjust(ImageAdjust(gamma=2.0))
    session.set_image_adjust(ImageAdjust(gamma=2.0))
    assert seen == [SessionEvent.ADJUST]
