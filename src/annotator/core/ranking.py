"""Which images to label next: uncertain ones first, but not ten near-identical frames in a row.

Uncertainty comes from the predictions already stored on images not yet done. Each unreviewed
prediction is doubtful by how close its score lies to the review threshold (1 at the threshold, 0 a
`band` away) or, when the model stored one, by how unsure its mask was (`1 - extra["mask_score"]`,
the mean mask probability inside the mask). An image is as uncertain as the chance that at least one
of its predictions is wrong, `1 - prod(1 - u)`: many detections near the threshold add up. An image
with no predictions at all (never pre-labelled) is unknown.

Diversity comes from greedy k-center on an image embedding (`core.image_descriptor`, or pooled
features from the model: any float vector per image, L2-normalised here). The two are combined as
k-center greedy weighted by uncertainty: each pick is the image with the largest
`weight * distance`, where distance is to the nearest image already labelled (done, or holding a
person's work: `rules.labelled_image_ids`) or already picked, and weight is `floor + uncertainty`
(unknown images weigh as the average known image). A confident image far from everything labelled
can so beat an uncertain duplicate of a labelled one, and picking one of ten similar uncertain frames
shrinks the distance of the nine others. The first
`greedy_picks` places are chosen that way (each pick costs one pass over all images); the rest follow
by the same score, frozen after the last pick.

To rank 100,000 images in a few seconds (bench/rank.py), distances are taken on the embeddings'
first `dims` principal components, and a large labelled set is stood for by `anchors` of its images
chosen by plain k-center (farthest first), so no labelled region is left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from annotator.core.model import Dataset
from annotator.core.rules import is_unreviewed_prediction, labelled_image_ids

AGGREGATES = ("any", "sum")
MASK_SCORE_KEY = "mask_score"  # Instance.extra key the model may fill: mean mask probability in [0, 1]


@dataclass(frozen=True)
class RankOptions:
    score_threshold: float = 0.5  # the review threshold the margins are measured to
    band: float = 0.2  # a prediction this far from the threshold (or farther) is not doubtful
    floor: float = 0.1  # weight of a certain image: diversity alone can still pick it
    greedy_picks: int = 256
    dims: int = 32  # embeddings are projected on their first principal components, at most this many
    anchors: int = 128  # labelled images stood for by at most this many, spread out (k-center again)
    aggregate: str = "any"  # an image's doubts: "any" 1 - prod(1 - u), "sum" their sum (corrections expected)

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {self.aggregate!r}")


@dataclass(frozen=True)
class Uncertainty:
    """Per image, in the order of `image_ids`: uncertainty in [0, 1] (NaN: no predictions) and how many
    predictions lie within the band."""

    image_ids: np.ndarray
    values: np.ndarray
    near_threshold: np.ndarray


@dataclass(frozen=True)
class RankedImage:
    image_id: int
    uncertainty: float | None  # None: never pre-labelled
    near_threshold: int
    distance: float  # to the nearest labelled or earlier-picked image, when picked (NaN: no embedding)


@dataclass(frozen=True)
class Ranking:
    images: tuple[RankedImage, ...]  # best to label first

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(r.image_id for r in self.images)


def uncertainty_from_scores(
    image_index: np.ndarray,
    scores: np.ndarray,
    mask_scores: np.ndarray,
    images: int,
    options: RankOptions,
) -> tuple[np.ndarray, np.ndarray]:
    """(uncertainty, near-threshold count) per image from flat prediction arrays; NaN where an image
    has no prediction. `mask_scores` is NaN where the model stored none."""
    closeness = np.clip(1.0 - np.abs(scores - options.score_threshold) / options.band, 0.0, 1.0)
    doubt = np.fmax(closeness, 1.0 - mask_scores)
    count = np.bincount(image_index, minlength=images)
    if options.aggregate == "sum":
        values = np.where(count > 0, np.bincount(image_index, weights=doubt, minlength=images), np.nan)
    else:  # 1 - prod(1 - u), as a sum of logs; u = 1 contributes a very large negative number
        log_sure = np.bincount(image_index, weights=np.log1p(-np.minimum(doubt, 1 - 1e-9)), minlength=images)
        values = np.where(count > 0, -np.expm1(log_sure), np.nan)
    near = np.bincount(image_index, weights=closeness > 0, minlength=images).astype(np.int64)
    return values, near


def dataset_uncertainty(dataset: Dataset, options: RankOptions | None = None) -> Uncertainty:
    """Uncertainty of every image nobody has labelled (`rules.labelled_image_ids`: neither done nor
    holding a person's work, such as labels imported with the dataset), from its unreviewed predictions."""
    options = options or RankOptions()
    labelled = labelled_image_ids(dataset)
    open_images = [i for i in dataset.images if i not in labelled]
    image_ids = np.array(sorted(open_images), np.int64)
    position = {image_id: k for k, image_id in enumerate(image_ids.tolist())}
    index, scores, mask_scores = [], [], []
    for instance in dataset.instances.values():
        k = position.get(instance.image_id)
        if k is None or not is_unreviewed_prediction(instance):
            continue
        index.append(k)
        scores.append(np.nan if instance.score is None else instance.score)
        stored = instance.extra.get(MASK_SCORE_KEY)
        mask_scores.append(float(stored) if isinstance(stored, int | float) else np.nan)
    values, near = uncertainty_from_scores(
        np.array(index, np.int64),
        np.nan_to_num(np.array(scores, np.float64), nan=options.score_threshold),
        np.array(mask_scores, np.float64),
        len(image_ids),
        options,
    )
    return Uncertainty(image_ids, values, near)


def rank_images(
    uncertainty: Uncertainty,
    embeddings: Mapping[int, np.ndarray],
    *,
    labelled: Mapping[int, np.ndarray] | None = None,
    options: RankOptions | None = None,
) -> Ranking:
    """The images of `uncertainty` in the order to label them (see the module's docstring).

    `embeddings` maps image id to a float vector (any length, the same for all); `labelled` holds the
    embeddings of images already labelled, which new picks should stay away from. Images without an
    embedding are ranked by uncertainty alone, after the others.
    """
    options = options or RankOptions()
    ids = uncertainty.image_ids
    has = np.array([int(i) in embeddings for i in ids.tolist()], bool)
    weight = _weights(uncertainty.values, options)
    vectors = _unit_rows([embeddings[int(i)] for i in ids[has].tolist()])
    anchors = _unit_rows(list((labelled or {}).values()), width=vectors.shape[1] if vectors.size else 0)
    vectors, anchors = _projected(vectors, anchors, options.dims)
    anchors = anchors[_farthest_first(anchors, options.anchors)]
    order, distance = _weighted_k_center(vectors, weight[has], anchors, options.greedy_picks)
    embedded = np.flatnonzero(has)[order]
    rest = np.flatnonzero(~has)
    rest = rest[np.argsort(-weight[rest], kind="stable")]
    placed = np.concatenate([embedded, rest])
    distances = np.concatenate([distance, np.full(rest.size, np.nan)]).tolist()
    values = uncertainty.values[placed].tolist()
    near = uncertainty.near_threshold[placed].tolist()
    result = [
        RankedImage(image_id, None if math.isnan(value) else value, count, d)
        for image_id, value, count, d in zip(ids[placed].tolist(), values, near, distances, strict=True)
    ]
    return Ranking(tuple(result))


def _weights(values: np.ndarray, options: RankOptions) -> np.ndarray:
    known = values[~np.isnan(values)]
    prior = float(known.mean()) if known.size else 0.5
    return options.floor + np.where(np.isnan(values), prior, values)


def _unit_rows(rows: list[np.ndarray], *, width: int | None = None) -> np.ndarray:
    if not rows:
        return np.zeros((0, width or 0), np.float32)
    matrix = np.asarray(np.stack(rows), np.float64)  # float32's squares overflow from 1e19 up
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


def _projected(vectors: np.ndarray, anchors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets on the first `dims` principal components of `vectors`; unchanged when already short, or
    when there are no more vectors than `dims` (their few components would drop the anchors' distances
    off the vectors' span, and so few distances cost little in full)."""
    if vectors.shape[1] <= dims or len(vectors) <= dims:
        return vectors, anchors
    mean = vectors.mean(axis=0)
    sample = vectors[:: max(1, len(vectors) // 20_000)] - mean
    basis = np.ascontiguousarray(_principal_axes(sample, dims), dtype=np.float32)
    return np.ascontiguousarray((vectors - mean) @ basis), np.ascontiguousarray((anchors - mean) @ basis)


def _principal_axes(sample: np.ndarray, dims: int) -> np.ndarray:
    """The first `dims` principal axes (columns) of the centred rows `sample`, from the smaller of its two
    Gram matrices: vectors wider than there are rows (2 rows of 10^6 values) would otherwise ask for a
    10^6 x 10^6 covariance matrix (7 TiB)."""
    rows, width = sample.shape
    if width <= rows:  # the eigenvectors of the covariance matrix, largest first
        _, axes = np.linalg.eigh(np.einsum("ij,ik->jk", sample, sample, dtype=np.float64))
        return axes[:, ::-1][:, :dims]
    values, left = np.linalg.eigh(np.einsum("ij,kj->ik", sample, sample, dtype=np.float64))
    values, left = values[::-1][:dims], left[:, ::-1][:, :dims]
    axes = sample.T.astype(np.float64) @ left  # the same axes, each scaled by its singular value
    norms = np.linalg.norm(axes, axis=0)
    return axes / np.where(norms > 0, norms, 1.0)


def _farthest_first(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` points spread over the set: each the farthest from those before it."""
    if len(points) <= count:
        return np.arange(len(points))
    chosen = [0]
    nearest = np.linalg.norm(points - points[0], axis=1)
    for _ in range(count - 1):
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
    return np.array(chosen)


def _weighted_k_center(
    vectors: np.ndarray, weight: np.ndarray, anchors: np.ndarray, picks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order of the rows: greedy picks of the largest `weight * distance to the nearest anchor or
    pick`, then the rest by that score; and each row's distance when it was placed."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    squared = np.einsum("ij,ij->i", vectors, vectors)
    if len(anchors):
        nearest = np.full(n, np.inf, np.float32)
        for start in range(0, len(anchors), 64):
            block = anchors[start : start + 64]
            d = squared[:, None] - 2 * vectors @ block.T + np.einsum("ij,ij->i", block, block)[None, :]
            nearest = np.minimum(nearest, d.min(axis=1))
        nearest = np.sqrt(np.maximum(nearest, 0))
    else:  # nothing labelled: measure from the middle of the data
        nearest = np.linalg.norm(vectors - vectors.mean(axis=0), axis=1)
    nearest = nearest.astype(np.float32)
    weight = weight.astype(np.float32)
    chosen = np.zeros(n, bool)
    order, placed_at = [], []
    score, step = np.empty(n, np.float32), np.empty(n, np.float32)
    for _ in range(min(picks, n)):
        np.multiply(weight, nearest, out=score)
        score[chosen] = -np.inf
        pick = int(np.argmax(score))
        order.append(pick)
        placed_at.append(float(nearest[pick]))
        chosen[pick] = True
        # distance of every row to the pick, |a|^2 - 2 a.b + |b|^2, in place; einsum rather than BLAS:
        # a threaded matrix-vector product is 6x slower on a busy 2-core machine, measured
        np.einsum("ij,j->i", vectors, vectors[pick], out=step)
        step *= -2
        step += squared
        step += squared[pick]
        np.maximum(step, 0, out=step)
        np.sqrt(step, out=step)
        np.minimum(nearest, step, out=nearest)
    rest = np.flatnonzero(~chosen)
    rest = rest[np.argsort(-(weight[rest] * nearest[rest]), kind="stable")]
    return np.concatenate([np.array(order, np.int64), rest]), np.concatenate([placed_at, nearest[rest]])
