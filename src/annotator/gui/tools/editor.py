"""The editor: the active tool, the current class, the brush size, the clipboard and the undo history of
one canvas, and the instance operations the menus offer; the selection is the session's.

Every change goes through `push`, which puts the edit on the undo stack (whose first redo applies it);
the project store saves what the dataset then reports, so nothing here saves anything itself.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal, SignalInstance

from annotator.core import classes, operations, shape_edit
from annotator.core.edits import Edit
from annotator.core.model import Category, Change, ChangeKind, Dataset, Image, Instance
from annotator.core.region import Region
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.core.wording import counted
from annotator.gui.canvas.render import rings_path
from annotator.gui.tools.base import Tool, ToolKind
from annotator.gui.tools.box_segment import BoxSegmentTool
from annotator.gui.tools.brush import MAX_RADIUS, MIN_RADIUS, BrushTool, EraserTool
from annotator.gui.tools.polygon import PolygonTool
from annotator.gui.tools.previews import outline_item
from annotator.gui.tools.rectangle import RectangleTool
from annotator.gui.tools.select import SelectTool
from annotator.gui.undo import UndoHistory
from annotator.io.errors import DatasetError

CURRENT_CLASS_KEY = "current_class"  # the project's setting: the class new shapes get
TOOL_CLASSES = (SelectTool, PolygonTool, RectangleTool, BrushTool, EraserTool, BoxSegmentTool)


class Editor(QObject):
    tool_changed = Signal(str)
    radius_changed = Signal(float)
    category_changed = Signal(object)  # current class id (or None)
    classes_changed = Signal()  # a class was added, renamed, recoloured, moved or removed
    message = Signal(str)  # why an operation did nothing, for the status bar

    def __init__(self, session: Session, canvas, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.canvas = canvas
        self.history = UndoHistory(self)
        self.dataset: Dataset | None = None
        self.tools: dict[ToolKind, Tool] = {cls.kind: cls(self) for cls in TOOL_CLASSES}
        self.tool: Tool | None = None
        self.brush_radius = 8.0
        self.current_category: int | None = None
        # Asks the person for a class (None: cancelled): a name, or one of the classes offered (a model's,
        # and those a signal offers while it asks); set by the window, used when a shape is drawn in a
        # project that has no class yet.
        self.ask_class_name: (
            Callable[[Sequence[Category], SignalInstance | None], str | Category | None] | None
        ) = None
        self.clipboard: tuple[Instance, ...] = ()
        self.box_model = None  # box to mask with the model (gui.prelabel.box_model), when the window has one
        self._extra_marks: list = []
        session.subscribe(self._on_session)
        canvas.zoom_changed.connect(lambda _scale: self._tool_refresh())
        self.set_tool(ToolKind.SELECT)
        self._follow_document()

    # -- the session ------------------------------------------------------------------------------
    def _on_session(self, change: SessionChange) -> None:
        if change.kind in (SessionEvent.LEAVING, SessionEvent.CLOSING):
            if self.tool is not None:
                self.tool.keep()  # a half-drawn polygon is not lost to a key that shows the next image
        elif change.kind is SessionEvent.DOCUMENT:
            self._follow_document()
        elif change.kind is SessionEvent.IMAGE:
            self.cancel()  # a gesture begun on the last image ends without an edit
            self._refresh_marks()
        elif change.kind is SessionEvent.SELECTION:
            self._refresh_marks()
            self._tool_refresh()
        elif change.kind is SessionEvent.VISIBILITY:
            self._tool_refresh()

    def _follow_document(self) -> None:
        if self.dataset is not None:
            self.dataset.unsubscribe(self._on_change)
        self.cancel()
        dataset = self.session.dataset
        self.dataset = dataset
        self.history.set_dataset(dataset)
        self.clipboard = ()
        if dataset is not None:
            dataset.subscribe(self._on_change)
        ordered = self.ordered_categories()
        last = self._remembered_class()
        self.set_category(last if last in ordered else ordered[0] if ordered else None, remember=False)
        self.classes_changed.emit()

    @property
    def image(self) -> Image | None:
        return self.session.image

    def push(self, edit: Edit | None) -> None:
        if edit is not None:
            self.history.push(edit)

    def cancel(self) -> None:
        if self.tool is not None:
            self.tool.cancel()

    def _on_change(self, change: Change) -> None:
        if change.kind in (ChangeKind.INSTANCES_CHANGED, ChangeKind.INSTANCES_REMOVED):
            busy = self.tool is not None and self.tool.busy
            if busy and any(i.image_id == self.session.image_id for i in change.items):
                self.tool.cancel()  # an undo or another edit under a drag: its start is stale
            self._refresh_marks()
        if change.kind is ChangeKind.CATEGORIES_CHANGED:  # e.g. the first class, made by a first drawing
            self.set_category(self._category_still_there())
            self.classes_changed.emit()
        self._tool_refresh()

    def _category_still_there(self) -> int | None:
        """The current class; if it went (deleted, or its creation undone), the selected instance's,
        else the first in the person's order."""
        categories = self.dataset.categories
        for candidate in (self.current_category, getattr(self.selected_instance, "category_id", None)):
            if candidate in categories:
                return candidate
        return next(iter(self.ordered_categories()), None)

    def _tool_refresh(self) -> None:
        if self.tool is not None:
            self.tool.document_changed()

    # -- tools and settings -----------------------------------------------------------------------
    def set_tool(self, kind: ToolKind) -> None:
        tool = self.tools[ToolKind(kind)]
        if tool is self.tool:
            return
        if self.tool is not None:
            self.tool.deactivate()
        self.tool = tool
        self.canvas.tool = tool
        tool.activate()
        self.tool_changed.emit(tool.kind.value)

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = min(MAX_RADIUS, max(MIN_RADIUS, float(radius)))
        for tool in self.tools.values():
            if isinstance(tool, BrushTool):
                tool.radius_changed()
        self.radius_changed.emit(self.brush_radius)

    def grow_brush(self, factor: float) -> None:
        """[ and ]: by a factor, and by at least one pixel so small brushes change too."""
        r = self.brush_radius
        self.set_brush_radius(max(r * factor, r + 1) if factor > 1 else min(r * factor, r - 1))

    def set_category(self, category_id: int | None, *, remember: bool = True) -> None:
        if remember and category_id != self.current_category and category_id is not None:
            self._remember_class(category_id)
        self.current_category = category_id
        self.category_changed.emit(category_id)

    def _remember_class(self, category_id: int) -> None:
        """The class new shapes get is the project's: reopened, it is the one chosen last."""
        store = getattr(self.session.document, "store", None)
        if store is not None:
            with contextlib.suppress(DatasetError, sqlite3.Error):
                store.set_meta(CURRENT_CLASS_KEY, str(category_id))

    def _remembered_class(self) -> int | None:
        store = getattr(self.session.document, "store", None)
        try:
            value = store.meta(CURRENT_CLASS_KEY) if store is not None else None
            return int(value) if value else None
        except (DatasetError, sqlite3.Error, ValueError):
            return None

    def ordered_categories(self) -> list[int]:
        """Class ids in the person's order, the order number keys pick them in: 1 is the first."""
        return classes.ordered_ids(self.dataset) if self.dataset is not None else []

    def class_for_new_shape(
        self, offered: Sequence[Category] = (), more: SignalInstance | None = None
    ) -> shape_edit.ClassChoice | None:
        """The current class; in a project without one, the name the person types for it or the class
        they choose of those `offered` (a loaded model's) or that `more` offers while they choose (the
        model's, once loaded); the shape and the new class then make one undo step. None: cancelled, and
        the shape is dropped."""
        if self.dataset is None:
            return None
        if self.current_category in self.dataset.categories:
            return self.current_category
        answer = self.ask_class_name(offered, more) if self.ask_class_name is not None else None
        if isinstance(answer, Category):
            return answer
        if not answer or not answer.strip():
            self.message.emit("No class given: the shape was not kept")
            return None
        return answer.strip()

    def create_class(self, name: str) -> int | None:
        """A new class that the selection (if any) and new shapes get, in one undo step; None (and a
        message) if the name is empty or taken."""
        if self.dataset is None:
            return None
        instances = self.selected_instances
        try:
            edit = classes.add_and_assign(self.dataset, name, instances)
        except classes.ClassError as error:
            self.message.emit(str(error))
            return None
        self.push(edit)
        category_id = classes.find_by_name(self.dataset, name).id
        self.set_category(category_id)
        return category_id

    # -- selection (the session's) ----------------------------------------------------------------
    @property
    def selected_instance(self) -> Instance | None:
        return self.session.selected_instance

    @property
    def selected_ids(self) -> list[int]:
        return list(self.session.selection)

    @property
    def selected_instances(self) -> list[Instance]:
        return self.session.selected_instances

    def select(self, instance_id: int | None, *, extra: list[int] | None = None) -> None:
        self.session.select(instance_id, extra=extra or ())

    def toggle_selected(self, instance_id: int | None) -> None:
        """Shift+click: add the instance to the selection or take it out."""
        if instance_id is not None:
            self.session.toggle_selected(instance_id)

    def _refresh_marks(self) -> None:
        """Dashed outlines of the selected instances after the first (the canvas marks the first)."""
        for item in self._extra_marks:
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._extra_marks.clear()
        image = self.image
        if image is None:
            return
        for instance in self.selected_instances[1:]:
            outline = Region(instance.geometry, image.height, image.width).outline
            mark = outline_item(rings_path(outline), dashed=True)
            self.canvas.scene().addItem(mark)
            self._extra_marks.append(mark)

    # -- instance operations ----------------------------------------------------------------------
    def _need_selection(self, count: int = 1) -> list[Instance] | None:
        instances = self.selected_instances
        if len(instances) < count:
            self.message.emit(
                "Select an instance first" if count == 1 else f"Select {count} or more instances"
            )
            return None
        return instances

    def delete_selected(self) -> None:
        instances = self._need_selection()
        if instances:
            self.select(None)
            self.push(operations.delete(instances, self.dataset))

    def change_class(self, category_id: int) -> None:
        """The selection gets this class; new shapes get it too."""
        self.set_category(category_id)
        instances = [i for i in self.selected_instances if i.category_id != category_id]
        if instances:
            self.push(operations.change_class(instances, category_id))

    def class_by_number(self, number: int) -> None:
        ordered = self.ordered_categories()
        if 1 <= number <= len(ordered):
            self.change_class(ordered[number - 1])

    def split(self) -> None:
        instances = self._need_selection()
        if instances:
            edit = operations.split(self.dataset, instances[0])
            if edit is None:
                self.message.emit("This instance has only one part")
            self.push(edit)

    def merge(self) -> None:
        instances = self._need_selection(2)
        if instances:
            self.push(operations.merge(self.dataset, instances))
            self.select(instances[0].id)

    def copy(self) -> None:
        instances = self._need_selection()
        if instances:
            self.clipboard = tuple(instances)
            self.message.emit(f"Copied {counted(len(instances), 'instance')}")

    def paste(self) -> None:
        image_id = self.session.image_id
        if not self.clipboard or self.dataset is None or image_id is None:
            return
        edit = shape_edit.paste(self.dataset, self.clipboard, image_id)
        self.push(edit)
        if edit is not None:
            ids = [i.id for i in edit.instances]
            self.select(ids[-1], extra=ids[:-1])

    def bring_to_front(self) -> None:
        instances = self._need_selection()
        if instances:
            self.push(operations.bring_to_front(self.dataset, instances))

    def send_to_back(self) -> None:
        instances = self._need_selection()
        if instances:
            self.push(operations.send_to_back(self.dataset, instances))

    def simplify(self, tolerance: float) -> None:
        instances = self._need_selection()
        if instances:
            edit = operations.simplify(instances[0], tolerance)
            if edit is None:
                self.message.emit("Nothing to simplify (a mask, or no vertex within the tolerance)")
            self.push(edit)

    def fill_holes(self) -> None:
        instances = self._need_selection()
        if instances:
            edit = operations.fill_instance_holes(self.dataset, instances[0])
            if edit is None:
                self.message.emit("No holes to fill")
            self.push(edit)

    def remove_fragments(self, min_pixels: int) -> None:
        instances = self._need_selection()
        if instances:
            edit = operations.remove_small_fragments(self.dataset, instances[0], min_pixels)
            if edit is None:
                self.message.emit(f"No fragments smaller than {min_pixels} pixels")
            self.push(edit)
