"""Merging annotations read from a file into a dataset (core.annotation_merge): images by file name,
classes by name, one reversible edit that leaves what the dataset holds untouched."""

from __future__ import annotations

import numpy as np

from annotator.core.annotation_merge import merge_edit
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance, Review, Source


def _square(x: float, y: float, size: float = 10) -> Polygons:
    return Polygons((np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], float),))


def _project() -> Dataset:
    dataset = Dataset()
    dataset.put_images(
        [Image(1, "a.jpg", 100, 80), Image(2, "sub/b.jpg", 100, 80), Image(3, "c.jpg", 50, 50)]
    )
    dataset.put_categories([Category(3, "Person"), Category(7, "car")])
    dataset.put_instances([Instance(5, 1, 3, _square(0, 0), z=0)])
    return dataset


def _file() -> Dataset:
    """A file's own ids, class ids and names: `person` is the project's `Person`, `dog` is new."""
    dataset = Dataset()
    dataset.put_images(
        [
            Image(10, "a.jpg", 100, 80),
            Image(11, "images/b.jpg", 100, 80),  # the project's sub/b.jpg, by its base name
            Image(12, "missing.jpg", 100, 80),
            Image(13, "c.jpg", 60, 60),  # another size than the project's c.jpg
        ]
    )
    dataset.put_categories([Category(1, "person"), Category(2, "dog", "animal", (1, 2, 3))])
    dataset.put_instances(
        [
            Instance(1, 10, 1, _square(20, 20), z=1),
            Instance(2, 10, 2, _square(40, 40, 30), z=0),
            Instance(3, 11, 2, _square(5, 5), source=Source.from_model("det", 0.4)),
            Instance(4, 12, 1, _square(5, 5)),
            Instance(5, 13, 1, _square(5, 5)),
        ]
    )
    return dataset


def test_images_by_file_name_classes_by_name_new_ids_on_top() -> None:
    dataset, imported = _project(), _file()
    merge = merge_edit(dataset, imported)
    merge.edit.apply(dataset)
    report = merge.report
    assert (report.instances, report.images, report.predictions) == (3, 2, 1)
    assert report.created_classes == ("dog",)
    dog = next(c for c in dataset.categories.values() if c.name == "dog")
    assert dog.id == 8 and dog.color == (1, 2, 3) and dog.supercategory == "animal"  # next free id
    on_a = dataset.instances_of(1)
    assert [i.category_id for i in on_a] == [3, dog.id, 3]  # the old one stays behind, file's order above
    assert [i.z for i in on_a] == [0, 1, 2] and on_a[0].id == 5
    assert len({i.id for i in dataset.instances.values()}) == 4  # new ids, none reused
    assert dataset.new_instance_id() > max(dataset.instances)
    prediction = dataset.instances_of(2)[0]
    assert prediction.source == Source.from_model("det", 0.4) and prediction.review is Review.UNREVIEWED
    assert dataset.images[2].status is ImageStatus.PRELABELED  # as pre-labelling marks it
    assert dataset.images[1].status is ImageStatus.NEW
    unmatched = {u.file_name: u.reason for u in report.unmatched}
    assert unmatched["missing.jpg"] == "not in the project; its instance is left out"
    assert unmatched["c.jpg"].startswith("is 60x60 in the file but 50x50 in the project")


def test_revert_restores_exactly_the_state_before() -> None:
    dataset = _project()
    before = (dict(dataset.images), dict(dataset.categories), dict(dataset.instances))
    merge = merge_edit(dataset, _file())
    merge.edit.apply(dataset)
    merge.edit.revert(dataset)
    assert (dict(dataset.images), dict(dataset.categories), dict(dataset.instances)) == before


def test_a_base_name_two_images_share_is_not_guessed() -> None:
    dataset = Dataset()
    dataset.put_images([Image(1, "x/a.jpg", 10, 10), Image(2, "y/a.jpg", 10, 10)])
    imported = Dataset()
    imported.put_images([Image(1, "a.jpg", 10, 10)])
    imported.put_categories([Category(1, "thing")])
    imported.put_instances([Instance(1, 1, 1, _square(1, 1, 3))])
    merge = merge_edit(dataset, imported)
    assert merge.edit is None and merge.report.instances == 0
    assert [u.file_name for u in merge.report.unmatched] == ["a.jpg"]


def test_a_file_without_names_gets_classes_named_by_id() -> None:
    dataset = _project()
    imported = Dataset()
    imported.put_images([Image(1, "a.jpg", 100, 80)])
    imported.put_instances([Instance(1, 1, 42, _square(1, 1))])  # class 42 is not declared
    merge = merge_edit(dataset, imported)
    assert merge.report.created_classes == ("42",)
