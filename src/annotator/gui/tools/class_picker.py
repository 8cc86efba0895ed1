"""Change class (C): a searchable list of the classes, numbered as the 1-9 keys pick them, that also makes
a new class from a name that is not in it yet.

Typing filters the list; Enter takes the class the text begins (autocomplete) or is the id of, and
otherwise creates a class under the typed name (the last row says so). The first shape of a project
without classes opens it with only that row: "type a class name", or, when a loaded model's classes are
offered (box to mask), with those classes too: choosing one makes it, under the model's id.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from annotator.core.colors import category_rgb
from annotator.core.model import Category, Dataset

_ID = Qt.ItemDataRole.UserRole
_OFFERED = Qt.ItemDataRole.UserRole + 1  # an offered class not in the project yet (a model's)
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
        offered: Sequence[Category] = (),
    ) -> None:
        """`offered`: classes to offer beside the project's (a loaded model's); those the project has by
        name are left out."""
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
        self._names = {dataset.categories[i].name.casefold(): self._rows[i] for i in ordered}
        self._offered: dict[int, Category] = {}
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
        self.offer(offered)

    def offer(self, offered: Sequence[Category]) -> None:
        """Offer these classes too (a model's, once it has loaded), but those the project or the list
        already has by name; in a project without classes the first is chosen until the person types."""
        new = [c for c in offered if c.name.strip() and c.name.casefold() not in self._names]
        if not new:
            return
        for category in new:
            row = QListWidgetItem(_swatch(category_rgb(category, category.id)), f"   {category.name}")
            row.setData(_OFFERED, category.id)
            row.setToolTip(f"the model's class (id {category.id}): choosing it adds it to the project")
            self.list.insertItem(self.list.row(self.create_row), row)
            self._offered[category.id] = category
            self._names[category.name.casefold()] = row
        self.search.setPlaceholderText("Search, or type a new class name…")
        self.resize(self.width(), max(self.height(), 420))
        if self.search.text():
            self._filter(self.search.text())
        elif not self._rows:
            self.list.setCurrentRow(0)

    def _filter(self, text: str) -> None:
        text = text.strip()
        wanted = text.casefold()
        by_prefix = by_id = None
        for index in range(self.list.count() - 1):  # the last row is the create row
            row = self.list.item(index)
            name = row.text()[3:].casefold()  # after the key column
            is_id = wanted == str(row.data(_ID) if row.data(_ID) is not None else row.data(_OFFERED))
            row.setHidden(not (wanted in name or is_id))
            if by_prefix is None and wanted and name.startswith(wanted):
                by_prefix = row
            by_id = row if is_id else by_id
        exact = self._names.get(wanted)
        creates = bool(text) and exact is None
        self.create_row.setText(f"+ Create class “{text}”")
        self.create_row.setHidden(not creates)
        # Enter takes the class the text names, is the id of or begins; otherwise it creates the class.
        target = by_id or exact or by_prefix or (self.create_row if creates else None)
        if target is not None:
            self.list.setCurrentItem(target)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.list.keyPressEvent(event)  # arrows move in the list while typing in the search field
            return
        super().keyPressEvent(event)

    def chosen(self) -> int | None:
        """The existing class chosen (None: none, or a new one: see `new_name` and `chosen_offered`)."""
        row = self.list.currentItem()
        if row is None or row.isHidden() or row is self.create_row:
            return None
        return row.data(_ID)

    def chosen_offered(self) -> Category | None:
        """The offered class chosen (the project does not have it yet)."""
        row = self.list.currentItem()
        if row is None or row.isHidden() or row.data(_OFFERED) is None:
            return None
        return self._offered[row.data(_OFFERED)]

    def new_name(self) -> str | None:
        """The name of the class to create, when the create row is chosen."""
        row = self.list.currentItem()
        if row is self.create_row and not row.isHidden():
            return self.search.text().strip()
        return None
