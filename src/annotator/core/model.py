"""The document: images, categories and instances as frozen values, plus a Dataset that holds them.

Values are immutable; a change replaces a value through an edit (`core.edits`), so every change is
reversible and observers (the project store, the canvas) learn of it through one event channel.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from annotator.core.events import EventEmitter
from annotator.core.geometry import Geometry, area

ID_MAX = 2**63 - 1  # SQLite's largest integer: every id the tool keeps fits it
Z_LIMIT = 2**53  # a stacking order beyond this is refused on reading: new shapes go at top + 1


def fresh_ids(taken: Collection[int], count: int, *, start: int | None = None) -> list[int]:
    """`count` ids not in `taken`: after the largest one, or where that passes ID_MAX (a file used
    2^63 - 1), the smallest free ones from `start` (default 1) upwards."""
    first = max(taken, default=0) + 1 if start is None else start
    if start is None and first + count - 1 <= ID_MAX:
        return list(range(first, first + count))
    ids: list[int] = []
    candidate = 1 if start is None else start
    while len(ids) < count:
        if candidate not in taken:
            ids.append(candidate)
        candidate += 1
    return ids


class ImageStatus(StrEnum):
    NEW = "new"
    PRELABELED = "prelabeled"
    IN_REVIEW = "in_review"
    DONE = "done"


class Review(StrEnum):
    UNREVIEWED = "unreviewed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EDITED = "edited"


class SourceKind(StrEnum):
    MANUAL = "manual"
    MODEL = "model"


@dataclass(frozen=True)
class Source:
    """Who made an instance: a person, or a model (with its name and the detection score)."""

    kind: SourceKind = SourceKind.MANUAL
    model: str | None = None
    score: float | None = None

    @classmethod
    def from_model(cls, model: str, score: float) -> Source:
        return cls(SourceKind.MODEL, model, float(score))

    @property
    def is_model(self) -> bool:
        return self.kind is SourceKind.MODEL


MANUAL = Source()


@dataclass(frozen=True)
class Category:
    """A class. `id` is the COCO category id, kept exactly (gaps and 0 allowed, never renumbered).

    `rank` is the person's place for it in every class list and for the 1-9 keys (`core.classes.ordered`:
    ranked classes first, the others after them by id), so reordering never touches an id.
    """

    id: int
    name: str
    supercategory: str = ""
    color: tuple[int, int, int] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    rank: int | None = None


@dataclass(frozen=True)
class Image:
    """An image of the dataset. `file_name` is relative to the dataset root, with `/` separators;
    width and height are as displayed, after EXIF orientation."""

    id: int
    file_name: str
    width: int
    height: int
    status: ImageStatus = ImageStatus.NEW
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Instance:
    """One object: its own region, class, draw order, origin and review state."""

    id: int
    image_id: int
    category_id: int
    geometry: Geometry
    z: int = 0
    source: Source = MANUAL
    review: Review = Review.UNREVIEWED
    iscrowd: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def with_changes(self, **changes: Any) -> Instance:
        return replace(self, **changes)

    @property
    def score(self) -> float | None:
        return self.source.score


class ChangeKind(StrEnum):
    INSTANCES_ADDED = "instances_added"
    INSTANCES_REMOVED = "instances_removed"
    INSTANCES_CHANGED = "instances_changed"
    IMAGES_ADDED = "images_added"
    IMAGES_CHANGED = "images_changed"
    CATEGORIES_CHANGED = "categories_changed"  # added, changed or removed: read `dataset.categories`


@dataclass(frozen=True)
class Change:
    """What changed, for observers. `items` are the new values (old values for removals)."""

    kind: ChangeKind
    items: tuple = ()


Listener = Callable[[Change], None]


@dataclass
class Dataset:
    """Images, categories and instances, indexed for the queries the tool makes.

    Mutate it only through `core.edits` (or the `put_*`/`drop_*` methods they call), on one thread.
    """

    images: dict[int, Image] = field(default_factory=dict)
    categories: dict[int, Category] = field(default_factory=dict)
    instances: dict[int, Instance] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    _by_image: dict[int, dict[int, None]] = field(default_factory=dict, repr=False)
    changes: EventEmitter[Change] = field(default_factory=EventEmitter, repr=False, compare=False)
    _next_instance_id: int = field(default=1, repr=False)
    _low_instance_id: int = field(default=1, repr=False)  # where ids come from once past ID_MAX

    # -- queries ----------------------------------------------------------------------------------
    def instances_of(self, image_id: int) -> list[Instance]:
        """The image's instances back to front: the order a painter draws them in."""
        ids = self._by_image.get(image_id, {})
        return sorted((self.instances[i] for i in ids), key=lambda inst: (inst.z, inst.id))

    def instance_count(self, image_id: int) -> int:
        return len(self._by_image.get(image_id, ()))

    def image_of(self, instance: Instance) -> Image:
        return self.images[instance.image_id]

    def area_of(self, instance: Instance) -> int:
        image = self.images[instance.image_id]
        return area(instance.geometry, image.height, image.width)

    def new_instance_id(self) -> int:
        return self.new_instance_ids(1)[0]

    def new_instance_ids(self, count: int) -> Sequence[int]:
        """`count` fresh ids at once (one look at the largest id, not one per instance: an import).

        Ids are never handed out twice (an undone delete gets its id back). Past ID_MAX (a file used
        2^63 - 1), they come from below: the smallest ids no instance holds, upwards."""
        first = max(self._next_instance_id, max(self.instances, default=0) + 1)
        if first + count - 1 <= ID_MAX:
            self._next_instance_id = first + count
            return range(first, first + count)
        self._next_instance_id = ID_MAX + 1
        ids = fresh_ids(self.instances, count, start=self._low_instance_id)
        self._low_instance_id = ids[-1] + 1 if ids else self._low_instance_id
        return ids

    def snapshot(self, *, keep: Callable[[Instance], bool] | None = None) -> Dataset:
        """A copy that later edits do not reach (values are frozen: only the indexes are copied), for
        work in another thread; `keep` chooses which instances come along."""
        copy = Dataset(extra=dict(self.extra))
        copy.put_categories(self.categories.values(), notify=False)
        copy.put_images(self.images.values(), notify=False)
        instances = self.instances.values()
        copy.put_instances(instances if keep is None else filter(keep, instances), notify=False)
        return copy

    def top_z(self, image_id: int) -> int:
        return max((self.instances[i].z for i in self._by_image.get(image_id, ())), default=-1)

    # -- observers --------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every later Change; a listener that raises never stops the others (the
        project store is one of them)."""
        self.changes.connect(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self.changes.disconnect(listener)

    def emit(self, change: Change) -> None:
        self.changes.emit(change)

    # -- low-level mutation, used by edits and loaders -------------------------------------------
    def put_instances(self, instances: Iterable[Instance], *, notify: bool = True) -> None:
        added, changed = [], []
        for inst in instances:
            if inst.image_id not in self.images:
                raise KeyError(f"instance {inst.id} points at missing image {inst.image_id}")
            old = self.instances.get(inst.id)
            if old is not None and old.image_id != inst.image_id:
                self._by_image[old.image_id].pop(inst.id, None)
            self.instances[inst.id] = inst
            self._by_image.setdefault(inst.image_id, {})[inst.id] = None
            (changed if old is not None else added).append(inst)
        if notify and added:
            self.emit(Change(ChangeKind.INSTANCES_ADDED, tuple(added)))
        if notify and changed:
            self.emit(Change(ChangeKind.INSTANCES_CHANGED, tuple(changed)))

    def drop_instances(self, ids: Iterable[int], *, notify: bool = True) -> None:
        removed = []
        for instance_id in ids:
            inst = self.instances.pop(instance_id)
            self._by_image[inst.image_id].pop(instance_id, None)
            removed.append(inst)
        if notify and removed:
            self.emit(Change(ChangeKind.INSTANCES_REMOVED, tuple(removed)))

    def put_images(self, images: Iterable[Image], *, notify: bool = True) -> None:
        added, changed = [], []
        for image in images:
            (changed if image.id in self.images else added).append(image)
            self.images[image.id] = image
            self._by_image.setdefault(image.id, {})
        if notify and added:
            self.emit(Change(ChangeKind.IMAGES_ADDED, tuple(added)))
        if notify and changed:
            self.emit(Change(ChangeKind.IMAGES_CHANGED, tuple(changed)))

    def put_categories(self, categories: Iterable[Category], *, notify: bool = True) -> None:
        categories = tuple(categories)
        for category in categories:
            self.categories[category.id] = category
        if notify and categories:
            self.emit(Change(ChangeKind.CATEGORIES_CHANGED, categories))

    def drop_categories(self, ids: Iterable[int], *, notify: bool = True) -> None:
        """Remove classes (their instances must be gone or moved first: `core.classes` sees to it)."""
        removed = tuple(self.categories.pop(category_id) for category_id in ids)
        if notify and removed:
            self.emit(Change(ChangeKind.CATEGORIES_CHANGED, removed))


def default_z_order(areas: Mapping[int, float]) -> dict[int, int]:
    """z for each instance id: larger regions behind smaller ones, so small objects stay visible."""
    order = sorted(areas, key=lambda instance_id: (-areas[instance_id], instance_id))
    return {instance_id: z for z, instance_id in enumerate(order)}
