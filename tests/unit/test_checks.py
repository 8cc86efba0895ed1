"""Consistency checks against what a person would find by looking, and against brute force with pycocotools
(every mask decoded, painted in painter's order, its parts labelled)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.core import operations
from annotator.core.checks import CheckKind, CheckOptions, run_checks, suggested_edit
from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.instance_table import build_table
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source
from annotator.io.coco import load_coco

H, W = 120, 160


def _dataset(*instances: Instance, height: int = H, width: int = W) -> Dataset:
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", width, height)], notify=False)
    dataset.put_categories([Category(1, "cat"), Category(2, "dog"), Category(3, "eel")], notify=False)
    dataset.put_instances(instances, notify=False)
    return dataset


def _square(x: float, y: float, size: float, height: float | None = None) -> Polygons:
    h = size if height is None else height
    return Polygons((np.array([[x, y], [x + size, y], [x + size, y + h], [x, y + h]]),))


def _inst(instance_id: int, geometry, *, category: int = 1, z: int = 0, **changes) -> Instance:
    return Instance(instance_id, 1, category, geometry, z=z, **changes)


def _kinds(dataset: Dataset, kind: CheckKind, **options) -> list:
    return run_checks(dataset, CheckOptions(**options)).of_kind(kind)


def test_duplicates_are_same_class_pairs_above_the_iou() -> None:
    dataset = _dataset(
        _inst(1, _square(10, 10, 40)),
        _inst(2, _square(11, 10, 40), z=1),  # IoU 0.95 with 1
        _inst(3, _square(10, 10, 40), category=2, z=2),  # same mask, another class
        _inst(4, _square(90, 10, 40), z=3),
        _inst(5, _square(96, 10, 40), z=4),  # IoU 0.74 with 4
    )
    found = _kinds(dataset, CheckKind.DUPLICATE)
    assert [(f.instance_id, f.other_instance_id) for f in found] == [(2, 1)]
    rles = [dataset.instances[i].geometry.to_rle(H, W).as_coco() for i in (1, 2)]
    assert found[0].severity == pytest.approx(mask_utils.iou([rles[1]], [rles[0]], [0])[0][0])


def test_fragments_are_what_remove_fragments_removes() -> None:
    blob = np.zeros((H, W), np.uint8)
    cv2.circle(blob, (60, 60), 25, 1, -1)
    blob[5:8, 140:143] = 1  # a 9-pixel speck far away
    speck = _inst(1, Mask.from_array(blob))
    tiny = _inst(2, _square(100, 90, 4), category=2)  # 16 px in all
    two_rings = Polygons(
        (np.array([[5, 80], [45, 80], [45, 115], [5, 115.0]]), np.array([[60, 100], [63, 100], [63, 103.0]]))
    )
    dataset = _dataset(speck, tiny, _inst(3, two_rings, z=1), _inst(4, _square(100, 20, 30), z=2))
    found = {f.instance_id: f for f in _kinds(dataset, CheckKind.FRAGMENT)}
    assert set(found) == {1, 2, 3}
    assert "smallest 9 px" in found[1].message and "whole instance is 16 px" in found[2].message
    edit = operations.remove_small_fragments(dataset, speck, 50)
    assert edit is not None and to_mask_array(edit.new[0].geometry, H, W).sum() == blob.sum() - 9
    assert not _kinds(dataset, CheckKind.FRAGMENT, min_fragment_pixels=5)[1:]


def test_hidden_needs_every_pixel_covered_by_instances_in_front() -> None:
    covered = _inst(1, _square(20, 20, 10), z=0)
    partly = _inst(2, _square(45, 20, 20), z=1)
    left = _inst(3, _square(10, 10, 30), z=5)  # covers 1 alone
    halves = (_inst(4, _square(80, 10, 12), z=6), _inst(5, _square(90, 10, 12), z=7))
    behind_both = _inst(6, _square(83, 12, 16, 8), z=2)  # inside the union of 4 and 5, of neither alone
    in_front = _inst(7, _square(25, 25, 5), z=9)  # inside 3, but drawn after it
    dataset = _dataset(covered, partly, left, *halves, behind_both, in_front)
    found = {f.instance_id: f for f in _kinds(dataset, CheckKind.HIDDEN)}
    assert set(found) == {1, 6}
    assert found[1].other_instance_id == 3 and "covered by instances 3, 7 in front" in found[1].message
    assert "instances 4, 5" in found[6].message or "instances 5, 4" in found[6].message


def test_outside_and_invalid_geometry() -> None:
    bow_tie = Polygons((np.array([[10, 10], [50, 50], [50, 10], [10, 50.0]]),))
    flat = Polygons((np.array([[60, 10], [70, 20], [80, 30.0]]), np.array([[60, 60], [90, 60], [90, 90.0]])))
    wrong_size = Mask.from_array(np.ones((10, 10), np.uint8))
    past = Polygons((np.array([[140, 50], [W + 6.5, 50], [150, 80.0]]),))
    edge = Polygons((np.array([[140, 90], [W + 0.5, 90], [150, 110.0]]),))
    dataset = _dataset(
        _inst(1, bow_tie),
        _inst(2, flat, z=1),
        _inst(3, wrong_size, z=2),
        _inst(4, past, z=3),
        _inst(5, edge, z=4),
    )
    invalid = {f.instance_id: f for f in _kinds(dataset, CheckKind.INVALID)}
    assert set(invalid) == {1, 2, 3}
    assert invalid[1].point == pytest.approx((30.0, 30.0)) and "crosses itself" in invalid[1].message
    assert "ring 0 has no area" in invalid[2].message and "10x10" in invalid[3].message
    outside = _kinds(dataset, CheckKind.OUTSIDE)
    assert [f.instance_id for f in outside] == [4] and "6.5 px outside" in outside[0].message


def test_single_use_classes_and_rejected_instances_are_left_out() -> None:
    rejected = _inst(
        4, _square(5, 5, 20), category=3, z=3, source=Source.from_model("m", 0.9), review=Review.REJECTED
    )
    dataset = _dataset(
        _inst(1, _square(5, 5, 20)),
        _inst(2, _square(50, 5, 20), z=1),
        _inst(3, _square(90, 5, 20), category=2, z=2),
        rejected,
    )
    report = run_checks(dataset)
    assert report.checked == 3
    assert [(f.instance_id, f.message) for f in report.of_kind(CheckKind.SINGLE_USE_CLASS)] == [
        (3, "the only instance of class 2 'dog'")
    ]


def test_suggested_repairs_clear_their_findings_and_undo() -> None:
    blob = np.zeros((H, W), np.uint8)
    cv2.circle(blob, (60, 60), 20, 1, -1)
    blob[3:5, 150:152] = 1
    dataset = _dataset(
        _inst(1, _square(10, 10, 30)),
        _inst(2, _square(10, 10, 30), z=1),  # duplicate of 1
        _inst(3, Mask.from_array(blob), category=2, z=2),  # a speck
        _inst(4, _square(100, 100, 4), category=2, z=3),  # tiny
        _inst(5, Polygons((np.array([[140, 50], [W + 9.0, 50], [150, 80]]),)), category=2, z=4),
        _inst(7, _square(20, 20, 5), category=2, z=-2),  # behind 1 and 2
    )
    before = dict(dataset.instances)
    report = run_checks(dataset)
    fixable = [f for f in report.findings if f.kind is not CheckKind.SINGLE_USE_CLASS]
    assert {f.kind for f in fixable} == {
        CheckKind.DUPLICATE,
        CheckKind.FRAGMENT,
        CheckKind.OUTSIDE,
        CheckKind.HIDDEN,
    }
    for finding in fixable:
        edit = suggested_edit(dataset, finding)
        edit.apply(dataset)
        again = {(f.kind, f.instance_id) for f in run_checks(dataset).findings}
        assert (finding.kind, finding.instance_id) not in again, finding
        edit.revert(dataset)
        assert dataset.instances == before
    single = report.of_kind(CheckKind.SINGLE_USE_CLASS)
    assert all(suggested_edit(dataset, f) is None for f in single)


def test_empty_datasets_have_nothing_to_report() -> None:
    assert run_checks(Dataset()).findings == ()
    assert run_checks(_dataset()).checked == 0
    only_mask = _dataset(_inst(1, Mask.from_array(np.zeros((H, W), np.uint8))))
    (empty,) = run_checks(only_mask).of_kind(CheckKind.FRAGMENT)
    assert empty.kind is CheckKind.FRAGMENT and empty.message == "empty: not one pixel"
    edit = suggested_edit(only_mask, empty)  # it had no fix: nothing to keep, no part to remove
    assert edit is not None and edit.text.startswith("Delete")
    edit.apply(only_mask)
    assert only_mask.instances == {}


def test_a_prediction_on_the_label_it_matches_is_neither_a_duplicate_nor_hiding_it() -> None:
    """A labelled image pre-labelled again: each prediction lies on its label, in front. The checks
    listed every pair as a duplicate and every label as hidden, burying the labels' own findings;
    labels are checked among labels, predictions still to judge among themselves."""
    model = {"source": Source.from_model("m", 0.9)}
    dataset = _dataset(
        _inst(1, _square(10, 10, 40)),
        _inst(2, _square(10, 10, 40), z=1, **model),  # on label 1, in front: hides it
        _inst(3, _square(90, 10, 20), z=2),
        _inst(4, _square(90, 10, 20), z=3),  # a label duplicating label 3
        _inst(5, _square(60, 70, 30), z=4, **model),
        _inst(6, _square(61, 70, 30), z=5, **model),  # two predictions of one object
        _inst(7, _square(100, 60, 30), category=3, z=6, **model),  # class 3 predicted once only
    )
    report = run_checks(dataset)
    assert report.checked == 7
    assert [(f.instance_id, f.other_instance_id) for f in report.of_kind(CheckKind.DUPLICATE)] == [
        (4, 3),
        (6, 5),
    ]
    assert [f.instance_id for f in report.of_kind(CheckKind.HIDDEN)] == [3]  # by label 4, not 1 by 2
    assert report.of_kind(CheckKind.SINGLE_USE_CLASS) == ()


def _painted_visible(dataset: Dataset) -> dict[int, int]:
    """Visible pixels of each instance: every mask decoded by pycocotools, painted back to front."""
    visible = {}
    for image in dataset.images.values():
        top = np.full((image.height, image.width), -1, np.int64)
        for inst in dataset.instances_of(image.id):
            top[to_mask_array(inst.geometry, image.height, image.width) > 0] = inst.id
        ids, counts = np.unique(top[top >= 0], return_counts=True)
        for inst in dataset.instances_of(image.id):
            visible[inst.id] = 0
        visible.update(zip(ids.tolist(), counts.tolist(), strict=True))
    return visible


def _random_scene(seed: int) -> Dataset:
    """Crowded scenes of stars, thin slivers and masks, so the sieves' slack is tested at its edge."""
    rng = np.random.default_rng(seed)
    instances = []
    for k in range(60):
        roll = rng.random()
        cx, cy, radius = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(2, 30)
        if roll < 0.5:
            n = int(rng.integers(3, 30))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            r = radius * rng.uniform(0.3, 1, n)
            geometry = Polygons((np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1),))
        elif roll < 0.65:  # a sliver a pixel or less wide
            geometry = Polygons((np.array([[cx, cy], [cx + radius, cy + 0.6], [cx, cy + 1.1]]),))
        else:
            mask = np.zeros((H, W), np.uint8)
            cv2.ellipse(
                mask,
                (int(cx), int(cy)),
                (int(radius), int(radius * 0.6)),
                float(rng.uniform(0, 180)),
                0,
                360,
                1,
                -1,
            )
            geometry = Mask.from_array(mask)
        instances.append(_inst(k + 1, geometry, z=int(rng.integers(0, 1000))))
    return _dataset(*instances)


@pytest.mark.parametrize("seed", range(6))
def test_hidden_equals_brute_force_painting(seed: int) -> None:
    dataset = _random_scene(seed)
    visible = _painted_visible(dataset)
    areas = {i.id: int(to_mask_array(i.geometry, H, W).sum()) for i in dataset.instances.values()}
    expected = {i for i, n in visible.items() if n == 0 and areas[i] > 0}
    assert {f.instance_id for f in _kinds(dataset, CheckKind.HIDDEN)} == expected


@pytest.mark.parametrize("seed", range(4))
def test_area_bounds_hold_the_exact_area(seed: int) -> None:
    dataset = _random_scene(seed)
    table = build_table(dataset)
    exact = np.array([mask_utils.area(table.rle(r)) for r in range(len(table))])
    assert np.all(table.area_low <= exact) and np.all(exact <= table.area_high)
    for row in range(len(table)):
        ys, xs = np.nonzero(to_mask_array(table.instances[row].geometry, H, W))
        if xs.size:
            x0, y0, x1, y1 = table.boxes[row]
            assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1


def test_real_coco_file_against_brute_force(testdata, tmp_path) -> None:
    source = tmp_path / "coco_tiny.json"
    shutil.copy(testdata / "isat_coco_tiny" / "coco_tiny.json", source)
    dataset = load_coco(source).dataset
    report = run_checks(dataset, CheckOptions(min_fragment_pixels=50))
    fragments = set()
    for inst in dataset.instances.values():
        image = dataset.images[inst.image_id]
        mask = to_mask_array(inst.geometry, image.height, image.width)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if not inst.iscrowd and (count == 1 or (stats[1:, cv2.CC_STAT_AREA] < 50).any()):
            fragments.add(inst.id)
    assert {f.instance_id for f in report.of_kind(CheckKind.FRAGMENT)} == fragments
    visible = _painted_visible(dataset)
    assert {f.instance_id for f in report.of_kind(CheckKind.HIDDEN)} == {
        i for i, n in visible.items() if n == 0
    }
    per_class: dict[int, int] = {}
    for inst in dataset.instances.values():
        per_class[inst.category_id] = per_class.get(inst.category_id, 0) + 1
    once = {i.id for i in dataset.instances.values() if per_class[i.category_id] == 1}
    assert {f.instance_id for f in report.of_kind(CheckKind.SINGLE_USE_CLASS)} == once
