"""Instance operations a person asks for, each returned as one reversible edit (one undo step).

Editing a prediction marks it `edited` and keeps its source (model name and score), so review can tell
what a person touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from annotator.core import edits
from annotator.core.geometry import Mask, Polygons, to_mask_array
from annotator.core.mask_edit import connected_parts, fill_holes, remove_small_parts, union_masks
from annotator.core.model import Dataset, Instance, Review
from annotator.core.wording import counted


def edited(instance: Instance, **changes: object) -> Instance:
    """`instance` with `changes`, marked edited when a model made it."""
    if instance.source.is_model:
        changes.setdefault("review", Review.EDITED)
    return instance.with_changes(**changes)


def change_class(instances: Sequence[Instance], category_id: int) -> edits.ReplaceInstances:
    new = tuple(edited(i, category_id=category_id) for i in instances)
    return edits.ReplaceInstances(tuple(instances), new, text="Change class")


def delete(instances: Sequence[Instance], dataset: Dataset | None = None) -> edits.RemoveInstances:
    """One step removing `instances`; with `dataset`, the undo history says what went ("Delete chair",
    "Delete 3 instances"), not only "Delete"."""
    text = "Delete"
    if dataset is not None and len(instances) == 1:
        category = dataset.categories.get(instances[0].category_id)
        text += f" {category.name if category is not None else f'class {instances[0].category_id}'}"
    elif dataset is not None:
        text += f" {counted(len(instances), 'instance')}"
    return edits.RemoveInstances(tuple(instances), text=text)


def bring_to_front(dataset: Dataset, instances: Sequence[Instance]) -> edits.ReplaceInstances:
    top = dataset.top_z(instances[0].image_id)
    ordered = sorted(instances, key=lambda i: i.z)
    new = tuple(i.with_changes(z=top + 1 + n) for n, i in enumerate(ordered))
    return edits.ReplaceInstances(tuple(ordered), new, text="Bring to front")


def send_to_back(dataset: Dataset, instances: Sequence[Instance]) -> edits.ReplaceInstances:
    bottom = min(i.z for i in dataset.instances_of(instances[0].image_id))
    ordered = sorted(instances, key=lambda i: i.z)
    new = tuple(i.with_changes(z=bottom - len(ordered) + n) for n, i in enumerate(ordered))
    return edits.ReplaceInstances(tuple(ordered), new, text="Send to back")


def split(dataset: Dataset, instance: Instance) -> edits.Composite | None:
    """One instance per disconnected part (polygon ring or mask component); None if there is one part."""
    image = dataset.image_of(instance)
    if isinstance(instance.geometry, Polygons):
        geometries = [Polygons((ring,)) for ring in instance.geometry.rings]
    else:
        parts = connected_parts(to_mask_array(instance.geometry, image.height, image.width))
        geometries = [Mask.from_array(part) for part in parts]
    if len(geometries) < 2:
        return None
    first = edited(instance, geometry=geometries[0])
    rest = tuple(
        edited(instance, id=dataset.new_instance_id(), geometry=g, z=instance.z) for g in geometries[1:]
    )
    return edits.Composite(
        (edits.ReplaceInstances((instance,), (first,)), edits.AddInstances(rest)), text="Split parts"
    )


def merge(dataset: Dataset, instances: Sequence[Instance]) -> edits.Composite:
    """One instance of the first one's class covering all of them; polygons stay polygons."""
    if len(instances) < 2 or len({i.image_id for i in instances}) != 1:
        raise ValueError("merge needs two or more instances of one image")
    keep, others = instances[0], tuple(instances[1:])
    if all(isinstance(i.geometry, Polygons) for i in instances):
        geometry = Polygons(tuple(ring for i in instances for ring in i.geometry.rings))
    else:
        image = dataset.image_of(keep)
        masks = [to_mask_array(i.geometry, image.height, image.width) for i in instances]
        geometry = Mask.from_array(union_masks(masks))
    merged = edited(keep, geometry=geometry, z=max(i.z for i in instances))
    return edits.Composite(
        (edits.RemoveInstances(others), edits.ReplaceInstances((keep,), (merged,))), text="Merge"
    )


def simplify(instance: Instance, tolerance: float) -> edits.ReplaceInstances | None:
    """Douglas-Peucker on each ring (tolerance in pixels); rings that collapse are dropped."""
    if not isinstance(instance.geometry, Polygons):
        return None
    rings = []
    for ring in instance.geometry.rings:
        simpler = cv2.approxPolyDP(ring.astype(np.float32).reshape(-1, 1, 2), tolerance, True).reshape(-1, 2)
        if len(simpler) >= 3:
            rings.append(simpler.astype(np.float64))
    if not rings or sum(len(r) for r in rings) == instance.geometry.vertex_count:
        return None
    new = edited(instance, geometry=Polygons(tuple(rings)))
    return edits.ReplaceInstances((instance,), (new,), text="Simplify")


def fill_instance_holes(dataset: Dataset, instance: Instance) -> edits.ReplaceInstances | None:
    return _mask_operation(dataset, instance, fill_holes, "Fill holes")


def remove_small_fragments(
    dataset: Dataset, instance: Instance, min_pixels: int
) -> edits.ReplaceInstances | None:
    return _mask_operation(dataset, instance, lambda m: remove_small_parts(m, min_pixels), "Remove fragments")


def _mask_operation(
    dataset: Dataset, instance: Instance, operation, text: str
) -> edits.ReplaceInstances | None:
    image = dataset.image_of(instance)
    before = to_mask_array(instance.geometry, image.height, image.width)
    after = operation(before)
    if np.array_equal(before, after):
        return None
    new = edited(instance, geometry=Mask.from_array(after))
    return edits.ReplaceInstances((instance,), (new,), text=text)
