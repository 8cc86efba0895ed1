"""A label given the class of another shape is found from the person's other labels, and the class it
should have is proposed; nothing is said where the labels agree or a class is too small to judge."""

from __future__ import annotations

import cv2
import numpy as np

from annotator.core.class_consistency import MIN_AREA, odd_ones_out, shape_features
from annotator.core.region import Crop

SQUARE, DISC = 5, 9


def _crop(kind: int, rng: np.random.Generator) -> Crop:
    mask = np.zeros((80, 80), np.uint8)
    size = int(rng.integers(12, 30))
    if kind == SQUARE:
        corners = cv2.boxPoints(((40, 40), (size * 2, size * 2 * rng.uniform(0.8, 1.0)), rng.uniform(0, 90)))
        cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    else:
        cv2.ellipse(
            mask, (40, 40), (size, int(size * rng.uniform(0.8, 1.0))), rng.uniform(0, 180), 0, 360, 1, -1
        )
    return Crop(0, 0, mask)


def _labels(count: int = 30):
    rng = np.random.default_rng(0)
    classes = [SQUARE] * count + [DISC] * count
    features = np.array([shape_features(_crop(kind, rng)) for kind in classes])
    return features, classes


def test_a_disc_labelled_as_a_square_is_the_one_found() -> None:
    features, classes = _labels()
    assert odd_ones_out(features, classes) == []
    classes[40] = SQUARE  # a disc, labelled square
    votes = odd_ones_out(features, classes)
    assert [(v.index, v.proposed) for v in votes] == [(40, DISC)]
    assert votes[0].proposed_share >= 0.8 and votes[0].own_share <= 0.2


def test_colour_features_count_only_as_much_as_they_separate_the_classes() -> None:
    features, classes = _labels()
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 50, (len(classes), 6))  # colours unrelated to the class
    classes[40] = SQUARE
    votes = odd_ones_out(np.hstack([features, noise]), classes)
    assert [(v.index, v.proposed) for v in votes] == [(40, DISC)]


def test_a_class_with_no_more_labels_than_neighbours_is_not_judged() -> None:
    features, classes = _labels(count=30)
    rng = np.random.default_rng(2)
    squares_like_discs = np.array([shape_features(_crop(DISC, rng)) for _ in range(20)])
    few = np.vstack([features[:38], squares_like_discs])  # 30 squares, 8 discs, 20 more discs...
    labels = classes[:38] + [SQUARE] * 20  # ...labelled square: the 8 discs' neighbours are "squares"
    assert labels.count(DISC) == 8
    assert all(labels[v.index] == SQUARE for v in odd_ones_out(few, labels))
    assert odd_ones_out(few[:5], labels[:5]) == []  # fewer labels than neighbours: nothing to say


def test_tiny_masks_have_no_shape() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[2:9, 2:9] = 1
    assert mask.sum() < MIN_AREA and shape_features(Crop(0, 0, mask)) is None
