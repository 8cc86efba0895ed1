"""The pooled model features the window's pre-labelling keeps beside the project for "label next"."""

from __future__ import annotations

import os

import numpy as np
import pytest

from annotator.core.model import Dataset, Image
from annotator.core.predictor import ModelSpec
from annotator.io.image_descriptors import load_embeddings
from annotator.io.model_features import (
    ModelFeatures,
    features_path,
    model_key,
    read_features,
    write_features,
)


def test_features_round_trip_and_rank_reads_the_same_file(tmp_path):
    path = features_path(tmp_path / "project.annotator")
    assert path == tmp_path / "project.annotator.features.npz"
    features = ModelFeatures()
    features.add("m1", "a.png", np.arange(4.0))
    features.add("m1", "b.png", np.ones(4))
    assert write_features(path, features) is None
    again = read_features(path)
    assert again.model == "m1" and set(again.vectors) == {"a.png", "b.png"}
    assert np.array_equal(again.vectors["a.png"], np.arange(4.0, dtype=np.float32))
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", 10, 10), Image(2, "b.png", 10, 10), Image(3, "c.png", 10, 10)])
    by_id = load_embeddings(path, dataset)  # `annotator rank --embeddings` reads it as it is
    assert set(by_id) == {1, 2} and again.for_images({1: "a.png", 3: "c.png"}).keys() == {1}


def test_another_models_vectors_start_afresh_and_a_nan_vector_is_not_kept():
    features = ModelFeatures()
    features.add("m1", "a.png", np.ones(4))
    features.add("m1", "b.png", np.array([1.0, np.nan, 0.0, 0.0]))
    assert set(features.vectors) == {"a.png"}
    features.add("m2", "b.png", np.ones(4))
    assert features.model == "m2" and set(features.vectors) == {"b.png"}
    features.add("m2", "c.png", np.ones(6))  # another length: another model, whatever its key says
    assert set(features.vectors) == {"c.png"}


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_a_damaged_or_foreign_file_reads_as_no_features(tmp_path, content):
    path = tmp_path / "p.features.npz"
    if content is None:
        np.savez(path, file_names=np.array(["a.png"]), vectors=np.ones((1, 3)))  # no model key
    else:
        path.write_bytes(content)
    assert read_features(path) == ModelFeatures()
    assert read_features(tmp_path / "absent.npz") == ModelFeatures()


def test_a_file_that_cannot_be_written_says_why(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"a file where the project's folder would be")
    features = ModelFeatures()
    features.add("m1", "a.png", np.ones(3))
    problem = write_features(blocker / "p.features.npz", features)
    assert problem is not None and "not-a-folder" in problem
    assert blocker.read_bytes().startswith(b"a file")


def test_a_checkpoint_trained_again_in_place_is_another_model(tmp_path):
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"one")
    first = model_key(ModelSpec(weights=weights))
    weights.write_bytes(b"other bytes")
    os.utime(weights, ns=(1, 2))
    assert model_key(ModelSpec(weights=weights)) != first
    assert model_key(ModelSpec()) == model_key(ModelSpec()) != first


def test_a_fifo_where_the_features_file_would_be_is_not_read(tmp_path):
    path = tmp_path / "p.features.npz"
    os.mkfifo(path)
    assert read_features(path) == ModelFeatures()  # no blocking open of a pipe


def test_batches_added_to_the_file_merge_with_what_it_holds_and_another_model_starts_it_afresh(tmp_path):
    from annotator.io.model_features import add_features

    path = features_path(tmp_path / "project.annotator")
    assert add_features(path, [("m1", "a.png", np.arange(4.0))]) is None
    assert add_features(path, [("m1", "b.png", np.ones(4)), ("m1", "a.png", np.zeros(4))]) is None
    kept = read_features(path)
    assert kept.model == "m1" and set(kept.vectors) == {"a.png", "b.png"}
    assert not kept.vectors["a.png"].any()  # the later vector of an image replaces the earlier one
    assert add_features(path, [("m2", "c.png", np.ones(3))]) is None
    kept = read_features(path)
    assert kept.model == "m2" and set(kept.vectors) == {"c.png"}
