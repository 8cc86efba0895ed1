"""The class dock: the classes in the person's order with their colours, counts on this image and a
visibility tick each; drag a row to reorder, and buttons, a context menu and double-click to add,
rename, recolour, merge and delete. The dock only asks (signals); `class_manager` makes the edits."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.core.classes import ordered
from annotator.core.model import Dataset
from annotator.core.session import Session
from annotator.gui.canvas.items import instance_color
from annotator.gui.lists.repaint import repaint_rows
from annotator.gui.lists.swatch import swatch

_ID = Qt.ItemDataRole.UserRole
_COUNT = Qt.ItemDataRole.UserRole + 1
# A project with more classes than this opens showing only those in the image (a COCO file brings 80);
# a person's own few classes are all shown, so one just added does not vanish from the list.
MANY_CLASSES = 20


class ClassListDock(QDockWidget):
    """Classes with their colours and a visibility checkbox each (the session's hidden classes)."""

    add_requested = Signal()
    rename_requested = Signal(object)  # class ids are 64-bit: Signal(int) holds 32
    recolour_requested = Signal(object)
    merge_requested = Signal(object)
    delete_requested = Signal(object)
    order_changed = Signal(list)  # every class id, in the order the person dragged them into

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("Classes", parent)
        self.setObjectName("classes_dock")
        self.session = session
        self.current_class: int | None = None  # the class new shapes get: bold, and never filtered out
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # A COCO file brings 80 classes; most have nothing in the image at hand.
        self.hide_empty = QCheckBox("Only classes in this image", checked=True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.hide_empty)
        layout.addWidget(self.list)
        layout.addLayout(self._build_buttons())
        self.list.setMinimumHeight(40)  # the window's smallest height stays what it was
        self.setWidget(body)
        self._filling = False
        self._dataset: Dataset | None = None  # the one the filter's default was chosen for
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda row: self.rename_requested.emit(row.data(_ID)))
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.currentItemChanged.connect(lambda *_: self._enable_buttons())
        self.list.model().rowsMoved.connect(self._rows_moved)
        self.hide_empty.toggled.connect(self._apply_filter)
        self._enable_buttons()

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        for name, text, tip in (
            ("add", "Add…", "Add a class"),
            ("rename", "Rename…", "Rename the class (double-click a row)"),
            ("colour", "Colour…", "Change the class's colour"),
            ("merge", "Merge…", "Merge the class into another: its instances become that class's"),
            ("delete", "Delete…", "Delete the class (asks what happens to its instances)"),
        ):
            button = QToolButton(text=text, toolTip=tip, autoRaise=True)
            button.clicked.connect(lambda _c=False, n=name: self._request(n))
            row.addWidget(button)
            self.buttons[name] = button
        row.addStretch(1)
        return row

    # -- showing ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        dataset, image_id = self.session.dataset, self.session.image_id
        if dataset is not self._dataset:
            self._dataset = dataset
            self.hide_empty.setChecked(dataset is not None and len(dataset.categories) > MANY_CLASSES)
        counts = Counter()
        if dataset is not None and image_id is not None:
            counts = Counter(instance.category_id for instance in dataset.instances_of(image_id))
        self.show_classes(dataset, self.session.hidden_categories, counts)

    def show_classes(self, dataset: Dataset | None, hidden: frozenset[int], counts: dict[int, int]) -> None:
        selected = self.selected_class()
        self._filling = True
        self.list.clear()
        for category in [] if dataset is None else ordered(dataset.categories.values()):
            count = counts.get(category.id, 0)
            row = QListWidgetItem(
                swatch(instance_color(category, category.id)), f"{category.name}  ({count})"
            )
            row.setData(_ID, category.id)
            row.setData(_COUNT, count)
            row.setFlags((row.flags() | Qt.ItemFlag.ItemIsUserCheckable) & ~Qt.ItemFlag.ItemIsDropEnabled)
            row.setCheckState(Qt.CheckState.Unchecked if category.id in hidden else Qt.CheckState.Checked)
            row.setToolTip(
                f"id {category.id}" + (f", {category.supercategory}" if category.supercategory else "")
            )
            if not count:
                row.setForeground(self.list.palette().placeholderText())
            if category.id == self.current_class:
                font = row.font()
                font.setBold(True)
                row.setFont(font)
            self.list.addItem(row)
            if category.id == selected:
                self.list.setCurrentItem(row)
        self._filling = False
        repaint_rows(self.list)
        self._apply_filter()
        self._enable_buttons()

    def set_current_class(self, category_id: int | None) -> None:
        if category_id != self.current_class:
            self.current_class = category_id
            self.refresh()

    def _apply_filter(self) -> None:
        hide = self.hide_empty.isChecked()
        for row in self.rows():
            empty = not row.data(_COUNT) and row.data(_ID) != self.current_class
            row.setHidden(hide and empty)

    # -- reading ----------------------------------------------------------------------------------
    def rows(self) -> list[QListWidgetItem]:
        return [self.list.item(index) for index in range(self.list.count())]

    def row_of(self, category_id: int) -> QListWidgetItem | None:
        return next((row for row in self.rows() if row.data(_ID) == category_id), None)

    def selected_class(self) -> int | None:
        row = self.list.currentItem()
        return None if row is None or row.isHidden() else row.data(_ID)

    # -- asking -----------------------------------------------------------------------------------
    def _enable_buttons(self) -> None:
        chosen = self.selected_class() is not None
        for name, button in self.buttons.items():
            button.setEnabled(name == "add" or chosen)
        self.buttons["add"].setEnabled(self.session.dataset is not None)

    def _request(self, name: str, category_id: int | None = None) -> None:
        if name == "add":
            self.add_requested.emit()
            return
        category_id = self.selected_class() if category_id is None else category_id
        if category_id is not None:
            signal = {
                "rename": self.rename_requested,
                "colour": self.recolour_requested,
                "merge": self.merge_requested,
                "delete": self.delete_requested,
            }[name]
            signal.emit(category_id)

    def _context_menu(self, pos) -> None:
        if self.session.dataset is None:
            return
        row = self.list.itemAt(pos)
        menu = QMenu(self)
        if row is not None:
            category_id = row.data(_ID)
            for name, text in (
                ("rename", "&Rename…"),
                ("colour", "&Colour…"),
                ("merge", "&Merge into…"),
                ("delete", "&Delete…"),
            ):
                menu.addAction(text, lambda n=name: self._request(n, category_id))
            menu.addSeparator()
        menu.addAction("&Add class…", self.add_requested.emit)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _rows_moved(self, *_args) -> None:
        """A row was dragged to another place: the whole order, hidden rows included, is the new one."""
        if not self._filling:
            self.order_changed.emit([row.data(_ID) for row in self.rows()])

    def _on_item_changed(self, row: QListWidgetItem) -> None:
        if not self._filling:
            hidden = row.checkState() != Qt.CheckState.Checked
            self.session.set_category_hidden(row.data(_ID), hidden)
