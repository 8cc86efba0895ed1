"""Mask strokes and instance operations: exact results, exact undo, predictions marked edited."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core import operations
from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.mask_edit import MaskStroke, fill_holes, remove_small_parts, stamp_segment, union_box
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source

H, W = 40, 60


def _dataset(*instances: Instance) -> Dataset:
    ds = Dataset()
    ds.put_categories([Category(1, "a"), Category(2, "b")], notify=False)
    ds.put_images([Image(1, "x.png", W, H)], notify=False)
    ds.put_instances(instances, notify=False)
    return ds


def _square(x, y, size=10) -> Polygons:
    return Polygons((np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], float),))


def _mask(ds: Dataset, instance_id: int) -> np.ndarray:
    return to_mask_array(ds.instances[instance_id].geometry, H, W)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, W), st.floats(0, H)), min_size=1, max_size=6),
    st.floats(0.5, 8),
    st.booleans(),
    st.booleans(),
)
def test_a_stroke_applies_undoes_and_redoes_exactly(points, radius, erase, start_as_polygon):
    geometry = (
        _square(10, 10, 15) if start_as_polygon else Mask.from_array(to_mask_array(_square(10, 10, 15), H, W))
    )
    inst = Instance(1, 1, 1, geometry, source=Source.from_model("m", 0.9))
    ds = _dataset(inst)
    before = _mask(ds, 1)
    working = before.copy()
    box = (0, 0, 0, 0)

    for start, end in zip(points, points[1:] + points[-1:], strict=True):
        box = union_box(box, stamp_segment(working, start, end, radius, erase=erase))
    if box[2] <= box[0]:
        return
    stroke = MaskStroke.from_masks(inst, before, working, box)
    stroke.apply(ds)
    assert np.array_equal(_mask(ds, 1), working)
    assert ds.instances[1].review is Review.EDITED and ds.instances[1].source.score == 0.9
    stroke.revert(ds)
    assert ds.instances[1] == inst  # polygons come back as the same polygons
    stroke.apply(ds)
    assert np.array_equal(_mask(ds, 1), working)
    assert len(stroke.old_bits) <= (box[2] - box[0]) * (box[3] - box[1]) // 8 + 1  # a delta, not a copy


def test_split_and_merge_round_trip():
    mask = np.zeros((H, W), np.uint8)
    mask[2:10, 2:10] = 1
    mask[20:30, 30:50] = 1
    inst = Instance(1, 1, 1, Mask.from_array(mask))
    ds = _dataset(inst)
    edit = operations.split(ds, inst)
    edit.apply(ds)
    parts = ds.instances_of(1)
    assert len(parts) == 2 and sorted(int(_mask(ds, p.id).sum()) for p in parts) == [64, 200]
    merge = operations.merge(ds, parts)
    merge.apply(ds)
    assert len(ds.instances) == 1 and np.array_equal(_mask(ds, next(iter(ds.instances))), mask)
    merge.revert(ds)
    edit.revert(ds)
    assert ds.instances == {1: inst}


def test_polygon_merge_keeps_polygons_and_split_separates_rings():
    a, b = Instance(1, 1, 1, _square(0, 0)), Instance(2, 1, 2, _square(30, 20))
    ds = _dataset(a, b)
    operations.merge(ds, [a, b]).apply(ds)
    merged = ds.instances[1]
    assert (
        isinstance(merged.geometry, Polygons) and len(merged.geometry.rings) == 2 and merged.category_id == 1
    )
    operations.split(ds, merged).apply(ds)
    assert len(ds.instances) == 2


def test_fill_holes_and_remove_fragments():
    mask = np.zeros((H, W), np.uint8)
    mask[5:25, 5:25] = 1
    mask[10:15, 10:15] = 0
    mask[35, 55] = 1
    assert fill_holes(mask)[12, 12] == 1 and fill_holes(mask)[0, 0] == 0
    assert remove_small_parts(mask, 5)[35, 55] == 0 and remove_small_parts(mask, 5)[6, 6] == 1
    inst = Instance(1, 1, 1, Mask.from_array(mask), source=Source.from_model("m", 0.5))
    ds = _dataset(inst)
    operations.fill_instance_holes(ds, inst).apply(ds)
    assert _mask(ds, 1)[12, 12] == 1 and ds.instances[1].review is Review.EDITED


def test_simplify_reduces_vertices_and_keeps_the_shape():
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = np.stack([30 + 15 * np.cos(angles), 20 + 15 * np.sin(angles)], 1)
    inst = Instance(1, 1, 1, Polygons((circle,)))
    ds = _dataset(inst)
    before = _mask(ds, 1)
    operations.simplify(inst, 0.5).apply(ds)
    after_geometry = ds.instances[1].geometry
    assert after_geometry.vertex_count < 60
    overlap = np.logical_and(before, _mask(ds, 1)).sum() / np.logical_or(before, _mask(ds, 1)).sum()
    assert overlap > 0.95  # chords cut inside a convex outline by at most the tolerance


def test_z_order_operations_change_the_painting_order():
    a, b, c = (Instance(i, 1, 1, _square(i, i), z=i) for i in (1, 2, 3))
    ds = _dataset(a, b, c)
    operations.bring_to_front(ds, [a]).apply(ds)
    assert [i.id for i in ds.instances_of(1)] == [2, 3, 1]
    operations.send_to_back(ds, [ds.instances[3]]).apply(ds)
    assert [i.id for i in ds.instances_of(1)] == [3, 2, 1]


def test_a_deletion_says_what_went():
    one, two = Instance(1, 1, 2, _square(5, 5)), Instance(2, 1, 1, _square(30, 5))
    ds = _dataset(one, two)
    assert operations.delete([one], ds).text == "Delete b"
    assert operations.delete([one, two], ds).text == "Delete 2 instances"
    assert operations.delete([one]).text == "Delete"  # without the dataset: no class name to give
