"""Class management as reversible edits: ids (max + 1, never renumbered), names, order, merge and delete,
saved through the real SQLite store and carried by COCO export and import."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core import classes
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source
from annotator.io.coco import coco_dict, load_coco, save_coco
from annotator.io.store import ProjectStore


def _square(x: float) -> Polygons:
    return Polygons((np.array([[x, 1], [x + 4, 1], [x + 4, 5], [x, 5]], float),))


def _coco_like() -> Dataset:
    """Ids with gaps as COCO has them; a prediction among the cats."""
    ds = Dataset()
    ds.put_categories([Category(1, "person"), Category(3, "car"), Category(17, "cat", color=(9, 8, 7))])
    ds.put_images([Image(1, "a.png", 40, 10), Image(2, "b.png", 40, 10)])
    ds.put_instances(
        [
            Instance(1, 1, 17, _square(1)),
            Instance(2, 2, 17, _square(10), source=Source.from_model("m", 0.8)),
            Instance(3, 1, 3, _square(20)),
        ]
    )
    return ds


def _state(ds: Dataset) -> tuple:
    return (dict(ds.categories), dict(ds.instances))


def _undo_redo_exact(ds: Dataset, edit) -> None:
    before = _state(ds)
    edit.apply(ds)
    after = _state(ds)
    edit.revert(ds)
    assert _state(ds) == before
    edit.apply(ds)
    assert _state(ds) == after


def test_new_classes_get_max_plus_one_and_an_empty_project_starts_at_1():
    empty = Dataset()
    first = classes.add(empty, "face")
    assert first.new[0].id == 1 and first.text == "Add class face"
    ds = _coco_like()
    edit = classes.add(ds, "  dog ")
    assert edit.new[0].id == 18 and edit.new[0].name == "dog"
    _undo_redo_exact(ds, edit)
    assert classes.add(ds, "bird").new[0].id == 19  # ids already used are never handed out again


def test_names_must_be_new_and_not_empty():
    ds = _coco_like()
    with pytest.raises(classes.ClassError, match="already a class named car"):
        classes.add(ds, "CAR")
    with pytest.raises(classes.ClassError, match="needs a name"):
        classes.rename(ds, 3, "   ")
    with pytest.raises(classes.ClassError, match="already a class named person"):
        classes.rename(ds, 3, "Person")
    assert classes.rename(ds, 3, "car") is None  # unchanged: nothing to undo


def _through_a_file(ds: Dataset, tmp_path) -> Dataset:
    save_coco(ds, tmp_path / "out.json")
    return load_coco(tmp_path / "out.json").dataset


def test_rename_keeps_the_id_and_is_exported_and_imported_with_it(tmp_path):
    ds = _coco_like()
    edit = classes.rename(ds, 17, "kitten")
    assert edit.text == "Rename class cat to kitten"
    _undo_redo_exact(ds, edit)
    exported = coco_dict(ds)
    assert {"id": 17, "name": "kitten"}.items() <= exported["categories"][2].items()
    assert [a["category_id"] for a in exported["annotations"]] == [17, 3, 17]
    back = _through_a_file(ds, tmp_path)
    assert back.categories[17].name == "kitten" and back.categories[17].color == (9, 8, 7)


def test_recolour_is_one_reversible_step():
    ds = _coco_like()
    edit = classes.recolour(ds, 3, (255, 0, 10))
    assert edit.text == "Change colour of class car"
    _undo_redo_exact(ds, edit)
    assert ds.categories[3].color == (255, 0, 10) and classes.recolour(ds, 3, (255, 0, 10)) is None


def test_the_persons_order_ranks_classes_and_round_trips_through_coco(tmp_path):
    ds = _coco_like()
    assert classes.ordered_ids(ds) == [1, 3, 17]  # unranked: by id
    edit = classes.reorder(ds, [17, 1, 3])
    assert edit.text == "Move class cat to place 1"
    _undo_redo_exact(ds, edit)
    assert classes.ordered_ids(ds) == [17, 1, 3]
    assert classes.reorder(ds, [17, 1, 3]) is None
    classes.add(ds, "zebra").apply(ds)  # a new class comes last, whatever its id
    assert classes.ordered_ids(ds) == [17, 1, 3, 18]
    exported = coco_dict(ds)
    assert [c["id"] for c in exported["categories"]] == [1, 3, 17, 18]  # ids as they are
    assert exported["categories"][2]["annotator"] == {"color": [9, 8, 7], "rank": 0}
    assert classes.ordered_ids(_through_a_file(ds, tmp_path)) == [17, 1, 3, 18]
    with pytest.raises(classes.ClassError):
        classes.reorder(ds, [17, 1])


def test_merge_moves_the_instances_keeps_their_review_and_removes_the_class():
    ds = _coco_like()
    edit = classes.merge(ds, 17, 3)
    assert edit.text == "Merge class cat into car"
    _undo_redo_exact(ds, edit)
    assert 17 not in ds.categories
    assert [ds.instances[i].category_id for i in (1, 2, 3)] == [3, 3, 3]
    assert ds.instances[2].review is Review.UNREVIEWED  # relabelling a class is not reviewing it
    with pytest.raises(classes.ClassError):
        classes.merge(ds, 3, 3)


def test_delete_unused_in_use_with_its_instances_or_moving_them():
    ds = _coco_like()
    unused = classes.delete(ds, 1)
    assert unused.text == "Delete class person"
    _undo_redo_exact(ds, unused)
    with_instances = classes.delete(ds, 17)
    assert with_instances.text == "Delete class cat and its 2 instances"
    _undo_redo_exact(ds, with_instances)
    assert set(ds.instances) == {3} and 17 not in ds.categories
    with_instances.revert(ds)
    moving = classes.delete(ds, 17, move_to=3)
    assert moving.text == "Delete class cat, moving 2 instances to car"
    _undo_redo_exact(ds, moving)
    assert set(ds.instances) == {1, 2, 3} and {i.category_id for i in ds.instances.values()} == {3}


def test_the_store_writes_every_class_change_and_undo_restores_a_deleted_class(tmp_path):
    ds = _coco_like()
    path = tmp_path / "p.annotator"
    store = ProjectStore(path)
    store.write_all(ds)
    store.attach(ds)
    classes.reorder(ds, [3, 17, 1]).apply(ds)
    classes.rename(ds, 3, "auto").apply(ds)
    classes.add(ds, "face").apply(ds)
    delete = classes.delete(ds, 17)
    delete.apply(ds)
    assert _reopened(store, path).categories == ds.categories  # the row is gone, ranks and names kept
    store = ProjectStore(path)
    store.attach(ds)
    delete.revert(ds)
    reopened = _reopened(store, path)
    assert reopened.categories == ds.categories and reopened.instances == ds.instances
    assert 17 in reopened.categories and classes.ordered_ids(reopened) == [3, 17, 1, 18]
    assert all("annotator" not in c.extra for c in reopened.categories.values())  # rank is not extra


def _reopened(store: ProjectStore, path) -> Dataset:
    store.close()
    return ProjectStore(path).read_all()
