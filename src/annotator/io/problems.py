"""Collect what an importer skipped or changed, so a user sees it without a flood of identical lines."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

_SHOWN_ITEMS = 3  # a reason shared by more items than this is summarised on one line
# Every export leaves out an instance of area 0 with this note: COCO readers and torchvision's training
# reject a box [0, 0, 0, 0], and LabelMe, YOLO and panoptic cannot draw nothing.
NO_PIXELS = "covers no pixels (area 0); not exported"


class Problems:
    """Problems found while reading one file: `add(item, reason)`, then `lines()`.

    Reasons that repeat (for example "no segmentation: kept as a polygon of its bbox" on 10,000
    annotations) become one line with a count and the first few items.
    """

    def __init__(self) -> None:
        self._by_reason: dict[str, list[str]] = defaultdict(list)

    def add(self, item: str | None, reason: str) -> None:
        self._by_reason[reason].append(item or "")

    def __len__(self) -> int:
        return sum(len(items) for items in self._by_reason.values())

    def lines(self) -> list[str]:
        out: list[str] = []
        for reason, items in self._by_reason.items():
            if len(items) <= _SHOWN_ITEMS:
                out.extend(f"{item}: {reason}" if item else reason for item in items)
            else:
                shown = ", ".join(items[:_SHOWN_ITEMS])
                out.append(f"{len(items)} items: {reason} ({shown}, ...)")
        return out


@dataclass(frozen=True)
class Written:
    """What an export wrote: how many instances it holds (those it left out, hidden or could not
    draw are not counted), and one line for each thing it left out or changed."""

    instances: int
    notes: list[str]
