"""Change class (C): a searchable list of the classes, numbered as the 1-9 keys pick them, that also makes
a new class from a name that is not in it yet.

Typing filters the list; Enter takes the class the text begins (autocomplete) or is the id of, and
otherwise creates a class under the typed name (the last row says so). The first shape of a project
without classes opens it with only that row: "type a class name".
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from annotator.core.colors import category_rgb
from annotator.core.model import Dataset

_ID = Qt.ItemDataRole.UserRole
NEW_CLASS_PROMPT = "type a class name"


def _swatch(rgb) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ClassPicker(QDialog):
    """Type to filter by name (or id), arrows to move, Enter to choose or to create the typed class."""

    def __init__(
        self,
        dataset: Dataset,
        ordered: list[int],
        current: int | None,
        parent=None,
        *,
        title: str = "Change class",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.search = QLineEdit(clearButtonEnabled=True)
        self.search.setPlaceholderText(
            "Search, or type a new class name…" if ordered else f"{NEW_CLASS_PROMPT.capitalize()}…"
        )
        self.list = QListWidget()
        self._rows: dict[int, QListWidgetItem] = {}
        for number, category_id in enumerate(ordered, start=1):
            category = dataset.categories[category_id]
            key = f"{number}  " if number <= 9 else "   "
            row = QListWidgetItem(_swatch(category_rgb(category, category_id)), f"{key}{category.name}")
            row.setData(_ID, category_id)
            row.setToolTip(f"id {category_id}")
            self.list.addItem(row)
            self._rows[category_id] = row
            if category_id == current:
                self.list.setCurrentItem(row)
        self._names = {dataset.categories[i].name.casefold(): i for i in ordered}
        self.create_row = QListWidgetItem("")
        font = QFont(self.create_row.font())
        font.setItalic(True)
        self.create_row.setFont(font)
        self.create_row.setHidden(True)
        self.list.addItem(self.create_row)
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
        self.resize(320, 420 if ordered else 160)

    def _filter(self, text: str) -> None:
        text = text.strip()
        wanted = text.casefold()
        by_prefix = by_id = None
        for index in range(self.list.count() - 1):  # the last row is the create row
            row = self.list.item(index)
            name = row.text()[3:].casefold()  # after the key column
            is_id = wanted == str(row.data(_ID))
            row.setHidden(not (wanted in name or is_id))
            if by_prefix is None and wanted and name.startswith(wanted):
                by_prefix = row
            by_id = row if is_id else by_id
        exact = self._names.get(wanted)
        creates = bool(text) and exact is None
        self.create_row.setText(f"+ Create class “{text}”")
        self.create_row.setHidden(not creates)
        # Enter takes the class the text names, is the id of or begins; otherwise it creates the class.
        named = self._rows[exact] if exact is not None else None
        target = by_id or named or by_prefix or (self.create_row if creates else None)
        if target is not None:
            self.list.setCurrentItem(target)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.list.keyPressEvent(event)  # arrows move in the list while typing in the search field
            return
        super().keyPressEvent(event)

    def chosen(self) -> int | None:
        """The existing class chosen (None: none, or a new one: see `new_name`)."""
        row = self.list.currentItem()
        if row is None or row.isHidden() or row is self.create_row:
            return None
        return row.data(_ID)

    def new_name(self) -> str | None:
        """The name of the class to create, when the create row is chosen."""
        row = self.list.currentItem()
        if row is self.create_row and not row.isHidden():
            return self.search.text().strip()
        return None
