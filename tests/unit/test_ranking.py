"""Label next: uncertain images first, one of each group of near-identical frames, away from what is
labelled; the image descriptor and its cache on real files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image as PilImage

from annotator.core.geometry import Polygons
from annotator.core.image_descriptor import LENGTH, image_descriptor
from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review, Source
from annotator.core.ranking import MASK_SCORE_KEY, RankOptions, Uncertainty, dataset_uncertainty, rank_images
from annotator.io.coco import load_coco
from annotator.io.errors import DatasetError
from annotator.io.image_descriptors import describe_images, load_embeddings, save_embeddings, sidecar_path

SQUARE = Polygons((np.array([[0, 0], [5, 0], [5, 5], [0, 5.0]]),))


def _dataset(predictions: dict[int, list[float]], *, done: tuple[int, ...] = (), images: int = 6) -> Dataset:
    dataset = Dataset()
    dataset.put_images(
        [
            Image(i, f"{i}.png", 10, 10, ImageStatus.DONE if i in done else ImageStatus.NEW)
            for i in range(1, images + 1)
        ],
        notify=False,
    )
    instances = []
    for image_id, scores in predictions.items():
        for score in scores:
            source = Source.from_model("m", score)
            instances.append(
                Instance(len(instances) + 1, image_id, 1, SQUARE, source=source, review=Review.UNREVIEWED)
            )
    dataset.put_instances(instances, notify=False)
    return dataset


def test_uncertainty_from_stored_predictions() -> None:
    dataset = _dataset(
        {1: [0.5], 2: [0.95, 0.02], 3: [0.55, 0.45, 0.6], 4: [0.9], 7: [0.5]}, done=(4,), images=7
    )
    # a person's work on an image (a judged prediction, or labels imported with the dataset) makes it labelled
    judged = Instance(99, 7, 1, SQUARE, source=Source.from_model("m", 0.5), review=Review.ACCEPTED)
    dataset.put_instances([judged], notify=False)
    found = dataset_uncertainty(dataset, RankOptions(score_threshold=0.5, band=0.2))
    values = dict(zip(found.image_ids.tolist(), found.values.tolist(), strict=True))
    assert 4 not in values and 7 not in values  # done; a person's work on it
    assert values[1] == pytest.approx(1.0) and values[2] == 0.0
    assert 0.9 < values[3] < 1.0  # several near the threshold add up
    assert np.isnan(values[5]) and np.isnan(values[6])  # never pre-labelled: unknown
    assert dict(zip(found.image_ids.tolist(), found.near_threshold.tolist(), strict=True))[3] == 3


def test_summed_doubts_count_the_corrections_an_image_is_expected_to_need() -> None:
    """ "sum": an image with three doubtful predictions outweighs one with a single doubtful prediction,
    where "any" saturates near 1 for both."""
    dataset = _dataset({1: [0.5], 2: [0.5, 0.45, 0.55], 3: [0.95]}, images=3)
    found = dataset_uncertainty(dataset, RankOptions(score_threshold=0.5, band=0.2, aggregate="sum"))
    values = dict(zip(found.image_ids.tolist(), found.values.tolist(), strict=True))
    assert values[1] == pytest.approx(1.0) and values[2] == pytest.approx(1.0 + 0.75 + 0.75)
    assert values[3] == 0.0
    with pytest.raises(ValueError, match="aggregate"):
        RankOptions(aggregate="mean")


def test_a_stored_mask_confidence_counts_as_doubt() -> None:
    dataset = _dataset({1: [0.95], 2: [0.95]}, images=2)
    shaky = dataset.instances[2].with_changes(extra={MASK_SCORE_KEY: 0.3})
    dataset.put_instances([shaky], notify=False)
    values = dataset_uncertainty(dataset).values
    assert values[0] == 0.0 and values[1] == np.float64(1 - 0.3).item()


def test_k_center_picks_one_frame_of_each_scene_away_from_the_labelled_ones() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    scene = np.repeat(np.arange(6), 10)  # ten near-identical frames of each of six scenes
    vectors = centres[scene] + 0.01 * rng.normal(size=(60, 16))
    ids = np.arange(1, 61)
    labelled = {100: centres[0] + 0.01 * rng.normal(size=16)}  # scene 0 is labelled already
    # scene 1 is the most uncertain everywhere: uncertainty alone would list its ten frames first
    values = np.where(scene == 1, 0.9, 0.5)
    uncertainty = Uncertainty(ids, values, np.zeros(60, np.int64))
    ranking = rank_images(uncertainty, dict(zip(ids.tolist(), vectors, strict=True)), labelled=labelled)
    first = [int(scene[i - 1]) for i in ranking.image_ids[:5]]
    assert first[0] == 1 and sorted(first) == [1, 2, 3, 4, 5]
    assert sorted(ranking.image_ids) == ids.tolist()


def test_weight_breaks_ties_and_unknown_images_still_rank() -> None:
    vectors = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0]), 3: np.array([-1.0, 0.0])}
    uncertainty = Uncertainty(np.array([1, 2, 3]), np.array([0.1, np.nan, 0.9]), np.zeros(3, np.int64))
    ranking = rank_images(uncertainty, vectors, labelled={9: np.array([0.0, -1.0])})
    assert ranking.image_ids[0] == 3  # as far from the labelled one as 1, and more uncertain
    assert ranking.images[1].uncertainty is None or ranking.images[2].uncertainty is None
    missing = rank_images(uncertainty, {1: vectors[1]})  # no embedding: after the others, by weight
    assert missing.image_ids == (1, 3, 2)


def test_a_few_wide_embeddings_keep_their_full_distances_to_the_labelled() -> None:
    """Four images to rank with 64-long embeddings: projecting them on their own span would lose the
    labelled image's distance off it, so the distance placed is the full one."""
    rng = np.random.default_rng(3)
    vectors = {i: rng.normal(size=64) for i in range(1, 5)}
    labelled = rng.normal(size=64)
    uncertainty = Uncertainty(np.arange(1, 5), np.full(4, 0.5), np.zeros(4, np.int64))
    ranking = rank_images(uncertainty, vectors, labelled={9: labelled}, options=RankOptions(dims=32))
    first = ranking.images[0]

    def unit(v):
        return v / np.linalg.norm(v)

    full = [np.linalg.norm(unit(v) - unit(labelled)) for v in vectors.values()]
    assert first.image_id == 1 + int(np.argmax(full))
    assert first.distance == pytest.approx(max(full), rel=1e-5)


def test_descriptors_of_real_images_and_their_sidecar(testdata, tmp_path) -> None:
    folder = tmp_path / "coco"
    shutil.copytree(testdata / "isat_coco_tiny", folder)
    dataset = load_coco(folder / "coco_tiny.json").dataset
    sidecar = sidecar_path(folder / "coco_tiny.json")
    first = describe_images(dataset, folder / "images", sidecar=sidecar)
    assert first.computed == 5 and not first.problems and sidecar.exists()
    vectors = np.stack([first.vectors[i] for i in sorted(first.vectors)])
    assert vectors.shape == (5, LENGTH) and vectors.dtype == np.float32
    # an image re-encoded at a lower quality stays nearer to itself than to any other image
    image = dataset.images[sorted(first.vectors)[0]]
    path = folder / "images" / image.file_name
    again = describe_images(dataset, folder / "images", sidecar=sidecar)
    assert again.computed == 0 and all(
        np.array_equal(again.vectors[i], first.vectors[i]) for i in first.vectors
    )
    PilImage.open(path).convert("RGB").save(path, quality=40)
    changed = describe_images(dataset, folder / "images", sidecar=sidecar)
    assert changed.computed == 1
    distances = np.linalg.norm(vectors - changed.vectors[image.id], axis=1)
    assert np.argmin(distances) == 0 and distances[0] < 0.5 * np.sort(distances)[1]
    sidecar.write_bytes(b"not an npz")
    assert describe_images(dataset, folder / "images", sidecar=sidecar).computed == 5
    (folder / "images" / image.file_name).unlink()
    missing = describe_images(dataset, folder / "images", sidecar=None)
    assert image.id not in missing.vectors and len(missing.problems) == 1


def test_descriptor_sees_colour_texture_and_layout() -> None:
    rng = np.random.default_rng(1)
    red = np.zeros((80, 120, 3), np.uint8)
    red[..., 0] = 200
    stripes = np.zeros((80, 120, 3), np.uint8)
    stripes[:, ::8] = 255
    noise = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
    described = [image_descriptor(x) for x in (red, stripes, noise, red.copy())]
    assert np.array_equal(described[0], described[3])
    assert min(np.linalg.norm(described[i] - described[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.2


def test_thumbnails_of_every_image_kind_keep_their_orientation(tmp_path) -> None:
    from annotator.io.images import load_rgb, load_thumbnail

    wide = np.zeros((60, 200, 3), np.uint8)
    wide[:, :100] = (255, 0, 0)
    kinds = {
        "rgb.jpg": PilImage.fromarray(wide),
        "cmyk.jpg": PilImage.fromarray(wide).convert("CMYK"),
        "gray16.png": PilImage.fromarray((np.arange(12000).reshape(60, 200) * 5).astype(np.uint16)),
        "palette.png": PilImage.fromarray(wide).convert("P"),
        "rgba.png": PilImage.fromarray(np.dstack([wide, np.full((60, 200), 128, np.uint8)])),
    }
    for name, image in kinds.items():
        image.save(tmp_path / name)
        small = load_thumbnail(tmp_path / name, 64)
        assert small.dtype == np.uint8 and small.shape[2] == 3 and max(small.shape[:2]) <= 64, name
        assert small.shape[1] > small.shape[0], name  # still wide
    rotated = PilImage.fromarray(wide)
    exif = rotated.getexif()
    exif[0x0112] = 6  # shown turned by 90 degrees: tall
    rotated.save(tmp_path / "turned.jpg", exif=exif)
    small = load_thumbnail(tmp_path / "turned.jpg", 64)
    full = load_rgb(tmp_path / "turned.jpg")
    assert small.shape[0] > small.shape[1] and full.shape[0] > full.shape[1]


def test_pooled_features_are_saved_for_rank_and_vectors_of_two_models_are_refused(tmp_path):
    dataset = _dataset({}, images=3)
    vectors = {"2.png": np.arange(4, dtype=np.float32), "1.png": np.ones(4, np.float32)}
    save_embeddings(tmp_path / "v.npz", vectors)
    loaded = load_embeddings(tmp_path / "v.npz", dataset)
    assert sorted(loaded) == [1, 2] and loaded[2].tolist() == [0, 1, 2, 3]
    with pytest.raises(DatasetError, match="differ in length"):
        save_embeddings(tmp_path / "w.npz", {**vectors, "3.png": np.ones(5, np.float32)})
    assert not (tmp_path / "w.npz").exists()
