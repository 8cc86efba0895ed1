"""The few judgements every layer makes about an instance, written once.

Export ("only accepted"), review ("still to judge"), pre-labelling ("may be replaced") and training
("may teach the model") all ask these questions; they must get the same answers everywhere.
"""

from __future__ import annotations

from annotator.core.model import Instance, Review


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
