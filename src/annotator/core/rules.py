"""The few judgements every layer makes about an instance or an image, written once.

Export ("only accepted"), review ("still to judge"), pre-labelling ("may be replaced", "cannot be
read") and training ("may teach the model") all ask these questions; they must get the same answers
everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from annotator.core.model import Dataset, Image, ImageStatus, Instance, Review

_OWN = "annotator"  # our namespaced key in `extra` (COCO export writes it under the same name)


def is_unreviewed_prediction(instance: Instance) -> bool:
    """A model's instance nobody has judged yet: hidden by the score filter, replaced by a new run."""
    return instance.source.is_model and instance.review is Review.UNREVIEWED


def is_accepted(instance: Instance) -> bool:
    """Accepted or edited by a person, or drawn by one; never rejected or an unreviewed prediction."""
    if instance.review is Review.REJECTED:
        return False
    return instance.review in (Review.ACCEPTED, Review.EDITED) or not instance.source.is_model


def is_trainable(instance: Instance) -> bool:
    """What a model may learn from: a person's accepted instances; crowd regions are ignored, as COCO
    training does."""
    return is_accepted(instance) and not instance.iscrowd


def is_unlabelled(dataset: Dataset, image_id: int) -> bool:
    """Nobody has worked on the image: not marked done, and every instance on it is a prediction nobody
    has judged. What a newly trained model pre-labels (its earlier predictions replaced); an image with a
    person's work on it is left alone, so no prediction lands on top of it. For every image at once,
    `labelled_image_ids` says the same in one pass."""
    image = dataset.images.get(image_id)
    if image is None or image.status is ImageStatus.DONE:
        return False
    return all(is_unreviewed_prediction(instance) for instance in dataset.instances_of(image_id))


def labelled_image_ids(dataset: Dataset) -> set[int]:
    """The images `is_unlabelled` says someone has worked on, in one pass over the instances (a ranking
    of 100,000 images asks for all of them): what "label next" leaves out of its order and keeps as the
    labelled set the new picks should stay away from."""
    worked = {i.image_id for i in dataset.instances.values() if not is_unreviewed_prediction(i)}
    worked.update(i.id for i in dataset.images.values() if i.status is ImageStatus.DONE)
    return worked & dataset.images.keys()


def unreadable_reason(image: Image) -> str | None:
    """Why the image file could not be decoded when it was last tried, or None. Kept with the image (the
    project saves it), so the image list marks it and "all images" pre-labelling skips it after
    reopening; a later successful decode clears it."""
    own = image.extra.get(_OWN)
    reason = own.get("unreadable") if isinstance(own, Mapping) else None
    return reason if isinstance(reason, str) else None


def with_unreadable(image: Image, reason: str | None) -> Image:
    """`image` marked as unreadable for `reason` (None: readable again)."""
    own = dict(image.extra.get(_OWN) or {})
    if reason is None:
        own.pop("unreadable", None)
    else:
        own["unreadable"] = reason
    extra = {key: value for key, value in image.extra.items() if key != _OWN}
    if own:
        extra[_OWN] = own
    return replace(image, extra=extra)


def mark_unreadable(dataset: Dataset, image_id: int, reason: str | None) -> None:
    """Record (or clear, with None) that an image cannot be decoded; the project store saves it."""
    image = dataset.images.get(image_id)
    if image is not None and unreadable_reason(image) != reason:
        dataset.put_images([with_unreadable(image, reason)])
