"""Every edit is reversible: apply, revert, apply again gives exactly the same document, in any sequence."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core import edits
from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, ChangeKind, Dataset, Image, ImageStatus, Instance, Review


def _base() -> Dataset:
    ds = Dataset()
    ds.put_categories([Category(1, "a"), Category(4, "b")], notify=False)
    ds.put_images([Image(1, "x.png", 30, 20), Image(2, "y.png", 30, 20)], notify=False)
    return ds


def _snapshot(ds: Dataset) -> tuple:
    return (dict(ds.images), dict(ds.categories), dict(ds.instances))


@st.composite
def edit_sequences(draw):
    ds = _base()
    sequence = []
    for step in range(draw(st.integers(1, 12))):
        choice = draw(st.sampled_from(["add", "remove", "replace", "status", "category"]))
        existing = list(ds.instances.values())
        if choice == "add" or not existing and choice in ("remove", "replace"):
            x, y = draw(st.integers(0, 20)), draw(st.integers(0, 10))
            if draw(st.booleans()):
                geometry = Polygons((np.array([[x, y], [x + 5, y], [x + 2, y + 6]], float),))
            else:
                mask = np.zeros((20, 30), np.uint8)
                mask[y : y + 5, x : x + 5] = 1
                geometry = Mask.from_array(mask)
            instance = Instance(ds.new_instance_id(), draw(st.sampled_from([1, 2])), 1, geometry, z=step)
            edit = edits.AddInstances((instance,))
        elif choice == "remove":
            edit = edits.RemoveInstances((draw(st.sampled_from(existing)),))
        elif choice == "replace":
            old = draw(st.sampled_from(existing))
            new = old.with_changes(category_id=4, z=-step, review=Review.EDITED)
            edit = edits.ReplaceInstances((old,), (new,))
        elif choice == "status":
            old = ds.images[1]
            edit = edits.ReplaceImages((old,), (Image(1, old.file_name, 30, 20, ImageStatus.DONE),))
        else:
            old = ds.categories.get(9)
            edit = edits.PutCategories((old,), (Category(9, f"new{step}"),))
        edit.apply(ds)
        sequence.append(edit)
    return sequence


@settings(max_examples=80, deadline=None)
@given(edit_sequences())
def test_any_sequence_undoes_and_redoes_exactly(sequence):
    ds = _base()
    states = [copy.copy(_snapshot(ds))]
    for edit in sequence:
        edit.apply(ds)
        states.append(_snapshot(ds))
    for edit, before in zip(reversed(sequence), reversed(states[:-1]), strict=True):
        edit.revert(ds)
        assert _snapshot(ds) == before
    for edit, after in zip(sequence, states[1:], strict=True):
        edit.apply(ds)
        assert _snapshot(ds) == after


def test_observers_hear_every_change():
    ds = _base()
    heard = []
    ds.subscribe(lambda change: heard.append(change.kind))
    inst = Instance(1, 1, 1, Polygons((np.array([[0, 0], [5, 0], [0, 5]], float),)))
    add = edits.AddInstances((inst,))
    add.apply(ds)
    edits.ReplaceInstances((inst,), (inst.with_changes(z=3),)).apply(ds)
    add.revert(ds)
    assert heard == [ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_CHANGED, ChangeKind.INSTANCES_REMOVED]


def test_instances_of_is_back_to_front():
    ds = _base()
    tri = Polygons((np.array([[0, 0], [5, 0], [0, 5]], float),))
    ds.put_instances([Instance(1, 1, 1, tri, z=5), Instance(2, 1, 1, tri, z=-1), Instance(3, 1, 1, tri, z=2)])
    assert [i.id for i in ds.instances_of(1)] == [2, 3, 1]
