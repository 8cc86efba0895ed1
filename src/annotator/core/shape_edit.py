"""Shape edits a person makes with the mouse: vertices, moves, new shapes, pastes; each one edit.

Vertices are addressed as (ring, index), so an instance with several parts is edited part by part. Like
`operations`, every function returns one reversible edit (or None when nothing would change) and marks an
edited prediction `edited` while keeping its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from annotator.core import classes, edits
from annotator.core.geometry import Geometry, GeometryError, Mask, Polygons, to_mask_array
from annotator.core.model import Category, Dataset, Instance, Review
from annotator.core.operations import edited

# an existing class's id, the name of a class, or a class a model knows (made in the same step if new)
ClassChoice = int | str | Category


@dataclass(frozen=True)
class EdgeHit:
    """The point of a polygon's outline nearest to a query point."""

    ring: int
    index: int  # the edge runs from vertex `index` to vertex `index + 1` (wrapping)
    point: tuple[float, float]
    distance: float


def nearest_vertex(polygons: Polygons, point: tuple[float, float]) -> tuple[int, int, float]:
    """(ring, index, distance) of the vertex nearest to `point`."""
    best = (0, 0, float("inf"))
    for r, ring in enumerate(polygons.rings):
        distances = np.hypot(ring[:, 0] - point[0], ring[:, 1] - point[1])
        i = int(np.argmin(distances))
        if distances[i] < best[2]:
            best = (r, i, float(distances[i]))
    return best


def nearest_edge(polygons: Polygons, point: tuple[float, float]) -> EdgeHit:
    """The outline point nearest to `point`, over every edge of every ring (closing edges included)."""
    best: EdgeHit | None = None
    p = np.asarray(point, dtype=np.float64)
    for r, ring in enumerate(polygons.rings):
        a, b = ring, np.roll(ring, -1, axis=0)
        d = b - a
        length2 = np.maximum((d * d).sum(axis=1), 1e-12)
        t = np.clip(((p - a) * d).sum(axis=1) / length2, 0.0, 1.0)
        foot = a + d * t[:, None]
        distances = np.hypot(foot[:, 0] - p[0], foot[:, 1] - p[1])
        i = int(np.argmin(distances))
        if best is None or distances[i] < best.distance:
            best = EdgeHit(r, i, (float(foot[i, 0]), float(foot[i, 1])), float(distances[i]))
    assert best is not None  # Polygons always has a ring
    return best


def _with_ring(instance: Instance, ring_index: int, ring: np.ndarray | None, text: str):
    rings = list(instance.geometry.rings)
    if ring is None:
        del rings[ring_index]
    else:
        rings[ring_index] = ring
    new = edited(instance, geometry=Polygons(tuple(rings)))
    return edits.ReplaceInstances((instance,), (new,), text=text)


def _polygons(instance: Instance) -> Polygons:
    if not isinstance(instance.geometry, Polygons):
        raise GeometryError(f"instance {instance.id} is a mask, not polygons")
    return instance.geometry


def move_vertex(
    instance: Instance, ring: int, index: int, point: tuple[float, float]
) -> edits.ReplaceInstances | None:
    rings = _polygons(instance).rings
    if tuple(rings[ring][index]) == tuple(point):
        return None
    moved = rings[ring].copy()
    moved[index] = point
    return _with_ring(instance, ring, moved, "Move vertex")


def insert_vertex(
    instance: Instance, ring: int, index: int, point: tuple[float, float]
) -> edits.ReplaceInstances:
    """A new vertex at `point` on the edge from vertex `index` to the next one."""
    old = _polygons(instance).rings[ring]
    return _with_ring(instance, ring, np.insert(old, index + 1, point, axis=0), "Insert vertex")


def delete_vertex(instance: Instance, ring: int, index: int) -> edits.ReplaceInstances | None:
    """Remove a vertex; a ring left with two vertices goes (a part of the instance), but never the last
    ring: that would leave no region (delete the instance instead). None then."""
    rings = _polygons(instance).rings
    if len(rings[ring]) > 3:
        return _with_ring(instance, ring, np.delete(rings[ring], index, axis=0), "Delete vertex")
    if len(rings) == 1:
        return None
    return _with_ring(instance, ring, None, "Delete part")


def add_ring(instance: Instance, ring: np.ndarray) -> edits.ReplaceInstances:
    """Another part for a polygon instance (drawn with the polygon tool while it is selected)."""
    rings = _polygons(instance).rings + (np.asarray(ring, dtype=np.float64),)
    new = edited(instance, geometry=Polygons(rings))
    return edits.ReplaceInstances((instance,), (new,), text="Add part")


def translated(geometry: Geometry, dx: float, dy: float) -> Geometry:
    """The geometry moved by (dx, dy); a mask moves by whole pixels and loses what leaves the image."""
    if isinstance(geometry, Polygons):
        return Polygons(tuple(ring + (dx, dy) for ring in geometry.rings))
    source = geometry.to_array()
    return Mask.from_array(_shifted(source, int(round(dx)), int(round(dy))))


def _shifted(array: np.ndarray, dx: int, dy: int) -> np.ndarray:
    height, width = array.shape
    out = np.zeros_like(array)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    out[max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)] = array[
        max(0, -dy) : height + min(0, -dy), max(0, -dx) : width + min(0, -dx)
    ]
    return out


def move(instances: Sequence[Instance], dx: float, dy: float) -> edits.ReplaceInstances | None:
    if not instances or (dx == 0 and dy == 0):
        return None
    new = tuple(edited(i, geometry=translated(i.geometry, dx, dy)) for i in instances)
    return edits.ReplaceInstances(tuple(instances), new, text="Move")


def add_polygon(
    dataset: Dataset, image_id: int, category: ClassChoice, points: Sequence[tuple[float, float]]
):
    """A new manual instance in front of the others."""
    geometry = Polygons((np.asarray(points, dtype=np.float64),))
    return _add(dataset, image_id, category, geometry, "Draw polygon")


def add_rectangle(
    dataset: Dataset,
    image_id: int,
    category: ClassChoice,
    corner: tuple[float, float],
    other: tuple[float, float],
):
    (x0, x1), (y0, y1) = sorted((corner[0], other[0])), sorted((corner[1], other[1]))
    points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    geometry = Polygons((np.asarray(points, dtype=np.float64),))
    return _add(dataset, image_id, category, geometry, "Draw rectangle")


def add_mask(
    dataset: Dataset, image_id: int, category: ClassChoice, mask: np.ndarray, *, text: str = "Brush"
):
    """A new mask instance in front; `text` names the step in the undo history (the tool that made it)."""
    return _add(dataset, image_id, category, Mask.from_array(mask), text)


def _add(dataset: Dataset, image_id: int, category: ClassChoice, geometry: Geometry, text: str):
    """Add one instance. Given a class name, or a model's class, the class is looked up by name, or made
    in the same undo step (the first shape of a project without classes is drawn under a name the person
    typed or a model's class the person chose, never a default)."""
    add_class = None
    if isinstance(category, str | Category):
        name = category if isinstance(category, str) else category.name
        existing = classes.find_by_name(dataset, name)
        if existing is not None:
            category = existing.id
        else:
            add_class = (
                classes.add(dataset, name)
                if isinstance(category, str)
                else classes.add_model_class(dataset, category)
            )
            category = add_class.new[0].id
    instance = Instance(
        dataset.new_instance_id(), image_id, category, geometry, z=dataset.top_z(image_id) + 1
    )
    add = edits.AddInstances((instance,), text=text)
    if add_class is None:
        return add
    return edits.Composite((add_class, add), text=f"{text} as new class {add_class.new[0].name}")


def added_instances(edit) -> tuple[Instance, ...]:
    """The instances an edit adds (looking inside a Composite), e.g. to select what was just drawn."""
    if isinstance(edit, edits.AddInstances):
        return edit.instances
    return tuple(i for inner in getattr(edit, "edits", ()) for i in added_instances(inner))


def paste(dataset: Dataset, instances: Sequence[Instance], image_id: int) -> edits.AddInstances | None:
    """Copies of `instances` (from any image) in front on image `image_id`, with new ids.

    A mask is cropped or padded to the target image's size; polygons are kept as they are (the export
    clips them). A copied prediction keeps its source and is marked edited.
    """
    image = dataset.images[image_id]
    top = dataset.top_z(image_id)
    copies = []
    for n, instance in enumerate(sorted(instances, key=lambda i: i.z)):
        geometry = instance.geometry
        if isinstance(geometry, Mask) and (geometry.rle.height, geometry.rle.width) != (
            image.height,
            image.width,
        ):
            source = geometry.to_array()
            fitted = np.zeros((image.height, image.width), np.uint8)
            h, w = min(image.height, source.shape[0]), min(image.width, source.shape[1])
            fitted[:h, :w] = source[:h, :w]
            if not fitted.any():
                continue
            geometry = Mask.from_array(fitted)
        review = Review.EDITED if instance.source.is_model else Review.UNREVIEWED
        copies.append(
            instance.with_changes(
                id=dataset.new_instance_id(),
                image_id=image_id,
                geometry=geometry,
                z=top + 1 + n,
                review=review,
            )
        )
    if not copies:
        return None
    return edits.AddInstances(tuple(copies), text="Paste")


def mask_of(dataset: Dataset, instance: Instance) -> np.ndarray:
    image = dataset.image_of(instance)
    return to_mask_array(instance.geometry, image.height, image.width)
