"""Which instances and images a training run uses, and the notices for what it leaves out (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.core.geometry import Mask, Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Review, Source
from annotator.core.training_set import TrainingSetError, select_training_set

SQUARE = Polygons((np.array([[2.0, 2.0], [12.0, 2.0], [12.0, 12.0], [2.0, 12.0]]),))


def _dataset(images: int = 10) -> Dataset:
    dataset = Dataset()
    dataset.put_categories([Category(4, "cat"), Category(9, "dog"), Category(30, "unused")], notify=False)
    dataset.put_images([Image(i, f"img{i}.png", 32, 24) for i in range(1, images + 1)], notify=False)
    return dataset


def _add(dataset: Dataset, image_id: int, category_id: int, geometry=SQUARE, **changes) -> Instance:
    instance = Instance(dataset.new_instance_id(), image_id, category_id, geometry, **changes)
    dataset.put_instances([instance], notify=False)
    return instance


def test_only_trainable_instances_train_and_unused_classes_are_named():
    dataset = _dataset()
    for image_id in range(1, 11):
        _add(dataset, image_id, 4)  # hand-drawn
    kept_model = _add(dataset, 1, 9, source=Source.from_model("m", 0.9), review=Review.ACCEPTED)
    _add(dataset, 2, 9, source=Source.from_model("m", 0.9))  # unreviewed prediction
    _add(dataset, 3, 9, source=Source.from_model("m", 0.9), review=Review.REJECTED)
    _add(dataset, 4, 9, iscrowd=True)
    chosen = select_training_set(dataset, val_split=0.2, seed=1)
    used = {inst.id for item in chosen.train + chosen.validation for inst in item.instances}
    assert kept_model.id in used and len(used) == 11
    assert [c.id for c in chosen.categories] == [4, 9] and chosen.label_to_category == (0, 4, 9)
    assert any("'unused' (id 30) has no trainable instance" in n for n in chosen.notices)
    assert len(chosen.validation) == 2 and len(chosen.train) == 8
    assert not {i.image.id for i in chosen.train} & {i.image.id for i in chosen.validation}


def test_no_trainable_instance_is_refused_with_the_reason():
    dataset = _dataset()
    _add(dataset, 1, 4, source=Source.from_model("m", 0.8))
    with pytest.raises(TrainingSetError, match=r"no trainable instances.*\(1 unreviewed, rejected or crowd"):
        select_training_set(dataset)


def test_degenerate_instances_are_skipped_and_named():
    dataset = _dataset(images=3)
    _add(dataset, 1, 4)
    empty = _add(dataset, 2, 4, Mask.from_array(np.zeros((24, 32), np.uint8)))
    wrong_size = _add(dataset, 3, 4, Mask.from_array(np.ones((5, 5), np.uint8)))
    chosen = select_training_set(dataset, val_split=0.0)
    assert [item.image.id for item in chosen.train] == [1]
    notice = next(n for n in chosen.notices if "degenerate" in n)
    assert f"instance {empty.id} on img2.png (empty mask, zero area)" in notice
    assert f"instance {wrong_size.id} on img3.png" in notice


def test_unreadable_images_are_skipped_and_all_unreadable_is_refused():
    dataset = _dataset(images=4)
    for image_id in range(1, 5):
        _add(dataset, image_id, 4)
    missing = {"img2.png", "img3.png"}
    chosen = select_training_set(
        dataset,
        val_split=0.0,
        image_available=lambda image: "not found" if image.file_name in missing else None,
    )
    assert [item.image.id for item in chosen.train] == [1, 4]
    assert any("skipped 2 images that cannot be read: img2.png (not found)" in n for n in chosen.notices)
    with pytest.raises(TrainingSetError, match="none of the 4 images"):
        select_training_set(dataset, image_available=lambda image: "gone")


def test_a_set_too_small_to_split_trains_without_validation_and_says_so():
    dataset = _dataset(images=4)
    for image_id in range(1, 5):
        _add(dataset, image_id, 9)
    chosen = select_training_set(dataset, val_split=0.2)
    assert len(chosen.train) == 4 and chosen.validation == ()
    assert any("too few for a validation split" in n for n in chosen.notices)
    quiet = select_training_set(dataset, val_split=0.0)
    assert not any("validation" in n for n in quiet.notices)


def test_the_split_is_seeded():
    dataset = _dataset(images=10)
    for image_id in range(1, 11):
        _add(dataset, image_id, 4)
    first = select_training_set(dataset, seed=3)
    again = select_training_set(dataset, seed=3)
    other = select_training_set(dataset, seed=4)
    ids = [[i.image.id for i in s.validation] for s in (first, again, other)]
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_many_classes_without_instances_are_one_notice():
    """COCO's 80 classes on a small set printed 65 notices, one per class: now one line."""
    dataset = _dataset()
    dataset.put_categories([Category(100 + k, f"extra{k}") for k in range(65)], notify=False)
    for image_id in range(1, 11):
        _add(dataset, image_id, 4)
    notices = select_training_set(dataset, val_split=0.2, seed=1).notices
    unused = [n for n in notices if "no trainable instance" in n]
    assert unused == ["67 classes have no trainable instance: left out ('dog' (id 9), 'unused' (id 30), "
                      "'extra0' (id 100) and 64 more)"]  # fmt: skip
