"""Reversible edits of a Dataset: each is a small value with `apply` and `revert`.

The GUI wraps them in QUndoCommands; the CLI and loaders apply them directly. An edit holds only the
values it replaces (for a mask stroke, the instance's old and new RLE), never a copy of the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from annotator.core.model import Category, Change, ChangeKind, Dataset, Image, Instance


class Edit(Protocol):
    text: str

    def apply(self, dataset: Dataset) -> None: ...

    def revert(self, dataset: Dataset) -> None: ...


@dataclass(frozen=True)
class AddInstances:
    instances: tuple[Instance, ...]
    text: str = "Add instance"

    def apply(self, dataset: Dataset) -> None:
        dataset.put_instances(self.instances)

    def revert(self, dataset: Dataset) -> None:
        dataset.drop_instances(inst.id for inst in self.instances)


@dataclass(frozen=True)
class RemoveInstances:
    instances: tuple[Instance, ...]
    text: str = "Delete instance"

    def apply(self, dataset: Dataset) -> None:
        dataset.drop_instances(inst.id for inst in self.instances)

    def revert(self, dataset: Dataset) -> None:
        dataset.put_instances(self.instances)


@dataclass(frozen=True)
class ReplaceInstances:
    """Any change of existing instances (geometry, class, z, review): old and new values side by side."""

    old: tuple[Instance, ...]
    new: tuple[Instance, ...]
    text: str = "Edit instance"

    def __post_init__(self) -> None:
        if [i.id for i in self.old] != [i.id for i in self.new]:
            raise ValueError("old and new instances must have the same ids in the same order")

    def apply(self, dataset: Dataset) -> None:
        dataset.put_instances(self.new)

    def revert(self, dataset: Dataset) -> None:
        dataset.put_instances(self.old)


@dataclass(frozen=True)
class ReplaceImages:
    """A change of image records, such as the review status."""

    old: tuple[Image, ...]
    new: tuple[Image, ...]
    text: str = "Change image"

    def apply(self, dataset: Dataset) -> None:
        dataset.put_images(self.new)

    def revert(self, dataset: Dataset) -> None:
        dataset.put_images(self.old)


@dataclass(frozen=True)
class PutCategories:
    """Add or change categories; `old` holds the previous values (None where a category is new)."""

    old: tuple[Category | None, ...]
    new: tuple[Category, ...]
    text: str = "Change classes"

    def apply(self, dataset: Dataset) -> None:
        dataset.put_categories(self.new)

    def revert(self, dataset: Dataset) -> None:
        for old, new in zip(self.old, self.new, strict=True):
            if old is None:
                dataset.categories.pop(new.id, None)
        restored = tuple(c for c in self.old if c is not None)
        dataset.put_categories(restored, notify=False)
        dataset.emit(Change(ChangeKind.CATEGORIES_CHANGED, restored))


@dataclass(frozen=True)
class RemoveCategories:
    """Remove classes; revert puts the same values (id, name, colour, rank) back."""

    categories: tuple[Category, ...]
    text: str = "Delete class"

    def apply(self, dataset: Dataset) -> None:
        dataset.drop_categories(c.id for c in self.categories)

    def revert(self, dataset: Dataset) -> None:
        dataset.put_categories(self.categories)


@dataclass(frozen=True)
class Composite:
    """Several edits as one undo step (a merge removes two instances and adds one)."""

    edits: tuple[Edit, ...]
    text: str = "Edit"

    def apply(self, dataset: Dataset) -> None:
        for edit in self.edits:
            edit.apply(dataset)

    def revert(self, dataset: Dataset) -> None:
        for edit in reversed(self.edits):
            edit.revert(dataset)
