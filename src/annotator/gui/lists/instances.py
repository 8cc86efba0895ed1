"""The instance list dock: the current image's instances, front first, with a visibility tick each."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QTreeWidget,
    QTreeWidgetItem,
)

from annotator.core.model import Review
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.core.statistics import Origin
from annotator.gui.canvas.items import instance_color
from annotator.gui.lists.repaint import repaint_rows
from annotator.gui.lists.swatch import swatch


class InstanceListDock(QDockWidget):
    """The current image's instances, front first: class, source (a prediction's review state, or a
    person's label: "drawn or imported", as Statistics says), score, and a visibility checkbox.

    It shows the session's image and selection; ticking and choosing rows changes the session."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("Instances", parent)
        self.setObjectName("instances_dock")
        self.session = session
        self.tree = QTreeWidget(rootIsDecorated=False, uniformRowHeights=True, alternatingRowColors=True)
        self.tree.setHeaderLabels(["Class", "Source", "Score", "Id"])
        header = self.tree.header()  # the class names whole, first; the id gets the width left
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, header.ResizeMode.Stretch)
        header.setMinimumSectionSize(24)
        header.setStretchLastSection(False)  # its width would not go under its first one: Stretch instead
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # a cut id shows its last digits: predictions' long ids (902800549976) differ only there (it
        # scrolled out of the panel, and every prediction read "902800")
        self.tree.setTextElideMode(Qt.TextElideMode.ElideLeft)
        self.setWidget(self.tree)
        self._rows: dict[int, QTreeWidgetItem] = {}
        self._filling = False
        self.tree.itemChanged.connect(self._on_item_changed)
        # several rows, as on the canvas (Shift+ or Ctrl+click): with two instances selected there, the
        # list showed one
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.itemSelectionChanged.connect(self._on_rows_chosen)
        session.subscribe(self._on_session)

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.SELECTION:
            self.show_selection()

    def refresh(self) -> None:
        """Refill from the session's image (and its visibility state)."""
        self._filling = True
        self.tree.clear()
        self._rows.clear()
        dataset, image_id = self.session.dataset, self.session.image_id
        instances = [] if dataset is None or image_id is None else dataset.instances_of(image_id)
        for instance in reversed(instances):
            category = dataset.categories.get(instance.category_id)
            # a prediction by its review state ("model · unreviewed" left the class a few pixels)
            source = instance.review.value if instance.source.is_model else Origin.HAND_DRAWN.value
            if instance.iscrowd:
                source += " · crowd"  # a region of many objects (COCO iscrowd), not one
            score = "" if instance.score is None else f"{instance.score:.2f}"
            name = category.name if category is not None else str(instance.category_id)
            row = QTreeWidgetItem([name, source, score, str(instance.id)])
            row.setToolTip(3, f"instance {instance.id}")  # the column shows a long id's last digits
            if instance.source.is_model:
                row.setToolTip(
                    1, f"predicted by {instance.source.model or 'a model'}, {instance.review.value}"
                )
            else:
                row.setToolTip(1, "a person's label: drawn here, or read from a file")
            row.setIcon(0, swatch(instance_color(category, instance.category_id)))
            row.setData(0, Qt.ItemDataRole.UserRole, instance.id)
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            hidden = instance.id in self.session.hidden_instances
            row.setCheckState(0, Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked)
            self.tree.addTopLevelItem(row)
            self._rows[instance.id] = row
        rejected = sum(instance.review is Review.REJECTED for instance in instances)
        self.setWindowTitle(f"Instances ({len(instances)}" + (f", {rejected} rejected)" if rejected else ")"))
        self._filling = False
        self.show_selection()
        repaint_rows(self.tree)

    def show_selection(self) -> None:
        """The session's selection: its rows chosen, the primary instance's the current one."""
        self._filling = True
        primary = self._rows.get(self.session.selected_id)
        if primary is not self.tree.currentItem():
            self.tree.setCurrentItem(primary)
        chosen = {self._rows[i] for i in self.session.selection if i in self._rows}
        for row in self._rows.values():
            if row.isSelected() != (row in chosen):
                row.setSelected(row in chosen)
        self._filling = False

    def _on_item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        if not self._filling and column == 0:
            instance_id = row.data(0, Qt.ItemDataRole.UserRole)
            self.session.set_instance_hidden(instance_id, row.checkState(0) != Qt.CheckState.Checked)

    def _on_rows_chosen(self) -> None:
        """Rows chosen by the person (a click, Ctrl/Shift+click, the arrow keys): the selection, the
        current row's instance first."""
        if self._filling:
            return
        ids = [row.data(0, Qt.ItemDataRole.UserRole) for row in self.tree.selectedItems()]
        if not ids:
            self.session.select(None)
            return
        current = self.tree.currentItem()
        primary = (
            current.data(0, Qt.ItemDataRole.UserRole)
            if current is not None and current.isSelected()
            else ids[0]
        )
        self.session.select(primary, extra=[i for i in ids if i != primary])
