"""The session: what the window shows and works on, in one Qt-free object every part follows.

It owns the open document, the current image, the selection (one primary instance and any others),
what is hidden (instances, classes, everything, predictions under the score filter), colour overrides
(the comparison's TP / FP colours), the drawing style and the displayed image's brightness, contrast
and gamma. The canvas, the docks, the editor, review, evaluation and pre-labelling subscribe to its
events and never keep copies of this state; napari's `ViewerModel` is the model. `open` switches every part at once, and only after the old document closed:
if it refuses (changes that cannot be saved), nothing changes at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from annotator.core.events import EventEmitter
from annotator.core.model import Change, ChangeKind, Dataset, Image, Instance
from annotator.core.rules import is_unreviewed_prediction


class Document(Protocol):
    """A dataset and where its images are: a project (saved on every change) or a dataset in memory."""

    dataset: Dataset
    root: Path
    path: Path

    def image_path(self, image: Image) -> Path: ...

    def close(self, *, discard: bool = False) -> None:
        """Release it; raises while edits cannot be saved, unless `discard` (the person chose to)."""


@dataclass
class BareDocument:
    """A dataset with no files behind it (views and benchmarks that draw a dataset made in memory)."""

    dataset: Dataset
    root: Path = Path(".")
    path: Path = Path("untitled")

    def image_path(self, image: Image) -> Path:
        return self.root / image.file_name

    def close(self, *, discard: bool = False) -> None:
        pass


@dataclass(frozen=True)
class ViewStyle:
    """How instances look."""

    opacity: float = 0.5
    show_labels: bool = True
    show_scores: bool = True
    outline_width: float = 2.0


@dataclass(frozen=True)
class ImageAdjust:
    """Brightness, contrast and gamma of the displayed image, for dark photos. View only: the pixels
    the tools, the model and every export see are the file's own.

    Applied to each channel value x in [0, 1]: x ** (1 / gamma) (gamma above 1 lifts the shadows), then
    contrast scales it about mid-grey and brightness is added (a fraction of the full range).
    """

    brightness: float = 0.0  # -1 .. 1
    contrast: float = 1.0  # 0 .. 3
    gamma: float = 1.0  # 0.2 .. 5

    @property
    def identity(self) -> bool:
        return self == ImageAdjust()

    def lut(self) -> np.ndarray:
        """The 256-entry uint8 table this adjustment maps each channel value through."""
        x = np.arange(256, dtype=np.float64) / 255.0
        y = (x ** (1.0 / max(self.gamma, 1e-3)) - 0.5) * self.contrast + 0.5 + self.brightness
        return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Override:
    """Draw an instance in this colour instead of its class's, with a note after its label (the
    comparison with ground truth colours predictions TP / FP and shows the IoU this way)."""

    color: tuple[int, int, int]
    note: str = ""


class SessionEvent(StrEnum):
    CLOSING = "closing"  # the document is about to close: finish and keep work on it (pre-labelling)
    LEAVING = "leaving"  # the image shown is about to change: keep work begun on it (a half-drawn shape)
    DOCUMENT = "document"  # another document (or none) is open; everything below was reset
    IMAGE = "image"
    SELECTION = "selection"
    VISIBILITY = "visibility"  # hidden instances or classes, hide all, the score filter
    STYLE = "style"
    OVERRIDES = "overrides"
    ADJUST = "adjust"  # the image's brightness, contrast or gamma (the instances are not redrawn)


@dataclass(frozen=True)
class SessionChange:
    kind: SessionEvent
    ids: tuple[int, ...] = ()  # VISIBILITY: the instances concerned (empty: any of them)


@dataclass
class Session:
    document: Document | None = None
    image_id: int | None = None
    selection: tuple[int, ...] = ()  # instance ids, the primary one first
    hidden_instances: frozenset[int] = frozenset()
    hidden_categories: frozenset[int] = frozenset()
    all_hidden: bool = False
    min_score: float = 0.0  # unreviewed predictions scoring less are hidden (the review slider)
    overrides: Mapping[int, Override] = field(default_factory=dict)
    style: ViewStyle = field(default_factory=ViewStyle)
    image_adjust: ImageAdjust = field(default_factory=ImageAdjust)
    events: EventEmitter[SessionChange] = field(default_factory=EventEmitter, repr=False)

    # -- subscribing ------------------------------------------------------------------------------
    def subscribe(self, listener) -> None:
        self.events.connect(listener)

    def unsubscribe(self, listener) -> None:
        self.events.disconnect(listener)

    def _emit(self, kind: SessionEvent, ids: Iterable[int] = ()) -> None:
        self.events.emit(SessionChange(kind, tuple(ids)))

    # -- the document -----------------------------------------------------------------------------
    @property
    def dataset(self) -> Dataset | None:
        return None if self.document is None else self.document.dataset

    def open(self, document: Document | None) -> None:
        """Close the open document, then show `document` (None: nothing). If the old one cannot close
        (its store raises: changes it cannot save), the error propagates and nothing has changed."""
        old = self.document
        if document is old:
            return
        if old is not None:
            self._emit(SessionEvent.CLOSING)
            old.close()
            old.dataset.unsubscribe(self._on_change)
        self.document = document
        self.image_id, self.selection = None, ()
        self.hidden_instances, self.hidden_categories = frozenset(), frozenset()
        self.overrides = {}
        if document is not None:
            document.dataset.subscribe(self._on_change)
        self._emit(SessionEvent.DOCUMENT)

    def _on_change(self, change: Change) -> None:
        if change.kind is ChangeKind.INSTANCES_REMOVED and self.selection:
            gone = {instance.id for instance in change.items}
            if gone.intersection(self.selection):
                self._set_selection(tuple(i for i in self.selection if i not in gone))
        elif change.kind is ChangeKind.INSTANCES_CHANGED and self.selection:
            moved = {i.id for i in change.items if i.image_id != self.image_id}
            if moved.intersection(self.selection):
                self._set_selection(tuple(i for i in self.selection if i not in moved))

    # -- the image --------------------------------------------------------------------------------
    @property
    def image(self) -> Image | None:
        dataset = self.dataset
        if dataset is None or self.image_id is None:
            return None
        return dataset.images.get(self.image_id)

    def show_image(self, image_id: int | None) -> None:
        """Show another image; the selection is cleared (it belonged to the last one)."""
        if image_id == self.image_id:
            return
        if image_id is not None and (self.dataset is None or image_id not in self.dataset.images):
            raise KeyError(f"no image {image_id} in the open document")
        if self.image_id is not None:
            self._emit(SessionEvent.LEAVING)
        self.selection = ()
        self.image_id = image_id
        self._emit(SessionEvent.IMAGE)

    # -- the selection ----------------------------------------------------------------------------
    @property
    def selected_id(self) -> int | None:
        return self.selection[0] if self.selection else None

    @property
    def selected_instance(self) -> Instance | None:
        dataset, selected = self.dataset, self.selected_id
        return None if dataset is None or selected is None else dataset.instances.get(selected)

    @property
    def selected_instances(self) -> list[Instance]:
        dataset = self.dataset
        if dataset is None:
            return []
        return [dataset.instances[i] for i in self.selection if i in dataset.instances]

    def select(self, instance_id: int | None, *, extra: Iterable[int] = ()) -> None:
        """Select one instance (None: nothing), and `extra` ones beside it."""
        ids = () if instance_id is None else (instance_id,)
        self._set_selection(ids + tuple(i for i in dict.fromkeys(extra) if i != instance_id))

    def toggle_selected(self, instance_id: int) -> None:
        """Shift+click: add the instance to the selection or take it out."""
        ids = self.selection
        ids = tuple(i for i in ids if i != instance_id) if instance_id in ids else (*ids, instance_id)
        self._set_selection(ids)

    def _set_selection(self, ids: tuple[int, ...]) -> None:
        if ids != self.selection:
            self.selection = ids
            self._emit(SessionEvent.SELECTION)

    # -- what is shown ----------------------------------------------------------------------------
    def shows(self, instance_id: int, category_id: int, pending_score: float | None) -> bool:
        """Whether an instance is drawn: not hidden itself, nor its class, nor all; and, if it is an
        unreviewed prediction (`pending_score` is its score), not under the score filter."""
        return (
            not self.all_hidden
            and instance_id not in self.hidden_instances
            and category_id not in self.hidden_categories
            and (pending_score is None or pending_score >= self.min_score)
        )

    def is_visible(self, instance: Instance) -> bool:
        pending = (instance.score or 0.0) if is_unreviewed_prediction(instance) else None
        return self.shows(instance.id, instance.category_id, pending)

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        if (instance_id in self.hidden_instances) != hidden:
            change = self.hidden_instances.union if hidden else self.hidden_instances.difference
            self.hidden_instances = frozenset(change({instance_id}))
            self._emit(SessionEvent.VISIBILITY, (instance_id,))

    def set_category_hidden(self, category_id: int, hidden: bool) -> None:
        if (category_id in self.hidden_categories) != hidden:
            change = self.hidden_categories.union if hidden else self.hidden_categories.difference
            self.hidden_categories = frozenset(change({category_id}))
            self._emit(SessionEvent.VISIBILITY)

    def set_all_hidden(self, hidden: bool) -> None:
        if hidden != self.all_hidden:
            self.all_hidden = hidden
            self._emit(SessionEvent.VISIBILITY)

    def set_min_score(self, score: float) -> None:
        """Hide unreviewed predictions scoring less than `score`; anything a person judged stays."""
        if score != self.min_score:
            self.min_score = score
            self._emit(SessionEvent.VISIBILITY)

    def set_overrides(self, overrides: Mapping[int, Override]) -> None:
        """Colours (and label notes) that replace the class colour of these instances; {} for none."""
        if dict(overrides) != dict(self.overrides):
            self.overrides = dict(overrides)
            self._emit(SessionEvent.OVERRIDES)

    def set_style(self, style: ViewStyle) -> None:
        if style != self.style:
            self.style = style
            self._emit(SessionEvent.STYLE)

    def set_image_adjust(self, adjust: ImageAdjust) -> None:
        """Brightness, contrast and gamma of the displayed image (kept when another image is shown)."""
        if adjust != self.image_adjust:
            self.image_adjust = adjust
            self._emit(SessionEvent.ADJUST)
