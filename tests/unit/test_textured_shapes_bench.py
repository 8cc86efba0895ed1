"""bench/textured_shapes.py's camouflage variant: colour no longer tells object from ground (what makes it
hard for GrabCut), while the plain set is drawn as before (the same random draws; checked against main's
images when the variant was added)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def shapes():
    spec = importlib.util.spec_from_file_location("textured_shapes", REPO / "bench" / "textured_shapes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["textured_shapes"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _colour_gaps(shapes, camouflage: bool) -> list[float]:
    """For each object, how far its mean colour is from the ground's (largest channel difference)."""
    rng = np.random.default_rng(3)
    gaps = []
    for _ in range(4):
        image, objects = shapes.textured_image(rng, camouflage=camouflage)
        ground = image[~np.any([mask for _, mask in objects], axis=0)].mean(axis=0)
        gaps += [float(np.abs(image[mask].mean(axis=0) - ground).max()) for _, mask in objects]
    return gaps


def test_camouflaged_objects_wear_the_grounds_colours(shapes):
    camouflaged, plain = _colour_gaps(shapes, True), _colour_gaps(shapes, False)
    assert len(camouflaged) >= 10
    assert max(camouflaged) < 15 < min(plain)


def test_camouflage_is_off_by_default_and_draws_labelled_images(shapes):
    first = shapes.textured_image(np.random.default_rng(7))
    again = shapes.textured_image(np.random.default_rng(7), camouflage=False)
    assert np.array_equal(first[0], again[0]) and len(first[1]) == len(again[1])
    image, objects = shapes.textured_image(np.random.default_rng(7), camouflage=True)
    assert image.shape == (shapes.HEIGHT, shapes.WIDTH, 3) and objects
