"""Putting a model's detections on an image, as one reversible edit the GUI and the CLI share.

New instances are predictions (`Source.from_model`, unreviewed) stacked above what the image already
has, larger behind smaller. What a person made or judged is never touched; earlier unreviewed
predictions are replaced (or kept, by option).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from annotator.core import edits
from annotator.core.geometry import GeometryError, area
from annotator.core.model import (
    Category,
    Dataset,
    ImageStatus,
    Instance,
    Review,
    Source,
    default_z_order,
)
from annotator.core.predictor import Detection
from annotator.core.rules import is_unreviewed_prediction


def prelabel_edit(
    dataset: Dataset,
    image_id: int,
    detections: Sequence[Detection],
    *,
    model_name: str,
    categories: Iterable[Category] = (),
    replace_predictions: bool = True,
) -> edits.Composite:
    """The edit that puts `detections` on image `image_id`; apply it (or push it on the undo stack).

    `categories` describes the model's classes; those the dataset lacks are added when a detection
    uses them. The image moves from `new` to `prelabeled`, or to `in_review` when a person labelled it
    already (a later status is left as it is).
    """
    image = dataset.images[image_id]
    for detection in detections:
        if (detection.mask.rle.height, detection.mask.rle.width) != (image.height, image.width):
            raise GeometryError(
                f"detection mask is {detection.mask.rle.height}x{detection.mask.rle.width}, "
                f"image {image.file_name} is {image.height}x{image.width}"
            )
    existing = dataset.instances_of(image_id)
    removed = tuple(i for i in existing if replace_predictions and is_unreviewed_prediction(i))
    removed_ids = {i.id for i in removed}
    base_z = max((i.z for i in existing if i.id not in removed_ids), default=-1) + 1

    ids = [dataset.new_instance_id() for _ in detections]
    areas = {i: area(d.mask, image.height, image.width) for i, d in zip(ids, detections, strict=True)}
    order = default_z_order(areas)
    added = tuple(
        Instance(
            id=instance_id,
            image_id=image_id,
            category_id=int(detection.category_id),
            geometry=detection.mask,
            z=base_z + order[instance_id],
            source=Source.from_model(model_name, detection.score),
            review=Review.UNREVIEWED,
        )
        for instance_id, detection in zip(ids, detections, strict=True)
    )

    steps: list[edits.Edit] = []
    known = {c.id: c for c in categories}
    missing = sorted({d.category_id for d in detections if d.category_id not in dataset.categories})
    if missing:
        new_categories = tuple(known.get(cid, Category(id=cid, name=f"class {cid}")) for cid in missing)
        steps.append(edits.PutCategories((None,) * len(new_categories), new_categories))
    if removed:
        steps.append(edits.RemoveInstances(removed))
    if added:
        steps.append(edits.AddInstances(added))
    if image.status is ImageStatus.NEW:
        # an image a person labelled already ("also run on labelled images") is being labelled, not
        # waiting for a first look
        labelled = any(not is_unreviewed_prediction(i) for i in dataset.instances_of(image_id))
        status = ImageStatus.IN_REVIEW if labelled else ImageStatus.PRELABELED
        steps.append(edits.ReplaceImages((image,), (replace(image, status=status),)))
    return edits.Composite(tuple(steps), text=f"Pre-label {image.file_name}")
