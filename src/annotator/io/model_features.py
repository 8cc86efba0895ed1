"""The pooled model features of the images the window pre-labelled, kept beside the project for "label
next" (issue 16: greedy k-center on "pooled FPN features kept from pre-labelling, or a colour/texture
descriptor when there is no model"; docs/decisions/0023).

One model's vectors at a time, by file name, in the .npz `annotator prelabel --embeddings` writes (so
`annotator rank --embeddings` reads this file too), with the model's key: vectors of two models are not
comparable, so a run of another model starts the file afresh. The file is derived data: unreadable, it
is ignored (and the colour/texture descriptor used), never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.core.predictor import ModelSpec
from annotator.io.errors import DatasetError
from annotator.io.image_descriptors import read_npz, save_embeddings

SUFFIX = ".features.npz"


def features_path(dataset_path: str | Path) -> Path:
    """Beside the project file (as the descriptors' sidecar), or inside a project folder."""
    path = Path(dataset_path)
    return path.with_name(path.name + SUFFIX) if not path.is_dir() else path / "features.npz"


def model_key(spec: ModelSpec) -> str:
    """Which model makes a vector: its architecture and weights (the file's size and time: a checkpoint
    trained again in place is another model). COCO weights are the architecture's own."""
    if spec.weights is None:
        return f"{spec.name}|coco"
    try:
        found = os.stat(spec.weights)
    except OSError:
        return f"{spec.name}|{spec.weights}"
    return f"{spec.name}|{Path(spec.weights).resolve()}|{found.st_size}|{found.st_mtime_ns}"


@dataclass
class ModelFeatures:
    """One model's vectors by file name."""

    model: str = ""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, model: str, file_name: str, vector: np.ndarray) -> None:
        """Keep `vector`; a vector of another model (or another length) replaces all of them."""
        vector = np.asarray(vector, np.float32).ravel()
        if not np.isfinite(vector).all():
            return  # a NaN row would make every distance NaN
        width = next((len(v) for v in self.vectors.values()), len(vector))
        if model != self.model or len(vector) != width:
            self.model, self.vectors = model, {}
        self.vectors[file_name] = vector

    def for_images(self, file_names: dict[int, str]) -> dict[int, np.ndarray]:
        """The vectors of these images (id -> file name), by id: those it has."""
        return {i: self.vectors[name] for i, name in file_names.items() if name in self.vectors}


def read_features(path: Path) -> ModelFeatures:
    """The file's vectors; empty when it is absent, damaged, or not one model's."""
    try:
        model, names, vectors = read_npz(path, ("model", "file_names", "vectors"))
    except DatasetError:
        return ModelFeatures()
    if model.shape != () or model.dtype.kind != "U" or names.dtype.kind != "U" or names.ndim != 1:
        return ModelFeatures()
    if vectors.ndim != 2 or len(vectors) != len(names) or vectors.dtype.kind not in "fiu":
        return ModelFeatures()
    rows = vectors.astype(np.float32)
    if not np.isfinite(rows).all():
        return ModelFeatures()
    return ModelFeatures(str(model), {str(name): row for name, row in zip(names.tolist(), rows, strict=True)})


def add_features(path: Path, vectors: list[tuple[str, str, np.ndarray]]) -> str | None:
    """Merge `vectors` ((model key, file name, vector) each) into the file: read, added, written
    atomically. None, or why it could not be written. Runs off the GUI thread: at 10,000 images the file
    is about 50 MB."""
    features = read_features(path)
    for model, file_name, vector in vectors:
        features.add(model, file_name, vector)
    return write_features(path, features)


def write_features(path: Path, features: ModelFeatures) -> str | None:
    """Atomically; None, or why it could not be written (the old file stays; the vectors are made again
    by the next pre-labelling run)."""
    try:
        save_embeddings(path, features.vectors, model=features.model)
    except DatasetError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    return None
