"""The classes a person manages: add, rename, recolour, reorder, merge and delete, each one reversible edit.

Ids are COCO category ids: a new class gets the largest id in use plus one (1 in an empty project) and no
id is ever renumbered, so a rename keeps its id and exports under it. The person's order is the classes'
`rank` (ranked ones first, the others after them by id); it drives every class list and the 1-9 keys.
Moving instances to another class keeps their review state: relabelling a class is not a review.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import chain

from annotator.core import edits
from annotator.core.model import Category, Dataset, Instance, fresh_ids
from annotator.core.operations import change_class
from annotator.core.wording import counted


class ClassError(ValueError):
    """A class change that cannot be made: an empty name, a name another class has, an unknown class."""


# -- queries --------------------------------------------------------------------------------------
def order_key(category: Category) -> tuple[bool, int, int]:
    return (category.rank is None, category.rank or 0, category.id)


def ordered(categories: Iterable[Category]) -> list[Category]:
    """The classes in the person's order."""
    return sorted(categories, key=order_key)


def ordered_ids(dataset: Dataset) -> list[int]:
    return [c.id for c in ordered(dataset.categories.values())]


def next_id(dataset: Dataset) -> int:
    """A new class's COCO id: one more than any id in use (by a class or, without one, an instance)."""
    return next_ids(dataset, 1)[0]


def next_ids(dataset: Dataset, count: int) -> list[int]:
    """`count` new class ids (from the smallest free one once the largest is 2^63 - 1)."""
    used = set(chain(dataset.categories, (i.category_id for i in dataset.instances.values())))
    return fresh_ids(used, count)


def find_by_name(dataset: Dataset, name: str) -> Category | None:
    """The class called `name`, ignoring case and surrounding spaces."""
    wanted = name.strip().casefold()
    return next((c for c in dataset.categories.values() if c.name.casefold() == wanted), None)


def instances_of_class(dataset: Dataset, category_id: int) -> tuple[Instance, ...]:
    return tuple(i for i in dataset.instances.values() if i.category_id == category_id)


def checked_name(dataset: Dataset, name: str, *, renaming: int | None = None) -> str:
    """`name` without surrounding spaces; ClassError if it is empty or another class has it."""
    name = name.strip()
    if not name:
        raise ClassError("A class needs a name")
    existing = find_by_name(dataset, name)
    if existing is not None and existing.id != renaming:
        raise ClassError(f"There is already a class named {existing.name}")
    return name


def _get(dataset: Dataset, category_id: int) -> Category:
    try:
        return dataset.categories[category_id]
    except KeyError:
        raise ClassError(f"There is no class with id {category_id}") from None


# -- edits ----------------------------------------------------------------------------------------
def add(dataset: Dataset, name: str, *, color: tuple[int, int, int] | None = None) -> edits.PutCategories:
    """A new class at the end of the person's order (its id is the largest, and it has no rank)."""
    category = Category(next_id(dataset), checked_name(dataset, name), color=color)
    return edits.PutCategories((None,), (category,), text=f"Add class {category.name}")


def add_model_class(dataset: Dataset, category: Category) -> edits.PutCategories:
    """A class a model knows, under its own id where that id is free (the model, and pre-labelling with it,
    then read the class back as theirs); a taken id gets a new one, as `add` gives."""
    name = checked_name(dataset, category.name)
    free = category.id not in dataset.categories and category.id not in {
        i.category_id for i in dataset.instances.values()
    }
    added = Category(category.id if free else next_id(dataset), name, category.supercategory, category.color)
    return edits.PutCategories((None,), (added,), text=f"Add class {added.name}")


def add_and_assign(dataset: Dataset, name: str, instances: Sequence[Instance]) -> edits.Edit:
    """A new class and the class change of `instances` to it, one undo step (the class picker)."""
    added = add(dataset, name)
    if not instances:
        return added
    moved = change_class(instances, added.new[0].id)
    return edits.Composite(
        (added, moved), text=f"{added.text} and give it to {counted(len(instances), 'instance')}"
    )


def rename(dataset: Dataset, category_id: int, name: str) -> edits.PutCategories | None:
    """The same class (same id) under another name; None if the name is unchanged."""
    old = _get(dataset, category_id)
    name = checked_name(dataset, name, renaming=category_id)
    if name == old.name:
        return None
    return edits.PutCategories((old,), (replace(old, name=name),), text=f"Rename class {old.name} to {name}")


def recolour(dataset: Dataset, category_id: int, color: tuple[int, int, int]) -> edits.PutCategories | None:
    old = _get(dataset, category_id)
    color = tuple(int(v) for v in color)
    if old.color == color:
        return None
    return edits.PutCategories(
        (old,), (replace(old, color=color),), text=f"Change colour of class {old.name}"
    )


def reorder(dataset: Dataset, order: Sequence[int]) -> edits.PutCategories | None:
    """Every class ranked by its place in `order` (all the ids, each once); None if nothing moves."""
    if sorted(order) != sorted(dataset.categories):
        raise ClassError("A new order must list every class once")
    before = ordered_ids(dataset)
    if list(order) == before:
        return None
    old, new = [], []
    for rank, category_id in enumerate(order):
        category = dataset.categories[category_id]
        if category.rank != rank:
            old.append(category)
            new.append(replace(category, rank=rank))
    return edits.PutCategories(tuple(old), tuple(new), text=_reorder_text(dataset, before, list(order)))


def _reorder_text(dataset: Dataset, before: list[int], after: list[int]) -> str:
    """The undo step's name: which class moved where when one did (a drag), else "Reorder classes"."""
    first = next((n for n, (a, b) in enumerate(zip(before, after, strict=True)) if a != b), None)
    if first is None:
        return "Reorder classes"
    for moved in (after[first], before[first]):
        if [i for i in before if i != moved] == [i for i in after if i != moved]:
            return f"Move class {dataset.categories[moved].name} to place {after.index(moved) + 1}"
    return "Reorder classes"


def merge(dataset: Dataset, source_id: int, target_id: int) -> edits.Composite:
    """Class `source_id` goes; its instances become `target_id`'s."""
    source, target = _get(dataset, source_id), _get(dataset, target_id)
    if source_id == target_id:
        raise ClassError("A class cannot be merged into itself")
    return _move_and_remove(dataset, source, target, f"Merge class {source.name} into {target.name}")


def delete(dataset: Dataset, category_id: int, *, move_to: int | None = None) -> edits.Edit:
    """Remove a class. Its instances, if any, go with it, or with `move_to` become that class's."""
    category = _get(dataset, category_id)
    instances = instances_of_class(dataset, category_id)
    remove = edits.RemoveCategories((category,), text=f"Delete class {category.name}")
    if not instances:
        return remove
    if move_to is not None:
        target = _get(dataset, move_to)
        if move_to == category_id:
            raise ClassError("Move the instances to another class")
        text = f"Delete class {category.name}, moving {counted(len(instances), 'instance')} to {target.name}"
        return _move_and_remove(dataset, category, target, text)
    text = f"Delete class {category.name} and its {counted(len(instances), 'instance')}"
    return edits.Composite((edits.RemoveInstances(instances), remove), text=text)


def _move_and_remove(dataset: Dataset, source: Category, target: Category, text: str) -> edits.Composite:
    instances = instances_of_class(dataset, source.id)
    moved = tuple(i.with_changes(category_id=target.id) for i in instances)
    return edits.Composite(
        (edits.ReplaceInstances(instances, moved), edits.RemoveCategories((source,))), text=text
    )
