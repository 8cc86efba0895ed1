"""Annotations read from another file brought into a dataset, as one reversible edit (one undo step).

Images are matched by file name: the whole relative path, else a base name that only one image has on
each side (a COCO file naming `JPEGImages/a.jpg` for a project's `a.jpg`). An image whose size differs
is not matched: its coordinates would land in the wrong place. Classes are matched by name, ignoring
case; a name the dataset lacks becomes a new class with the next free id (`core.classes`), keeping the
file's colour and supercategory. Instances get new ids and go on top of what the image has, in the
file's own draw order; who made them, their score and review state come along, so predictions stay
predictions, and an image given an unreviewed prediction moves from new to prelabeled, as
pre-labelling does. Nothing the dataset holds is changed or removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from annotator.core import classes, edits
from annotator.core.model import Category, Dataset, Image, ImageStatus, Instance
from annotator.core.rules import is_unreviewed_prediction


@dataclass(frozen=True)
class UnmatchedImage:
    """An image of the file that is not in the dataset, and why."""

    file_name: str
    reason: str


@dataclass(frozen=True)
class MergeReport:
    """What a merge adds, and what it could not place."""

    instances: int = 0
    images: int = 0  # images of the dataset that receive instances
    predictions: int = 0  # of `instances`, unreviewed model predictions
    unmatched: tuple[UnmatchedImage, ...] = ()
    created_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Merge:
    edit: edits.Composite | None  # None: nothing to add
    report: MergeReport


def match_images(dataset: Dataset, imported: Dataset) -> tuple[dict[int, int], list[UnmatchedImage]]:
    """Imported image id -> dataset image id, and the imported images that found no partner."""
    by_path = {image.file_name: image for image in dataset.images.values()}
    by_base = _unique_base_names(dataset.images.values())
    imported_bases = Counter(_base(image.file_name) for image in imported.images.values())
    matched: dict[int, int] = {}
    unmatched: list[UnmatchedImage] = []
    for image in sorted(imported.images.values(), key=lambda i: i.id):
        target = by_path.get(image.file_name)
        if target is None and imported_bases[_base(image.file_name)] == 1:
            target = by_base.get(_base(image.file_name))
        if target is None:
            unmatched.append(UnmatchedImage(image.file_name, "not in the project"))
        elif (target.width, target.height) != (image.width, image.height):
            unmatched.append(
                UnmatchedImage(
                    image.file_name,
                    f"is {image.width}x{image.height} in the file but {target.width}x{target.height} "
                    f"in the project ({target.file_name})",
                )
            )
        else:
            matched[image.id] = target.id
    return matched, unmatched


def merge_edit(dataset: Dataset, imported: Dataset, *, text: str = "Import annotations") -> Merge:
    """The edit that adds `imported`'s instances to `dataset`; apply it (or push it on the undo stack)."""
    image_map, unmatched = match_images(dataset, imported)
    chosen = [i for i in imported.instances.values() if i.image_id in image_map]
    category_map, new_categories = _map_categories(dataset, imported, {i.category_id for i in chosen})
    added = _placed(dataset, imported, chosen, image_map, category_map)
    steps: list[edits.Edit] = []
    if new_categories:
        steps.append(edits.PutCategories((None,) * len(new_categories), new_categories))
    if added:
        steps.append(edits.AddInstances(added, text=text))
    status = _prelabeled_images(dataset, added)
    if status:
        steps.append(edits.ReplaceImages(tuple(dataset.images[i.id] for i in status), status))
    report = MergeReport(
        instances=len(added),
        images=len({i.image_id for i in added}),
        predictions=sum(1 for i in added if is_unreviewed_prediction(i)),
        unmatched=tuple(_with_counts(unmatched, imported)),
        created_classes=tuple(c.name for c in new_categories),
    )
    return Merge(edits.Composite(tuple(steps), text=text) if added else None, report)


def _map_categories(
    dataset: Dataset, imported: Dataset, used: set[int]
) -> tuple[dict[int, int], tuple[Category, ...]]:
    """Imported class id -> dataset class id, by name; the classes to create for names it lacks."""
    mapping: dict[int, int] = {}
    created: dict[str, Category] = {}
    fresh = iter(classes.next_ids(dataset, len(used)))
    for category_id in sorted(used):
        source = imported.categories.get(category_id) or Category(category_id, str(category_id))
        found = classes.find_by_name(dataset, source.name)
        key = source.name.strip().casefold()
        if found is None and key not in created:
            name = source.name.strip() or str(category_id)
            created[key] = Category(next(fresh), name, source.supercategory, source.color, dict(source.extra))
        mapping[category_id] = found.id if found is not None else created[key].id
    return mapping, tuple(created.values())


def _placed(
    dataset: Dataset,
    imported: Dataset,
    chosen: list[Instance],
    image_map: dict[int, int],
    category_map: dict[int, int],
) -> tuple[Instance, ...]:
    """The imported instances with new ids, on the dataset's images and classes, above what is there."""
    by_image: dict[int, list[Instance]] = {}
    for inst in chosen:
        by_image.setdefault(image_map[inst.image_id], []).append(inst)
    out = []
    ids = iter(dataset.new_instance_ids(len(chosen)))
    for image_id in sorted(by_image):
        base_z = dataset.top_z(image_id) + 1
        for rank, inst in enumerate(sorted(by_image[image_id], key=lambda i: (i.z, i.id))):
            out.append(
                replace(
                    inst,
                    id=next(ids),
                    image_id=image_id,
                    category_id=category_map[inst.category_id],
                    z=base_z + rank,
                )
            )
    return tuple(out)


def _prelabeled_images(dataset: Dataset, added: Iterable[Instance]) -> tuple[Image, ...]:
    """New images given an unreviewed prediction, moved to prelabeled (pre-labelling's rule)."""
    ids = sorted({i.image_id for i in added if is_unreviewed_prediction(i)})
    return tuple(
        replace(dataset.images[i], status=ImageStatus.PRELABELED)
        for i in ids
        if dataset.images[i].status is ImageStatus.NEW
    )


def _with_counts(unmatched: list[UnmatchedImage], imported: Dataset) -> Iterable[UnmatchedImage]:
    """Each unmatched image's reason says how many instances stay out with it."""
    by_name = {image.file_name: image.id for image in imported.images.values()}
    for item in unmatched:
        count = imported.instance_count(by_name[item.file_name])
        suffix = (
            f"; {'its instance is' if count == 1 else f'its {count} instances are'} left out" if count else ""
        )
        yield UnmatchedImage(item.file_name, item.reason + suffix)


def _base(file_name: str) -> str:
    return PurePosixPath(file_name).name


def _unique_base_names(images: Iterable[Image]) -> dict[str, Image]:
    images = list(images)
    counts = Counter(_base(image.file_name) for image in images)
    return {_base(image.file_name): image for image in images if counts[_base(image.file_name)] == 1}
