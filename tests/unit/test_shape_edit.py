"""Vertex, move, draw and paste edits: exact geometry, exact undo and redo over random sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core import edits, shape_edit
from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source

H, W = 40, 60


def _dataset(*instances: Instance) -> Dataset:
    ds = Dataset()
    ds.put_categories([Category(1, "a"), Category(2, "b")], notify=False)
    ds.put_images([Image(1, "x.png", W, H), Image(2, "y.png", 30, 20)], notify=False)
    ds.put_instances(instances, notify=False)
    return ds


def _square(x, y, size=10) -> np.ndarray:
    return np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], float)


def _snapshot(ds: Dataset) -> dict:
    """Everything a user could see: per instance its fields and its exact pixels."""
    out = {}
    for inst in ds.instances.values():
        image = ds.image_of(inst)
        pixels = to_mask_array(inst.geometry, image.height, image.width).tobytes()
        out[inst.id] = (inst.image_id, inst.category_id, inst.z, inst.review, inst.source, pixels)
    return out


def test_vertex_edits_address_one_part_of_a_multi_part_instance():
    inst = Instance(1, 1, 1, Polygons((_square(0, 0), _square(30, 20))), source=Source.from_model("m", 0.8))
    ds = _dataset(inst)
    shape_edit.move_vertex(inst, 1, 2, (45.0, 35.0)).apply(ds)
    rings = ds.instances[1].geometry.rings
    assert np.array_equal(rings[0], _square(0, 0)) and tuple(rings[1][2]) == (45.0, 35.0)
    assert ds.instances[1].review is Review.EDITED and ds.instances[1].source.score == 0.8

    hit = shape_edit.nearest_edge(ds.instances[1].geometry, (35.0, 19.0))
    assert (hit.ring, hit.index, hit.point) == (1, 0, (35.0, 20.0))
    shape_edit.insert_vertex(ds.instances[1], hit.ring, hit.index, hit.point).apply(ds)
    assert ds.instances[1].geometry.rings[1].tolist()[:3] == [[30, 20], [35, 20], [40, 20]]

    assert shape_edit.nearest_vertex(ds.instances[1].geometry, (1.0, 9.0))[:2] == (0, 3)
    shape_edit.delete_vertex(ds.instances[1], 0, 3).apply(ds)
    assert len(ds.instances[1].geometry.rings[0]) == 3
    shape_edit.delete_vertex(ds.instances[1], 0, 0).apply(ds)  # a triangle's vertex: the part goes
    assert len(ds.instances[1].geometry.rings) == 1
    last = ds.instances[1]
    while len(last.geometry.rings[0]) > 3:
        shape_edit.delete_vertex(last, 0, 0).apply(ds)
        last = ds.instances[1]
    assert shape_edit.delete_vertex(last, 0, 0) is None  # never an instance without a region


def test_move_keeps_polygons_exact_and_shifts_masks_by_whole_pixels():
    mask = np.zeros((H, W), np.uint8)
    mask[5:15, 5:20] = 1
    a, b = Instance(1, 1, 1, Polygons((_square(1.5, 2.5),))), Instance(2, 1, 1, Mask.from_array(mask))
    ds = _dataset(a, b)
    edit = shape_edit.move([a, b], 10.0, -2.2)
    edit.apply(ds)
    assert np.allclose(ds.instances[1].geometry.rings[0], _square(11.5, 0.3))
    assert np.array_equal(to_mask_array(ds.instances[2].geometry, H, W), np.roll(mask, (-2, 10), (0, 1)))
    edit.revert(ds)
    assert ds.instances == {1: a, 2: b}
    assert shape_edit.move([a], 0, 0) is None


def test_drawn_shapes_are_manual_and_in_front():
    ds = _dataset(Instance(1, 1, 1, Polygons((_square(0, 0),)), z=7))
    shape_edit.add_rectangle(ds, 1, 2, (20, 30), (5, 10)).apply(ds)
    shape_edit.add_polygon(ds, 1, 1, [(0, 0), (10, 0), (5, 8)]).apply(ds)
    front = ds.instances_of(1)
    assert [i.z for i in front] == [7, 8, 9]
    assert front[1].geometry.rings[0].tolist() == [[5, 10], [20, 10], [20, 30], [5, 30]]
    assert front[1].category_id == 2 and not front[1].source.is_model


def test_paste_between_images_fits_masks_and_marks_copied_predictions():
    mask = np.zeros((H, W), np.uint8)
    mask[2:8, 2:50] = 1
    pred = Instance(1, 1, 1, Mask.from_array(mask), source=Source.from_model("m", 0.7))
    poly = Instance(2, 1, 2, Polygons((_square(3, 3),)), z=3)
    ds = _dataset(pred, poly)
    edit = shape_edit.paste(ds, [poly, pred], 2)
    edit.apply(ds)
    pasted = ds.instances_of(2)
    assert len(pasted) == 2 and all(i.id not in (1, 2) for i in pasted)
    assert [i.category_id for i in pasted] == [1, 2]  # back-to-front order kept
    assert to_mask_array(pasted[0].geometry, 20, 30).sum() == 6 * 28  # cropped to 30 wide
    assert pasted[0].review is Review.EDITED and pasted[0].source.score == 0.7
    edit.revert(ds)
    assert ds.instance_count(2) == 0 and len(ds.instances) == 2


_OPS = st.sampled_from(["move_vertex", "insert", "delete", "move", "rect", "paste", "add_ring"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_OPS, st.integers(0, 1000), st.floats(-5, 45), st.floats(-5, 45)), max_size=12))
def test_random_sequences_undo_and_redo_to_exactly_the_same_state(steps):
    ds = _dataset(
        Instance(1, 1, 1, Polygons((_square(2, 2), _square(30, 5))), source=Source.from_model("m", 0.5)),
        Instance(2, 1, 2, Mask.from_array((np.arange(H * W).reshape(H, W) % 7 == 0).astype(np.uint8))),
    )
    history, states = [], [_snapshot(ds)]
    for op, n, x, y in steps:
        edit = _edit_for(ds, op, n, (x, y))
        if edit is None:
            continue
        edit.apply(ds)
        history.append(edit)
        states.append(_snapshot(ds))
    for edit, state in zip(reversed(history), reversed(states[:-1]), strict=True):
        edit.revert(ds)
        assert _snapshot(ds) == state
    for edit, state in zip(history, states[1:], strict=True):
        edit.apply(ds)
        assert _snapshot(ds) == state


def _edit_for(ds: Dataset, op: str, n: int, point: tuple[float, float]):
    instances = sorted(ds.instances.values(), key=lambda i: i.id)
    inst = instances[n % len(instances)]
    if op == "rect":
        return shape_edit.add_rectangle(ds, 1, 1, point, (point[0] + 5, point[1] + 4))
    if op == "paste":
        return shape_edit.paste(ds, [inst], 1 + n % 2)
    if op == "move":
        return shape_edit.move([inst], point[0] / 7, point[1] / 9)
    if not isinstance(inst.geometry, Polygons):
        return None
    ring, index, _ = shape_edit.nearest_vertex(inst.geometry, point)
    if op == "move_vertex":
        return shape_edit.move_vertex(inst, ring, index, point)
    if op == "insert":
        hit = shape_edit.nearest_edge(inst.geometry, point)
        return shape_edit.insert_vertex(inst, hit.ring, hit.index, hit.point)
    if op == "add_ring":
        return shape_edit.add_ring(inst, _square(point[0], point[1], 3))
    return shape_edit.delete_vertex(inst, ring, index)


def test_a_shape_drawn_under_a_typed_class_name_makes_that_class_in_the_same_step():
    ds = Dataset()
    ds.put_images([Image(1, "x.png", W, H)], notify=False)
    edit = shape_edit.add_rectangle(ds, 1, " face ", (1, 1), (5, 5))
    edit.apply(ds)
    (added,) = shape_edit.added_instances(edit)
    assert ds.categories[added.category_id].name == "face" and ds.instances[added.id] == added
    assert added.category_id == 1 and edit.text == "Draw rectangle as new class face"
    again = shape_edit.add_rectangle(ds, 1, "FACE", (6, 6), (9, 9))  # an existing name: no second class
    assert isinstance(again, edits.AddInstances) and again.instances[0].category_id == 1
    edit.revert(ds)
    assert not ds.categories and not ds.instances


def test_a_shape_drawn_under_a_models_class_keeps_the_models_id_where_it_is_free():
    ds = Dataset()
    ds.put_images([Image(1, "x.png", W, H)], notify=False)
    mask = np.zeros((H, W), np.uint8)
    mask[2:6, 3:8] = 1
    train = Category(7, "train", supercategory="vehicle")
    edit = shape_edit.add_mask(ds, 1, train, mask, text="Box to mask (model)")
    edit.apply(ds)
    (added,) = shape_edit.added_instances(edit)
    assert (
        added.category_id == 7
        and ds.categories[7].name == "train"
        and ds.categories[7].supercategory == "vehicle"
    )
    assert edit.text == "Box to mask (model) as new class train"
    again = shape_edit.add_mask(ds, 1, Category(99, "TRAIN"), mask)  # the name is there: that class
    assert isinstance(again, edits.AddInstances) and again.instances[0].category_id == 7
    taken = shape_edit.add_mask(ds, 1, Category(7, "bus"), mask)  # id 7 is the train's: a new id
    taken.apply(ds)
    assert ds.categories[8].name == "bus" and shape_edit.added_instances(taken)[0].category_id == 8
    taken.revert(ds)
    edit.revert(ds)
    assert not ds.categories and not ds.instances
