"""Consistency checks that need no model: duplicates, small fragments, hidden instances, masks reaching
outside the image, invalid polygons, classes used only once.

Each finding names its image and instance (one click from it in the window) and a severity in [0, 1];
a report lists them by kind, worst first. Everything is decided from whole-dataset columns
(`core.instance_table`); only the few instances that cheap bounds cannot rule out are rasterised, with
pycocotools' own RLE operations (`iou`, `merge`, `area`), so 100,000 instances take seconds
(bench/checks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pycocotools import mask as mask_utils

from annotator.core import edits, operations
from annotator.core.box_pairs import intersection_area, overlapping_pairs
from annotator.core.edits import Edit
from annotator.core.geometry import GeometryError, Polygons, area
from annotator.core.instance_table import InstanceTable, build_table
from annotator.core.mask_parts import part_sizes
from annotator.core.model import Dataset, Instance
from annotator.core.occlusion import hidden_instances
from annotator.core.polygon_validity import ring_faults
from annotator.core.rules import is_accepted, is_unreviewed_prediction


class CheckKind(StrEnum):
    """In the order a report lists them: what breaks files and training first."""

    INVALID = "invalid geometry"
    OUTSIDE = "outside the image"
    DUPLICATE = "duplicate"
    HIDDEN = "hidden"
    FRAGMENT = "small fragment"
    SINGLE_USE_CLASS = "class used once"


@dataclass(frozen=True)
class Finding:
    """One problem with one instance. `other_instance_id` is the duplicate's twin or the instance in
    front that hides it; `point` is where a polygon crosses itself."""

    kind: CheckKind
    image_id: int
    instance_id: int
    severity: float  # in [0, 1], 1 worst
    message: str
    other_instance_id: int | None = None
    point: tuple[float, float] | None = None


@dataclass(frozen=True)
class CheckOptions:
    min_fragment_pixels: int = 50  # the "Remove fragments" default in the window
    duplicate_iou: float = 0.9
    outside_tolerance: float = 1.0  # pixels a vertex may stray past the border (rounding)


@dataclass(frozen=True)
class CheckReport:
    findings: tuple[Finding, ...]  # by kind in CheckKind order, then worst first
    checked: int  # instances looked at

    def of_kind(self, kind: CheckKind) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind is kind)

    def counts(self) -> dict[CheckKind, int]:
        return {kind: sum(1 for f in self.findings if f.kind is kind) for kind in CheckKind}

    def for_instance(self, instance_id: int) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.instance_id == instance_id)


def run_checks(dataset: Dataset, options: CheckOptions | None = None) -> CheckReport:
    """Every check over a person's instances and the predictions still to judge, never rejected ones, in
    two layers (`check_layers`)."""
    options = options or CheckOptions()
    findings, checked = [], 0
    for table, kinds in check_layers(dataset):
        findings += [f for kind in kinds for f in CHECKS[kind](table, options)]
        checked += len(table)
    return report_of(findings, checked)


def check_layers(dataset: Dataset) -> list[tuple[InstanceTable, tuple[CheckKind, ...]]]:
    """The labels (a person's instances, accepted predictions) and, apart, the predictions still to
    judge, with the checks each gets. A prediction lying on the label it matches is no duplicate and
    hides no label: comparing the two is the label audit's and the review's work, and here it buried
    the labels' own findings (118 of 152 on a labelled set pre-labelled again). A class predicted once
    is no slip of the class picker."""
    labels = build_table(dataset, keep=is_accepted)
    predictions = build_table(dataset, keep=is_unreviewed_prediction)
    return [
        (labels, tuple(CheckKind)),
        (predictions, tuple(k for k in CheckKind if k is not CheckKind.SINGLE_USE_CLASS)),
    ]


def report_of(findings: list[Finding], checked: int) -> CheckReport:
    order = {kind: index for index, kind in enumerate(CheckKind)}
    findings.sort(key=lambda f: (order[f.kind], -f.severity, f.image_id, f.instance_id))
    return CheckReport(tuple(findings), checked)


# -- the checks ---------------------------------------------------------------------------------------
def check_invalid(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Polygon rings with fewer than 3 distinct points or no area, rings that cross or touch themselves,
    and masks whose size is not their image's."""
    findings = [_finding(table, CheckKind.INVALID, row, 1.0, reason) for row, reason in table.broken.items()]
    if table.points.size == 0:
        return findings
    faults = ring_faults(table.points, table.ring_offsets)
    first_ring = _first_ring_of_rows(table)
    for ring in np.flatnonzero(faults.degenerate | (faults.crossings > 0)):
        row = int(table.ring_owner[ring])
        part = int(ring - first_ring[row])
        if faults.degenerate[ring]:
            findings.append(_finding(table, CheckKind.INVALID, row, 1.0, f"ring {part} has no area"))
            continue
        count = int(faults.crossings[ring])
        x, y = (float(v) for v in faults.points[ring])
        message = f"ring {part} crosses itself at ({x:.1f}, {y:.1f})" + (
            f" and {count - 1} more place{'s' * (count > 2)}" if count > 1 else ""
        )
        severity = 0.5 + 0.5 * min(count, 10) / 10
        findings.append(_finding(table, CheckKind.INVALID, row, severity, message, point=(x, y)))
    return findings


def check_outside(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Polygons with vertices past the image border (pycocotools clips them; the outline the person
    sees does not)."""
    extent = table.extent
    beyond = np.fmax.reduce(
        [-extent[:, 0], -extent[:, 1], extent[:, 2] - table.widths, extent[:, 3] - table.heights]
    )
    findings = []
    for row in np.flatnonzero(table.is_polygon & (beyond > options.outside_tolerance)):
        distance = float(beyond[row])
        severity = min(1.0, distance / max(int(table.widths[row]), int(table.heights[row]), 1))
        message = f"reaches {distance:.1f} px outside the {table.widths[row]}x{table.heights[row]} image"
        findings.append(_finding(table, CheckKind.OUTSIDE, int(row), max(severity, 0.01), message))
    return findings


def check_duplicates(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Pairs of the same class whose masks overlap with IoU above `duplicate_iou`.

    IoU > t needs the boxes' intersection above t times the larger area, and the smaller area above t
    times the larger: both follow from the area bounds, so only near-coincident pairs are rasterised.
    """
    threshold = options.duplicate_iou
    a, b = overlapping_pairs(table.image_ids, table.boxes)
    same = table.category_ids[a] == table.category_ids[b]
    a, b = a[same], b[same]
    larger_low = np.maximum(table.area_low[a], table.area_low[b])
    possible = (intersection_area(table.boxes, a, b) > threshold * larger_low) & (
        np.minimum(table.area_high[a], table.area_high[b]) > threshold * larger_low
    )
    findings = []
    for back, front in zip(a[possible].tolist(), b[possible].tolist(), strict=True):
        rles = _rles(table, (back, front))
        if rles is None:
            continue
        iou = float(mask_utils.iou([rles[1]], [rles[0]], [0])[0][0])
        if iou > threshold:
            other = table.instances[back].id
            message = f"mask IoU {iou:.3f} with instance {other} of the same class"
            findings.append(_finding(table, CheckKind.DUPLICATE, front, iou, message, other=other))
    return findings


def check_hidden(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Instances every pixel of which is covered by instances drawn in front of them (`core.occlusion`)."""
    findings = []
    for hidden in hidden_instances(table):
        ids = [table.instances[r].id for r in hidden.covering]
        listed = ", ".join(map(str, ids[:5])) + (" ..." if len(ids) > 5 else "")
        message = f"all {hidden.area} px covered by instance{'s' * (len(ids) > 1)} {listed} in front"
        findings.append(_finding(table, CheckKind.HIDDEN, hidden.row, 1.0, message, other=ids[0]))
    return findings


def check_fragments(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Instances with an 8-connected part under `min_fragment_pixels` (or smaller than that in all),
    as "Remove fragments" counts parts; crowd regions are left alone.

    A polygon ring whose area is surely above the limit is one part big enough, so only polygons with a
    possibly small ring, and every mask, are rasterised and labelled.
    """
    limit = options.min_fragment_pixels
    small_ring = np.zeros(len(table), bool)
    small_ring[table.ring_owner[table.ring_low < limit]] = True
    suspects = (~table.is_polygon | small_ring | (table.area_low < limit)) & ~table.crowd
    rows = [r for r in np.flatnonzero(suspects).tolist() if r not in table.broken]
    strings, kept = [], []
    for row in rows:
        rles = _rles(table, [row])
        if rles is not None:
            strings.append(rles[0]["counts"])
            kept.append(row)
    findings = []
    for row, parts in zip(kept, part_sizes(strings, table.heights[kept]), strict=True):
        small = parts[parts < limit]
        if small.size == 0 and parts.size:
            continue
        findings.append(_fragment_finding(table, row, parts, small, limit))
    return findings


def _fragment_finding(table: InstanceTable, row: int, parts, small, limit: int) -> Finding:
    total = int(parts.sum())
    if total == 0:
        return _finding(table, CheckKind.FRAGMENT, row, 1.0, "empty: not one pixel")
    if small.size == parts.size:
        message = f"the whole instance is {total} px (under {limit})"
        return _finding(table, CheckKind.FRAGMENT, row, 1.0 - total / (limit * max(parts.size, 1)), message)
    smallest = int(small.min())
    message = f"{small.size} part{'s' * (small.size > 1)} under {limit} px (smallest {smallest} px)"
    return _finding(table, CheckKind.FRAGMENT, row, 0.5 * (1.0 - smallest / limit), message)


def check_single_use_classes(table: InstanceTable, options: CheckOptions) -> list[Finding]:
    """Classes with exactly one instance: often a typo or a slip of the class picker."""
    classes, first, counts = np.unique(table.category_ids, return_index=True, return_counts=True)
    findings = []
    for category_id, row in zip(classes[counts == 1].tolist(), first[counts == 1].tolist(), strict=True):
        name = table.category_names.get(category_id, "(no such category)")
        message = f"the only instance of class {category_id} {name!r}"
        findings.append(_finding(table, CheckKind.SINGLE_USE_CLASS, row, 1.0, message))
    return findings


CHECKS: Mapping[CheckKind, Callable[[InstanceTable, CheckOptions], list[Finding]]] = {
    CheckKind.INVALID: check_invalid,
    CheckKind.OUTSIDE: check_outside,
    CheckKind.DUPLICATE: check_duplicates,
    CheckKind.HIDDEN: check_hidden,
    CheckKind.FRAGMENT: check_fragments,
    CheckKind.SINGLE_USE_CLASS: check_single_use_classes,
}


# -- helpers ------------------------------------------------------------------------------------------
def _finding(table, kind, row, severity, message, *, other=None, point=None) -> Finding:
    instance = table.instances[row]
    return Finding(kind, instance.image_id, instance.id, float(severity), message, other, point)


def _rles(table: InstanceTable, rows) -> list[dict] | None:
    """RLEs of the rows, or None when one cannot be rasterised (reported by check_invalid)."""
    try:
        return [table.rle(r) for r in rows]
    except GeometryError:
        return None


def _first_ring_of_rows(table: InstanceTable) -> dict[int, int]:
    owner = table.ring_owner
    starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
    return dict(zip(owner[starts].tolist(), starts.tolist(), strict=True))


def suggested_edit(dataset: Dataset, finding: Finding, options: CheckOptions | None = None) -> Edit | None:
    """The usual repair of a finding as one reversible edit, for a "Fix" button: delete a duplicate,
    remove small parts (or the whole tiny instance), bring a hidden instance to the front, clip a polygon
    to the image. None for what needs a person's judgement (invalid polygons, classes used once)."""
    options = options or CheckOptions()
    instance = dataset.instances.get(finding.instance_id)
    if instance is None:
        return None
    if finding.kind is CheckKind.DUPLICATE:
        return operations.delete([instance], dataset)
    if finding.kind is CheckKind.HIDDEN:
        return operations.bring_to_front(dataset, [instance])
    if finding.kind is CheckKind.FRAGMENT:
        if area(instance.geometry, *_size(dataset, instance)) == 0:
            return operations.delete([instance], dataset)  # nothing to keep (and no part to remove)
        edit = operations.remove_small_fragments(dataset, instance, options.min_fragment_pixels)
        if edit is not None and area(edit.new[0].geometry, *_size(dataset, instance)) == 0:
            return operations.delete([instance], dataset)
        return edit
    if finding.kind is CheckKind.OUTSIDE and isinstance(instance.geometry, Polygons):
        height, width = _size(dataset, instance)
        inside = instance.geometry.clipped(height, width)
        clipped = None if inside is None else Polygons(tuple(_within(r, width, height) for r in inside.rings))
        if clipped is None:
            return operations.delete([instance], dataset)
        return edits.ReplaceInstances(
            (instance,), (operations.edited(instance, geometry=clipped),), text="Clip"
        )
    return None


def _size(dataset: Dataset, instance: Instance) -> tuple[int, int]:
    image = dataset.images[instance.image_id]
    return image.height, image.width


def _within(ring: np.ndarray, width: int, height: int) -> np.ndarray:
    """`Polygons.clipped` keeps a pixel of margin; a clipped outline ends at the border itself."""
    return np.column_stack([np.clip(ring[:, 0], 0, width), np.clip(ring[:, 1], 0, height)])
