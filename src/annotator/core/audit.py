"""Likely label errors: a model's predictions against the person's labels, image by image.

Labels are the accepted instances (`rules.is_accepted`). Predictions and labels are matched regardless
of class, by mask IoU, by COCOeval itself (`evaluation.coco_matches`, its `evalImgs` with classes pooled:
best score first, each takes the unmatched label of highest IoU; crowd labels absorb predictions). Then:
- possibly missing: a prediction that matched no label and fits none as well as a good outline would
  (else it is a second detection of a labelled object); suspicion = score x (1 - its best IoU);
- possibly spurious: a label that matched no prediction; suspicion = SPURIOUS_WEIGHT x (1 - its best
  IoU with any prediction): a model misses objects more often than people invent them;
- class swap: a match whose classes differ; suspicion = score x IoU;
- bad outline: a match of the same class below `outline_iou`; suspicion = score x how far below.
Predictions and labels left unmatched are matched once more among themselves at `near_iou`, so an
object drawn much too large or small is one bad outline rather than a missing and a spurious flag.

Two witnesses besides the model, since a light model trained on few images is a poor one:
- the picture (with `pixels`): each label fitted to the image's edges (`core.edge_fit`); one whose
  outline runs 2 or more pixels off a clearly stronger edge is a bad outline, suspicion = the edge
  strength it lacks, fixed by moving it onto that edge. A light model's masks are too coarse to see a
  label a few pixels loose (IoU 0.75 or more); the edges see it;
- the person's other labels (`core.class_consistency`): a label whose most similar labels, by shape
  (and colour, with `pixels`), mostly carry another class is a class swap, unless the model matched it
  with its own class (the model saw the pixels).
Each witness's flags of each kind are weighed by how rare they are (`_weighed`): with a weak model,
class swaps are raised on a quarter of the labels and would bury every other kind. A label two
witnesses doubt alike is one flag, suspicion 1 - (1 - a)(1 - b).
Only images a person has labelled (status done, or holding a label) and the model has seen (holding a
prediction) are audited: elsewhere every prediction would look like a missing label, or every label
like a spurious one. Empty predicted masks are ignored.

Each flag has a stable key (file name, kind, label id or a hash of the predicted mask) so a dismissed
flag stays dismissed, and `fix_edit` gives "take the model's version" as one undoable edit.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core import edits, operations, review
from annotator.core.class_consistency import NEIGHBOURS, colour_features, odd_ones_out, shape_features
from annotator.core.edge_fit import edge_fit
from annotator.core.evaluation import coco_matches, ground_truth
from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review
from annotator.core.region import Region
from annotator.core.rules import is_accepted, is_unreviewed_prediction

SPURIOUS_WEIGHT = 0.5
DISMISSED_META_KEY = "audit.dismissed"  # project meta key holding the dismissed flag keys (a JSON list)


class Evidence(StrEnum):
    MODEL = "model"  # the predictions
    EDGES = "edges"  # the image's edges (`core.edge_fit`)
    LABELS = "similar labels"  # the person's labels most like it (`core.class_consistency`)


FIX_PREFERENCE = (Evidence.EDGES, Evidence.MODEL, Evidence.LABELS)


class FlagKind(StrEnum):
    MISSING = "possibly missing"
    SPURIOUS = "possibly spurious"
    CLASS_SWAP = "class swap"
    OUTLINE = "bad outline"


@dataclass(frozen=True)
class AuditOptions:
    match_iou: float = 0.5  # a prediction and a label overlapping this much are about the same object
    near_iou: float = 0.25  # and, among those left unmatched, this much: one object, badly drawn
    outline_iou: float = 0.85  # a match of the same class below this is a bad outline
    min_score: float = 0.5  # predictions below this are not used at all
    edge_gain: float = 0.2  # a label whose outline lacks this share of a nearby edge's strength is flagged
    expected_error_rate: float = 0.05  # share of labels one kind of flag may rightly find (`_weighed`)


Pixels = Callable[[Image], "np.ndarray | None"]  # an image's pixels (H x W x 3), None when unreadable


@dataclass(frozen=True)
class LabelFlag:
    """One suspicion. `instance_id` is the label's (None for a missing one); `prediction` the model's
    instance it was compared with (None for a spurious label)."""

    key: str
    kind: FlagKind
    image_id: int
    suspicion: float  # in [0, 1], worst first
    instance_id: int | None
    prediction: Instance | None
    iou: float | None
    message: str
    evidence: tuple[Evidence, ...] = (Evidence.MODEL,)  # what raised it; the first one's fix is offered


@dataclass(frozen=True)
class AuditReport:
    flags: tuple[LabelFlag, ...]  # worst first
    images: int  # audited
    labels: int
    predictions: int
    unread: tuple[int, ...] = ()  # image ids whose pixels could not be read: not checked against them
    below_min_score: int = 0  # predictions on the audited images left out for scoring under min_score
    best_score: float | None = None  # the highest of all predictions' scores on the audited images
    min_score: float = 0.5  # the options' threshold the report was made with

    def weak_predictions(self) -> str | None:
        """Why the model flagged nothing, when none of its predictions reached the score threshold: a
        model that finds nothing is no witness, so no label is called unsupported."""
        if self.predictions or not self.below_min_score:
            return None
        return (
            f"no prediction scores {self.min_score:.2f} or more (the best {self.best_score:.2f}, "
            f"{self.below_min_score} below): the model flagged nothing; lower the score threshold "
            "or train the model longer"
        )

    def without(self, dismissed: Iterable[str]) -> AuditReport:
        """The report less the flags whose keys were dismissed."""
        gone = set(dismissed)
        return replace(self, flags=tuple(f for f in self.flags if f.key not in gone))


def own_predictions(dataset: Dataset) -> dict[int, tuple[Instance, ...]]:
    """The project's unreviewed predictions by image id."""
    out: dict[int, list[Instance]] = {}
    for instance in dataset.instances.values():
        if is_unreviewed_prediction(instance):
            out.setdefault(instance.image_id, []).append(instance)
    return {image_id: tuple(found) for image_id, found in out.items()}


def audit(
    dataset: Dataset,
    predictions: Mapping[int, Sequence[Instance]],
    options: AuditOptions | None = None,
    *,
    pixels: Pixels | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Flags for every labelled image, worst first. Predictions need scores (None counts as 1.0). With
    `pixels`, labels are also checked against the images' edges; `progress(done, total)` is told after
    each image is read (reading thousands of photos takes minutes)."""
    options = options or AuditOptions()
    items = []
    for image in sorted(dataset.images.values(), key=lambda i: i.id):
        given = predictions.get(image.id, ())
        own = [i for i in dataset.instances_of(image.id) if is_accepted(i)]
        if not given or (not own and image.status is not ImageStatus.DONE):
            continue
        preds = [p for p in given if _score(p) >= options.min_score and _area(p, image) > 0]
        items.append((image, own, preds))
    labels, used = sum(len(i[1]) for i in items), sum(len(i[2]) for i in items)
    scores = [_score(p) for image, _, _ in items for p in predictions.get(image.id, ())]
    # with no prediction to go by, every label would look unsupported: the model is no witness then
    name = _class_names(dataset)
    model = audit_images(items, options, name) if used else ModelFindings([], frozenset())
    unread: list[int] = []
    edges, classes = _label_flags(items, pixels, options, unread, name, progress)
    # the model saw the pixels: where it names a label's class, shapes and colours alike do not outvote it
    classes = [flag for flag in classes if flag.instance_id not in model.confirmed]
    flags = _merged(*(_weighed(found, labels, options) for found in (model.flags, edges, classes)))
    flags.sort(key=lambda f: (-f.suspicion, f.image_id, f.key))
    return AuditReport(
        tuple(flags),
        len(items),
        labels,
        used,
        tuple(unread),
        below_min_score=sum(score < options.min_score for score in scores),
        best_score=max(scores, default=None),
        min_score=options.min_score,
    )


class ModelFindings(NamedTuple):
    """What the model's predictions say of the labels: `flags` worst first, and `confirmed`, the labels
    a prediction of their own class matched (the other witnesses do not outvote the model on those)."""

    flags: list[LabelFlag]
    confirmed: frozenset[int]


def audit_images(
    items: Sequence[tuple[Image, Sequence[Instance], Sequence[Instance]]],
    options: AuditOptions,
    name: Callable[[int], str] = lambda category_id: f"class {category_id}",
) -> ModelFindings:
    """The model's findings on these images; each item is (image, its labels, its scored predictions).

    COCOeval matches them all at once, classes pooled (the same object under another class is a swap,
    not a miss and a spurious label): first at `match_iou`; then what is left on both sides again at
    `near_iou`, so a badly drawn object is one bad-outline flag rather than a missing and a spurious one.
    """
    flags: list[LabelFlag] = []
    confirmed: set[int] = set()
    leftovers = []
    for image, _, _, pairs, unmatched, unsupported in _matched(items, options.match_iou):
        flags += [
            f for p, g, iou in pairs if (f := _matched_flag(image, p, g, iou, options, name)) is not None
        ]
        confirmed.update(g.id for p, g, _ in pairs if p.category_id == g.category_id)
        # an unmatched prediction that fits some label as well as a good outline would is a second
        # detection of it; one overlapping less may be a neighbour nobody labelled
        kept = [p for p, best in unmatched if best < options.outline_iou]
        leftovers.append((image, [g for g, _ in unsupported], kept))
    near = min(options.near_iou, options.match_iou)
    for image, _, _, pairs, unmatched, unsupported in _matched(leftovers, near):
        flags += [
            f for p, g, iou in pairs if (f := _matched_flag(image, p, g, iou, options, name)) is not None
        ]
        flags += [_missing_flag(image, p, best, name) for p, best in unmatched]
        for label, best in unsupported:
            message = f"no prediction supports it (best mask IoU {best:.2f})"
            suspicion = SPURIOUS_WEIGHT * (1 - best)
            flags.append(_flag(image, FlagKind.SPURIOUS, suspicion, label, None, best, message))
    flags.sort(key=lambda f: (-f.suspicion, f.image_id, f.key))
    return ModelFindings(flags, frozenset(confirmed))


def _matched(items, threshold: float):
    """COCOeval's matching of each item at `threshold`: (image, labels, predictions, matched
    (prediction, label, IoU) triples, unmatched (prediction, best IoU with any label), unmatched
    (label, best IoU with any prediction))."""
    items = [item for item in items if item[1] or item[2]]
    if not items:
        return
    gt, results, label_of, prediction_of = _as_coco(items)
    matches = coco_matches(ground_truth(gt), results, iou_threshold=threshold, use_categories=False)
    for image, labels, predictions in items:
        found = matches.get(image.id)
        if found is None:
            continue
        ious = _iou_matrix(predictions, labels, image.height, image.width)
        row = {p.id: k for k, p in enumerate(predictions)}
        column = {g.id: k for k, g in enumerate(labels)}
        pairs = []
        for dt_id, gt_id in found.true_positives.items():
            prediction, label = prediction_of[dt_id], label_of[gt_id]
            pairs.append((prediction, label, float(ious[row[prediction.id], column[label.id]])))
        unmatched = []
        for dt_id in found.false_positives:
            prediction = prediction_of[dt_id]
            unmatched.append((prediction, float(ious[row[prediction.id]].max()) if labels else 0.0))
        unsupported = []
        for gt_id in found.false_negatives:
            label = label_of[gt_id]
            unsupported.append((label, float(ious[:, column[label.id]].max()) if predictions else 0.0))
        yield image, labels, predictions, pairs, unmatched, unsupported


def _as_coco(items) -> tuple[dict, list[dict], dict[int, Instance], dict[int, Instance]]:
    """Labels as COCO ground truth and predictions as COCO results, numbered 1, 2, ... (COCOeval reads an
    id of 0 as "no match"), with the instances those numbers stand for. Everything is put in one class:
    classes are compared afterwards, and COCOeval then breaks ties of score in the order given."""
    images, annotations, results = [], [], []
    label_of, prediction_of = {}, {}
    for image, labels, predictions in items:
        images.append({"id": image.id, "width": image.width, "height": image.height})
        for label in labels:
            rle = label.geometry.to_rle(image.height, image.width).as_coco()
            label_of[len(label_of) + 1] = label
            annotations.append({
                "id": len(label_of), "image_id": image.id, "category_id": 1, "segmentation": rle,
                "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": int(label.iscrowd),
            })  # fmt: skip
        for prediction in predictions:
            prediction_of[len(prediction_of) + 1] = prediction
            rle = prediction.geometry.to_rle(image.height, image.width).as_coco()
            results.append(
                {"image_id": image.id, "category_id": 1, "score": _score(prediction), "segmentation": rle}
            )
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]}
    return gt, results, label_of, prediction_of


def _weighed(flags: list[LabelFlag], labels: int, options: AuditOptions) -> list[LabelFlag]:
    """Each kind of evidence weighed by how rare it is. People get most labels right, so a kind raised on
    many more than `expected_error_rate` of the labels is mostly the model's own error (a weak classifier
    disagrees on the class of one object in four): its suspicions count for that much less against the
    other kinds'. The order within a kind is kept."""
    counts = Counter(_evidence(flag) for flag in flags)
    weight = {e: min(1.0, options.expected_error_rate * max(labels, 1) / n) for e, n in counts.items()}
    return [replace(flag, suspicion=flag.suspicion * weight[_evidence(flag)]) for flag in flags]


def _evidence(flag: LabelFlag) -> tuple[FlagKind, Evidence]:
    return flag.kind, flag.evidence[0]


def _label_flags(
    items, pixels: Pixels | None, options: AuditOptions, unread: list[int], name, progress=None
) -> tuple[list, list]:
    """What the labels themselves and the pictures say, each image read once: labels whose outlines lie
    off the image's edges (with `pixels`), and labels whose most similar labels mostly carry another
    class (`core.class_consistency`, by shape, and by colour with `pixels`). Images that could not be
    read go to `unread`; their labels are compared by shape alone."""
    edges, rows, shapes, colours = [], [], [], []
    for done, (image, labels, _) in enumerate(items, 1):
        wanted = pixels is not None and any(not g.iscrowd for g in labels)
        loaded = pixels(image) if wanted else None
        if wanted and loaded is None:
            unread.append(image.id)
        if progress is not None:
            progress(done, len(items))
        for label in labels:
            if label.iscrowd:
                continue
            crop = Region(label.geometry, image.height, image.width).crop
            shape = shape_features(crop)
            if shape is not None:
                rows.append((image, label))
                shapes.append(shape)
                colours.append(None if loaded is None else colour_features(crop, loaded))
            if loaded is not None and (flag := _edge_flag(image, label, crop, loaded, options)) is not None:
                edges.append(flag)
    if not rows:
        return edges, []
    features = np.asarray(shapes)
    if all(c is not None for c in colours):
        features = np.hstack([features, np.asarray(colours)])
    classes = []
    for vote in odd_ones_out(features, [label.category_id for _, label in rows]):
        image, label = rows[vote.index]
        message = (
            f"{vote.proposed_share:.0%} of the {NEIGHBOURS} labels most like it are {name(vote.proposed)}, "
            f"{vote.own_share:.0%} {name(label.category_id)}"
        )
        renamed = label.with_changes(category_id=vote.proposed)
        suspicion = vote.proposed_share - vote.own_share
        classes.append(
            _flag(image, FlagKind.CLASS_SWAP, suspicion, label, renamed, None, message, Evidence.LABELS)
        )
    return edges, classes


def _merged(*sources: list[LabelFlag]) -> list[LabelFlag]:
    """One flag per key. A label two witnesses doubt alike gets suspicion 1 - (1 - a)(1 - b) and the fix
    of the one that looked closest: the edges for an outline (it keeps the person's shape), the model
    for a class (it saw the pixels)."""
    by_key: dict[str, LabelFlag] = {}
    for flag in (flag for source in sources for flag in source):
        other = by_key.get(flag.key)
        if other is not None:
            first, second = sorted((flag, other), key=lambda f: FIX_PREFERENCE.index(f.evidence[0]))
            flag = replace(
                first,
                suspicion=1 - (1 - first.suspicion) * (1 - second.suspicion),
                message=f"{first.message}; {second.message}",
                evidence=first.evidence + second.evidence,
            )
        by_key[flag.key] = flag
    return list(by_key.values())


def _edge_flag(image: Image, label: Instance, crop, loaded: np.ndarray, options) -> LabelFlag | None:
    fit = edge_fit(loaded, crop)
    if fit is None or fit.offset == 0 or fit.gain < options.edge_gain:
        return None
    geometry = fit.geometry(label.geometry, image.height, image.width)
    fixed = label.with_changes(geometry=geometry)
    iou = float(_iou_matrix([fixed], [label], image.height, image.width)[0, 0])
    side = "outside" if fit.offset < 0 else "inside"
    message = f"its outline lies {abs(fit.offset)} px {side} the object's edge in the image"
    return _flag(image, FlagKind.OUTLINE, fit.gain, label, fixed, iou, message, Evidence.EDGES)


def _matched_flag(image, prediction, label, iou, options, name) -> LabelFlag | None:
    score = _score(prediction)
    if prediction.category_id != label.category_id:
        labelled, said = name(label.category_id), name(prediction.category_id)
        message = f"labelled {labelled}, the model says {said} (IoU {iou:.2f})"
        return _flag(image, FlagKind.CLASS_SWAP, score * iou, label, prediction, iou, message)
    if iou < options.outline_iou:
        floor = min(options.near_iou, options.match_iou)
        suspicion = score * (options.outline_iou - iou) / (options.outline_iou - floor)
        message = f"the model's mask differs (IoU {iou:.2f})"
        return _flag(image, FlagKind.OUTLINE, min(suspicion, 1.0), label, prediction, iou, message)
    return None


def _missing_flag(image: Image, prediction: Instance, best: float, name) -> LabelFlag:
    score = _score(prediction)
    message = f"the model finds {name(prediction.category_id)} (score {score:.2f}) where nothing is labelled"
    return _flag(image, FlagKind.MISSING, score * (1 - best), None, prediction, best, message)


def _flag(image, kind, suspicion, label, prediction, iou, message, evidence=Evidence.MODEL) -> LabelFlag:
    if label is not None:
        key = f"{image.file_name}|{kind.value}|{label.id}"
    else:
        key = f"{image.file_name}|{kind.value}|{geometry_hash(prediction, image)}"
    return LabelFlag(
        key=key,
        kind=kind,
        image_id=image.id,
        suspicion=float(suspicion),
        instance_id=None if label is None else label.id,
        prediction=prediction,
        iou=None if iou is None else float(iou),
        message=message,
        evidence=(evidence,),
    )


def geometry_hash(instance: Instance, image: Image) -> str:
    """16 hex digits naming an instance's class and mask on its image, the same on every run."""
    rle = instance.geometry.to_rle(image.height, image.width)
    digest = hashlib.sha1(f"{instance.category_id}|{rle.height}x{rle.width}|".encode() + rle.counts)
    return digest.hexdigest()[:16]


def _iou_matrix(predictions, labels, height: int, width: int) -> np.ndarray:
    """Mask IoU of every prediction with every label (pycocotools, crowd labels as COCO treats them)."""
    if not predictions or not labels:
        return np.zeros((len(predictions), len(labels)))
    pred_rles = [p.geometry.to_rle(height, width).as_coco() for p in predictions]
    label_rles = [g.geometry.to_rle(height, width).as_coco() for g in labels]
    crowd = [int(g.iscrowd) for g in labels]
    return np.asarray(mask_utils.iou(pred_rles, label_rles, crowd)).reshape(len(predictions), len(labels))


def _area(instance: Instance, image: Image) -> int:
    return int(mask_utils.area(instance.geometry.to_rle(image.height, image.width).as_coco()))


def _class_names(dataset: Dataset) -> Callable[[int], str]:
    """A class's name for the flags' messages ("class 7" for an id the dataset does not name)."""

    def name(category_id: int) -> str:
        category = dataset.categories.get(category_id)
        return category.name if category is not None else f"class {category_id}"

    return name


def _score(instance: Instance) -> float:
    return 1.0 if instance.score is None else float(instance.score)


def fix_edit(dataset: Dataset, flag: LabelFlag, *, model_name: str = "audit") -> edits.Edit:
    """ "Take the model's version" as one reversible edit: add the predicted instance (or accept it, when
    it is the project's own prediction), delete the unsupported label, take the predicted class, or
    take the predicted mask."""
    label = None if flag.instance_id is None else dataset.instances[flag.instance_id]
    prediction = flag.prediction
    if flag.kind is FlagKind.MISSING:
        own = dataset.instances.get(prediction.id)
        if own is not None and own == prediction and is_unreviewed_prediction(own):
            return review.accept(dataset, [own])
        added = Instance(
            id=dataset.new_instance_id(),
            image_id=flag.image_id,
            category_id=prediction.category_id,
            geometry=prediction.geometry,
            z=dataset.top_z(flag.image_id) + 1,
            source=prediction.source,
            review=Review.ACCEPTED,
        )
        return edits.AddInstances((added,), text="Add the model's instance")
    if flag.kind is FlagKind.SPURIOUS:
        return edits.RemoveInstances((label,), text="Delete unsupported label")
    if flag.kind is FlagKind.CLASS_SWAP:
        return operations.change_class([label], prediction.category_id)
    new = operations.edited(label, geometry=prediction.geometry)
    text = (
        "Move the outline onto the edge"
        if flag.evidence[:1] == (Evidence.EDGES,)
        else "Take the model's outline"
    )
    return edits.ReplaceInstances((label,), (new,), text=text)
