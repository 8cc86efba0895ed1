"""Change class: a searchable list of the classes, numbered as the 1-9 keys pick them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from annotator.core.colors import category_color
from annotator.core.model import Dataset


def _swatch(rgb) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ClassPicker(QDialog):
    """Type to filter by name (or id), arrows to move, Enter to choose."""

    def __init__(self, dataset: Dataset, ordered: list[int], current: int | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change class")
        self.search = QLineEdit(placeholderText="Search classes…", clearButtonEnabled=True)
        self.list = QListWidget()
        for number, category_id in enumerate(ordered, start=1):
            category = dataset.categories[category_id]
            key = f"{number}  " if number <= 9 else "   "
            row = QListWidgetItem(
                _swatch(category.color or category_color(category_id)), f"{key}{category.name}"
            )
            row.setData(Qt.ItemDataRole.UserRole, category_id)
            row.setToolTip(f"id {category_id}")
            self.list.addItem(row)
            if category_id == current:
                self.list.setCurrentItem(row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self.accept)
        self.list.itemDoubleClicked.connect(lambda _row: self.accept())
        self.search.setFocus()
        self.resize(320, 420)

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        first = None
        for index in range(self.list.count()):
            row = self.list.item(index)
            shown = text in row.text().lower() or text == str(row.data(Qt.ItemDataRole.UserRole))
            row.setHidden(not shown)
            if shown and first is None:
                first = row
        if first is not None and (self.list.currentItem() is None or self.list.currentItem().isHidden()):
            self.list.setCurrentItem(first)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.list.keyPressEvent(event)  # arrows move in the list while typing in the search field
            return
        super().keyPressEvent(event)

    def chosen(self) -> int | None:
        row = self.list.currentItem()
        return None if row is None or row.isHidden() else row.data(Qt.ItemDataRole.UserRole)
