"""Training augmentations keep every mask on its object: each instance is painted in its own colour,
so after any augmentation the pixels under a mask must be that colour, and an object whose pixels are
still in the image must still have its mask (unless less than MIN_VISIBLE of it is left)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from annotator.inference import train_augment  # noqa: E402
from annotator.inference.train_augment import MIN_VISIBLE, Piece  # noqa: E402
from annotator.inference.train_config import ConfigError, Recipe, TrainConfig  # noqa: E402
from annotator.inference.train_data import Augmentation, TrainingImages, augmentation  # noqa: E402


@pytest.fixture(scope="module")
def rectangles(tmp_path_factory):
    from training_helpers import write_rectangles

    return write_rectangles(tmp_path_factory.mktemp("rectangles"), count=4)


COLOURS = {1: (250, 0, 0), 2: (0, 250, 0), 3: (0, 0, 250), 4: (250, 250, 0)}


def _piece(boxes: dict[int, tuple[int, int, int, int]], shape=(60, 80)) -> Piece:
    """Label k painted as a solid rectangle (x0, y0, x1, y1) in COLOURS[k] on grey."""
    image = np.full((*shape, 3), 120, np.uint8)
    masks, labels = [], []
    for label, (x0, y0, x1, y1) in boxes.items():
        image[y0:y1, x0:x1] = COLOURS[label]
        mask = np.zeros(shape, np.uint8)
        mask[y0:y1, x0:x1] = 1
        masks.append(mask)
        labels.append(label)
    return Piece(image, masks, labels)


def _assert_consistent(piece: Piece) -> None:
    for mask, label in zip(piece.masks, piece.labels, strict=True):
        assert mask.shape == piece.image.shape[:2] and mask.any()
        assert (piece.image[mask.astype(bool)] == COLOURS[label]).all(), label


def test_a_random_crop_keeps_masks_on_their_objects_and_drops_the_ones_cut_away():
    piece = _piece({1: (2, 2, 22, 22), 2: (60, 40, 78, 58)})
    dropped = kept_partly = 0
    for seed in range(40):
        out = train_augment.random_crop(piece, np.random.default_rng(seed), (0.4, 0.7))
        assert out.image.shape[0] < 60 and out.image.shape[1] < 80
        _assert_consistent(out)
        for label in (1, 2):
            visible = int((out.image == COLOURS[label]).all(axis=2).sum())
            if label in out.labels:
                kept_partly += visible < 400 if label == 1 else visible < 18 * 18
            else:  # dropped: nothing or a sliver of it left in the window
                dropped += 1
                assert visible < MIN_VISIBLE * (400 if label == 1 else 18 * 18)
    assert dropped and kept_partly  # both cases happened over the seeds


def test_copy_paste_adds_the_source_instances_with_their_classes_and_hides_what_they_cover():
    target = _piece({1: (10, 10, 40, 40), 2: (50, 5, 70, 25)})
    source = _piece({3: (20, 20, 45, 45), 4: (0, 45, 20, 60)})
    labels_seen = set()
    for seed in range(20):
        out = train_augment.copy_paste(target, source, np.random.default_rng(seed))
        _assert_consistent(out)
        assert out.labels[:2] == [1, 2] and set(out.labels[2:]) <= {3, 4} and len(out.labels) >= 3
        labels_seen |= set(out.labels[2:])
        if 3 in out.labels:  # pasted over label 1: label 1's mask loses the covered pixels
            assert out.masks[0].sum() == 30 * 30 - 20 * 20
    assert labels_seen == {3, 4}
    assert (target.image[10:40, 10:40] == COLOURS[1]).all()  # the input is not changed


def test_a_pasted_instance_that_hides_almost_all_of_another_drops_it():
    target = _piece({1: (10, 10, 30, 30)})
    source = _piece({3: (9, 9, 31, 30)})  # leaves one row of label 1: 5% of it
    out = train_augment.copy_paste(target, source, np.random.default_rng(0))
    assert out.labels == [3]
    _assert_consistent(out)


def test_flips_quarter_turns_and_colour_jitter():
    piece = _piece({1: (2, 2, 22, 12), 2: (60, 40, 78, 58)})
    for turns in range(4):
        for horizontal in (False, True):
            out = train_augment.rotate90(
                train_augment.flip(piece, horizontal=horizontal, vertical=True), turns
            )
            _assert_consistent(out)
            assert out.image.shape[:2] == ((60, 80) if turns % 2 == 0 else (80, 60))
    rng = np.random.default_rng(0)
    assert train_augment.photometric(piece.image, rng, 0.0) is piece.image
    jittered = train_augment.photometric(piece.image, rng, 0.4)
    assert jittered.dtype == np.uint8 and jittered.shape == piece.image.shape
    assert not np.array_equal(jittered, piece.image)


def test_training_samples_with_every_augmentation_have_boxes_that_match_their_masks(rectangles):
    from annotator.core.training_set import select_training_set
    from annotator.io.dataset_files import load_dataset_file

    split = select_training_set(load_dataset_file(rectangles).dataset, val_split=0.0)
    label_of = {c.id: i for i, c in enumerate(split.categories, start=1)}
    recipe = Recipe(vflip=True, rot90=True, crop=(0.5, 1.0), copy_paste=1.0, color_jitter=0.3)
    images = TrainingImages(
        split.train, rectangles.parent, label_of, max_side=64, augment=augmentation(recipe)
    )
    counts = []
    for epoch in range(3):
        for index in range(len(images)):
            sample = images.sample(index, epoch)
            target = sample.target
            assert target["masks"].shape[1:] == sample.image.shape[1:]
            assert len(target["boxes"]) == len(target["labels"]) == len(target["masks"])
            assert set(target["labels"].tolist()) <= {1, 2}
            for box, mask in zip(target["boxes"], target["masks"], strict=True):
                rows, cols = torch.nonzero(mask.any(dim=1))[:, 0], torch.nonzero(mask.any(dim=0))[:, 0]
                assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            counts.append(len(target["labels"]))
            again = images.sample(index, epoch)  # seeded per (epoch, image): a resume repeats it
            assert torch.equal(again.image, sample.image) and torch.equal(
                again.target["masks"], target["masks"]
            )
    assert max(counts) > 2  # copy-paste added instances to the two of each image


def test_the_recipe_checks_its_augmentation_settings_and_old_configs_still_load(tmp_path):
    for bad in ({"crop": (0.05, 1.0)}, {"crop": (0.9, 0.5)}, {"copy_paste": 1.5}, {"color_jitter": -0.1}):
        with pytest.raises(ConfigError):
            Recipe(**bad)
    config = TrainConfig(data=tmp_path / "d.json", out=tmp_path / "m.pt", recipe=Recipe(crop=[0.5, 1]))
    assert TrainConfig.from_json(config.to_json()) == config
    old = config.to_json()
    for key in ("crop", "copy_paste", "color_jitter", "vflip", "rot90"):
        del old["recipe"][key]  # a config written before these settings existed
    assert TrainConfig.from_json(old).recipe == dataclasses.replace(Recipe(), crop=(1.0, 1.0), copy_paste=0.0,
                                                                     color_jitter=0.0)  # fmt: skip
    assert (
        augmentation(Recipe(hflip=False, crop=(1.0, 1.0), copy_paste=0.0, color_jitter=0.0)) == Augmentation()
    )
