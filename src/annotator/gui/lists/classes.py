"""The class dock: the classes with their colours, counts on this image and a visibility tick each."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Dataset
from annotator.core.session import Session
from annotator.gui.canvas.items import instance_color
from annotator.gui.lists.swatch import swatch


class ClassListDock(QDockWidget):
    """Classes with their colours and a visibility checkbox each (the session's hidden classes)."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("Classes", parent)
        self.setObjectName("classes_dock")
        self.session = session
        self.list = QListWidget()
        # A COCO file brings 80 classes; most have nothing in the image at hand.
        self.hide_empty = QCheckBox("Only classes in this image", checked=True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.hide_empty)
        layout.addWidget(self.list)
        self.list.setMinimumHeight(40)  # the window's smallest height stays what it was
        self.setWidget(body)
        self._filling = False
        self.list.itemChanged.connect(self._on_item_changed)
        self.hide_empty.toggled.connect(self._apply_filter)

    def refresh(self) -> None:
        dataset, image_id = self.session.dataset, self.session.image_id
        counts = Counter()
        if dataset is not None and image_id is not None:
            counts = Counter(instance.category_id for instance in dataset.instances_of(image_id))
        self.show_classes(dataset, self.session.hidden_categories, counts)

    def show_classes(self, dataset: Dataset | None, hidden: frozenset[int], counts: dict[int, int]) -> None:
        self._filling = True
        self.list.clear()
        categories = [] if dataset is None else list(dataset.categories.values())
        categories.sort(key=lambda c: (counts.get(c.id, 0) == 0, c.id))  # classes in this image first
        for category in categories:
            count = counts.get(category.id, 0)
            row = QListWidgetItem(
                swatch(instance_color(category, category.id)), f"{category.name}  ({count})"
            )
            row.setData(Qt.ItemDataRole.UserRole, category.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(Qt.CheckState.Unchecked if category.id in hidden else Qt.CheckState.Checked)
            row.setToolTip(
                f"id {category.id}" + (f", {category.supercategory}" if category.supercategory else "")
            )
            if not count:
                row.setForeground(self.list.palette().placeholderText())
            row.setData(Qt.ItemDataRole.UserRole + 1, count)
            self.list.addItem(row)
        self._filling = False
        self._apply_filter()

    def _apply_filter(self) -> None:
        hide = self.hide_empty.isChecked()
        for index in range(self.list.count()):
            row = self.list.item(index)
            row.setHidden(hide and not row.data(Qt.ItemDataRole.UserRole + 1))

    def _on_item_changed(self, row: QListWidgetItem) -> None:
        if not self._filling:
            hidden = row.checkState() != Qt.CheckState.Checked
            self.session.set_category_hidden(row.data(Qt.ItemDataRole.UserRole), hidden)
