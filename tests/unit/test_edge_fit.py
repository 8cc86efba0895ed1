"""A label drawn a few pixels loose or tight is found from the picture's edges, and its fix lies on the
object; a label on the edge, or a pixel off it, is left alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from annotator.core.edge_fit import edge_fit
from annotator.core.geometry import Mask, mask_iou, to_mask_array
from annotator.core.region import Region

H, W = 120, 160


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A textured ground with a differently textured disc on it; the disc's true mask."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(90, 140, (H, W, 3), dtype=np.uint8)
    truth = np.zeros((H, W), np.uint8)
    cv2.circle(truth, (70, 60), 30, 1, -1)
    disc = rng.integers(10, 60, (H, W, 3), dtype=np.uint8)
    pixels[truth > 0] = disc[truth > 0]
    return pixels, truth


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    kernel = np.ones((3, 3), np.uint8)
    if pixels >= 0:
        return cv2.dilate(mask, kernel, iterations=pixels)
    return cv2.erode(mask, kernel, iterations=-pixels)


@pytest.mark.parametrize("drawn", [-4, -3, -2, 2, 3, 4])
def test_a_loose_or_tight_label_is_moved_back_onto_the_edge(drawn: int) -> None:
    pixels, truth = _scene()
    label = Mask.from_array(_grown(truth, drawn))
    fit = edge_fit(pixels, Region(label, H, W).crop)
    assert fit.offset == -drawn and fit.gain > 0.4
    fixed = to_mask_array(fit.geometry(label, H, W), H, W)
    assert mask_iou(fixed, truth) > 0.97 > mask_iou(to_mask_array(label, H, W), truth)


@pytest.mark.parametrize("drawn", [-1, 0, 1])
def test_a_label_on_the_edge_or_a_pixel_off_is_left_alone(drawn: int) -> None:
    pixels, truth = _scene()
    fit = edge_fit(pixels, Region(Mask.from_array(_grown(truth, drawn)), H, W).crop)
    assert fit.offset == 0 and fit.gain == 0


def test_an_empty_label_has_no_fit_and_a_label_at_the_image_border_still_fits() -> None:
    pixels, truth = _scene()
    assert edge_fit(pixels, Region(Mask.from_array(np.zeros((H, W), np.uint8)), H, W).crop) is None
    shifted = np.roll(truth, -45, axis=1)  # the disc cut by the left border
    pixels[:] = 120
    pixels[shifted > 0] = 20
    label = Mask.from_array(_grown(shifted, 3))
    fit = edge_fit(pixels, Region(label, H, W).crop)
    assert fit.offset == -3
    assert mask_iou(to_mask_array(fit.geometry(label, H, W), H, W), shifted) > 0.97


def test_an_erosion_that_would_leave_less_than_half_the_label_is_not_suggested() -> None:
    pixels = np.full((H, W, 3), 200, np.uint8)
    line = np.zeros((H, W), np.uint8)
    cv2.line(line, (10, 60), (150, 60), 1, 2)  # a thin dark line
    pixels[line > 0] = 0
    fit = edge_fit(pixels, Region(Mask.from_array(_grown(line, 2)), H, W).crop)
    assert fit.offset >= -1
