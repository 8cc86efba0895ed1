"""The right-click menu on the canvas: on an instance, it selects that instance and offers what one does
to it (class, delete, bring to front, send to back, accept, reject), as labelme, CVAT and X-AnyLabeling
users expect. Each entry is the same one undoable edit as its menu command or key."""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from annotator.core import review


class InstanceMenu(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.canvas, self.editor = window.canvas, window.editor
        self.menu: QMenu | None = None  # the menu last shown (tests read it)
        self.canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.canvas.customContextMenuRequested.connect(self.show_at)

    def show_at(self, position: QPoint) -> QMenu | None:
        """The menu for the instance under `position` (viewport coordinates), which becomes selected;
        none on empty image or while a tool is in the middle of a gesture."""
        tool = self.editor.tool
        if self.window.session.dataset is None or (tool is not None and tool.busy):
            return None
        instance_id = self.canvas.instance_at(self.canvas.mapToScene(position))
        if instance_id is None:
            return None
        if instance_id not in self.window.session.selection:
            self.editor.select(instance_id)
        self.menu = self._build(instance_id)
        self.menu.popup(self.canvas.viewport().mapToGlobal(position))
        return self.menu

    def _build(self, instance_id: int) -> QMenu:
        dataset, editor = self.window.session.dataset, self.editor
        instance = dataset.instances[instance_id]
        menu = QMenu(self.canvas)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        classes = menu.addMenu("&Class")
        for number, category_id in enumerate(editor.ordered_categories(), start=1):
            name = dataset.categories[category_id].name
            label = f"&{number} {name}\t{number}" if number <= 9 else name
            action = classes.addAction(label, lambda c=category_id: editor.change_class(c))
            action.setCheckable(True)
            action.setChecked(category_id == instance.category_id)
        classes.setEnabled(bool(dataset.categories))
        menu.addSeparator()
        self._add(menu, "&Delete\tDel", editor.delete_selected)
        self._add(menu, "Bring to &front\tCtrl+]", editor.bring_to_front)
        self._add(menu, "Send to &back\tCtrl+[", editor.send_to_back)
        menu.addSeparator()
        prediction = instance.source.is_model
        self._add(menu, "&Accept prediction\tY", lambda: self._judge(review.accept), enabled=prediction)
        self._add(menu, "&Reject prediction\tX", lambda: self._judge(review.reject), enabled=prediction)
        return menu

    def _add(self, menu: QMenu, text: str, slot, *, enabled: bool = True) -> QAction:
        action = menu.addAction(text, slot)
        action.setEnabled(enabled)
        return action

    def _judge(self, make) -> None:
        """Accept or reject the selected predictions where they are (no jump to the next, as Y makes)."""
        chosen = [i for i in self.editor.selected_instances if i.source.is_model]
        if chosen:
            self.editor.push(make(self.window.session.dataset, chosen))

    def action(self, text: str) -> QAction:
        """The entry of the menu last shown whose text starts with `text` (what a user reads)."""
        assert self.menu is not None
        plain = [(a.text().replace("&", ""), a) for a in self.menu.actions()]
        return next(a for label, a in plain if label.startswith(text))
