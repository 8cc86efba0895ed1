"""Ids a file may hold (up to 2^63 - 1, SQLite's largest integer) never make the tool invent one it cannot
store: a new instance, class or image after id 2^63 - 1 takes the smallest free id; a stacking order
(z) too close to the limit for a shape in front of it is not kept."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.core import classes
from annotator.core.geometry import Polygons
from annotator.core.model import ID_MAX, Category, Dataset, Image, Instance, fresh_ids
from annotator.io.coco import load_coco
from annotator.io.project import open_project, read_project, refresh_images

SQUARE = Polygons((np.array([[1, 1], [9, 1], [9, 9], [1, 9]], dtype=np.float64),))
ids = st.one_of(st.integers(1, 50), st.integers(ID_MAX - 50, ID_MAX))


@settings(max_examples=60, deadline=None)
@given(taken=st.sets(ids, max_size=30), counts=st.lists(st.integers(1, 5), min_size=1, max_size=6))
def test_new_instance_ids_fit_64_bits_and_are_never_handed_out_twice(taken, counts):
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 10, 10)])
    dataset.put_instances([Instance(i, 1, 1, SQUARE) for i in taken])
    handed: list[int] = []
    for count in counts:
        got = list(dataset.new_instance_ids(count))
        assert len(got) == count
        handed.extend(got)
    assert len(set(handed)) == len(handed) and not set(handed) & taken
    assert all(1 <= i <= ID_MAX for i in handed)


@given(taken=st.sets(ids, max_size=30), count=st.integers(0, 5))
def test_fresh_ids_are_free_and_fit_64_bits(taken, count):
    got = fresh_ids(taken, count)
    assert len(set(got)) == count and not set(got) & taken and all(1 <= i <= ID_MAX for i in got)


def test_a_class_after_id_2_63_minus_1_gets_the_smallest_free_id():
    dataset = Dataset()
    dataset.put_categories([Category(ID_MAX, "top"), Category(1, "one")])
    assert classes.next_id(dataset) == 2


def test_new_images_in_a_project_whose_largest_image_id_is_2_63_minus_1_are_saved(tmp_path):
    PilImage.new("RGB", (10, 10)).save(tmp_path / "a.png")
    data = {"images": [{"id": ID_MAX, "file_name": "a.png", "width": 10, "height": 10}],
            "categories": [], "annotations": []}  # fmt: skip
    (tmp_path / "data.json").write_text(json.dumps(data))
    project = open_project(tmp_path / "data.json")
    PilImage.new("RGB", (10, 10)).save(tmp_path / "b.png")
    assert refresh_images(project) == 1
    project.dataset.new_instance_id()
    project.close()
    saved = read_project(tmp_path / "data.annotator")
    assert sorted(saved.dataset.images) == [1, ID_MAX]
    saved.close()


def test_a_stacking_order_past_2_53_is_not_kept_on_import(tmp_path):
    ann = {
        "image_id": 1,
        "category_id": 1,
        "segmentation": [[1, 1, 9, 1, 9, 9]],
        "area": 32,
        "bbox": [1, 1, 8, 8],
    }
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {**ann, "id": 1, "annotator": {"z": ID_MAX}},
            {**ann, "id": 2, "annotator": {"z": 0}},
        ],
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    dataset = load_coco(tmp_path / "data.json").dataset
    assert all(abs(i.z) <= 2**53 for i in dataset.instances.values())
