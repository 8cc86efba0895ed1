"""Reviewing predictions: accept, reject, accept everything above a score, and how far review has got.

Each action is one reversible edit that also moves the image's status along new -> prelabeled ->
in_review -> done: in review once a person has judged any prediction, done when none is left unjudged.
An image labelled by hand has no prediction to judge: the person marks it done (`mark_done`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from annotator.core import edits
from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review
from annotator.core.rules import is_unreviewed_prediction


@dataclass(frozen=True)
class ReviewProgress:
    reviewed: int
    total: int

    @property
    def fraction(self) -> float:
        return self.reviewed / self.total if self.total else 1.0


def accept(dataset: Dataset, instances: Sequence[Instance]) -> edits.Composite | None:
    """Accepted; an instance a person edited stays `edited` (which counts as accepted on export)."""
    new = [i.with_changes(review=Review.ACCEPTED) for i in instances if i.review is not Review.EDITED]
    return _judge(dataset, instances, new, "Accept")


def reject(dataset: Dataset, instances: Sequence[Instance]) -> edits.Composite | None:
    return _judge(dataset, instances, [i.with_changes(review=Review.REJECTED) for i in instances], "Reject")


def accept_above(dataset: Dataset, image_ids: Iterable[int], threshold: float) -> edits.Composite | None:
    """Accept every pending prediction scoring at least `threshold` on these images."""
    chosen = [
        inst
        for image_id in image_ids
        for inst in dataset.instances_of(image_id)
        if is_unreviewed_prediction(inst) and (inst.score or 0.0) >= threshold
    ]
    return accept(dataset, chosen)


def progress(dataset: Dataset, image_ids: Iterable[int] | None = None) -> ReviewProgress:
    """Judged predictions out of all predictions, on these images (all when None)."""
    ids = dataset.images.keys() if image_ids is None else image_ids
    reviewed = total = 0
    for image_id in ids:
        for inst in dataset.instances_of(image_id):
            if inst.source.is_model:
                total += 1
                reviewed += inst.review is not Review.UNREVIEWED
    return ReviewProgress(reviewed, total)


def status_after(dataset: Dataset, image: Image, changed: dict[int, Instance]) -> ImageStatus:
    """The image's status once `changed` (instance id -> new value) is applied."""
    instances = [changed.get(i.id, i) for i in dataset.instances_of(image.id)]
    predictions = [i for i in instances if i.source.is_model]
    if not predictions:
        return image.status
    pending = sum(1 for i in predictions if i.review is Review.UNREVIEWED)
    if pending == 0:
        return ImageStatus.DONE
    if pending < len(predictions):
        return ImageStatus.IN_REVIEW
    return image.status


def _judge(
    dataset: Dataset, old: Sequence[Instance], new: Sequence[Instance], text: str
) -> edits.Composite | None:
    new_by_id = {i.id: i for i in new}
    old = tuple(i for i in old if i.id in new_by_id and new_by_id[i.id] != i)
    if not old:
        return None
    replaced = edits.ReplaceInstances(old, tuple(new_by_id[i.id] for i in old), text=text)
    steps: list[edits.Edit] = [replaced]
    old_images, new_images = [], []
    for image_id in sorted({i.image_id for i in old}):
        image = dataset.images[image_id]
        status = status_after(dataset, image, new_by_id)
        if status is not image.status:
            old_images.append(image)
            new_images.append(
                Image(image.id, image.file_name, image.width, image.height, status, image.extra)
            )
    if new_images:
        steps.append(edits.ReplaceImages(tuple(old_images), tuple(new_images), text=text))
    return edits.Composite(tuple(steps), text=f"{text} {len(old)} prediction{'s' * (len(old) != 1)}")


def mark_done(dataset: Dataset, image_id: int, done: bool) -> edits.ReplaceImages | None:
    """The person says the image is labelled (`done`) or not yet, as one reversible edit; None when it
    is so already. Not done, it goes back to where its instances put it: prelabeled while they are all
    unjudged predictions, in review once anything is drawn or judged, new when it has none. Raises
    ValueError while predictions on it are unjudged: done means none is left."""
    image = dataset.images[image_id]
    instances = dataset.instances_of(image_id)
    pending = sum(is_unreviewed_prediction(i) for i in instances)
    if done and pending:
        raise ValueError(f"{pending} prediction{'s' * (pending != 1)} on this image not judged yet")
    if done:
        status = ImageStatus.DONE
    elif not instances:
        status = ImageStatus.NEW
    else:
        status = ImageStatus.PRELABELED if pending == len(instances) else ImageStatus.IN_REVIEW
    if status is image.status:
        return None
    text = "Mark image done" if done else "Mark image not done"
    return edits.ReplaceImages((image,), (replace(image, status=status),), text=text)
