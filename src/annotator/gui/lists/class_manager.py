"""What the class dock's buttons, menu and drags do: ask what is needed (a name, a colour, a class to merge
into, what becomes of a deleted class's instances) and push one `core.classes` edit through the editor,
so every class change is one undo step, saved like any edit."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QInputDialog, QMessageBox, QWidget

from annotator.core import classes
from annotator.core.colors import category_rgb
from annotator.core.edits import Edit
from annotator.core.wording import counted
from annotator.gui.lists.classes import ClassListDock


class ClassManager(QObject):
    """Connects a ClassListDock to the editor (its undo stack and current class)."""

    def __init__(self, dock: ClassListDock, editor, parent: QWidget) -> None:
        super().__init__(parent)
        self.dock, self.editor, self.parent_widget = dock, editor, parent
        dock.add_requested.connect(self.ask_add)
        dock.rename_requested.connect(self.ask_rename)
        dock.recolour_requested.connect(self.ask_colour)
        dock.merge_requested.connect(self.ask_merge)
        dock.delete_requested.connect(self.ask_delete)
        dock.order_changed.connect(self.reorder)
        editor.category_changed.connect(dock.set_current_class)
        dock.set_current_class(editor.current_category)

    @property
    def dataset(self):
        return self.editor.dataset

    def _push(self, make) -> bool:
        """Push the edit `make()` returns; a refused change (an empty or taken name) is explained."""
        try:
            edit: Edit | None = make()
        except classes.ClassError as error:
            QMessageBox.warning(self.parent_widget, "Classes", str(error))
            return False
        self.editor.push(edit)
        return edit is not None

    def _name(self, category_id: int) -> str:
        return self.dataset.categories[category_id].name

    # -- the changes, without asking (the dialogs below end in these) ------------------------------
    def add(self, name: str) -> int | None:
        """A new class, which new shapes then get."""
        if self.dataset is None or not self._push(lambda: classes.add(self.dataset, name)):
            return None
        category_id = classes.find_by_name(self.dataset, name).id
        self.editor.set_category(category_id)
        return category_id

    def rename(self, category_id: int, name: str) -> bool:
        return self._push(lambda: classes.rename(self.dataset, category_id, name))

    def recolour(self, category_id: int, rgb: tuple[int, int, int]) -> bool:
        return self._push(lambda: classes.recolour(self.dataset, category_id, rgb))

    def reorder(self, order: list[int]) -> bool:
        return self.dataset is not None and self._push(lambda: classes.reorder(self.dataset, order))

    def merge(self, source_id: int, target_id: int) -> bool:
        return self._push(lambda: classes.merge(self.dataset, source_id, target_id))

    def delete(self, category_id: int, *, move_to: int | None = None) -> bool:
        return self._push(lambda: classes.delete(self.dataset, category_id, move_to=move_to))

    # -- asking -----------------------------------------------------------------------------------
    def ask_add(self) -> None:
        if self.dataset is None:
            return
        name, ok = QInputDialog.getText(self.parent_widget, "Add class", "Name of the new class:")
        if ok and name.strip():
            self.add(name)

    def ask_rename(self, category_id: int) -> None:
        old = self._name(category_id)
        name, ok = QInputDialog.getText(
            self.parent_widget, "Rename class", f"New name for {old} (id {category_id} stays):", text=old
        )
        if ok:
            self.rename(category_id, name)

    def ask_colour(self, category_id: int) -> None:
        category = self.dataset.categories[category_id]
        color = QColorDialog.getColor(
            QColor(*category_rgb(category, category_id)), self.parent_widget, f"Colour of {category.name}"
        )
        if color.isValid():
            self.recolour(category_id, (color.red(), color.green(), color.blue()))

    def ask_merge(self, category_id: int) -> None:
        name = self._name(category_id)
        target = self._ask_other_class(
            category_id, "Merge class", f"Merge {name} into (its instances become that class's):"
        )
        if target is not None:
            self.merge(category_id, target)

    def ask_delete(self, category_id: int) -> None:
        """An unused class just goes (Ctrl+Z brings it back); for one in use, ask what happens to its
        instances: deleted with it, or moved to another class."""
        name, used = self._name(category_id), len(classes.instances_of_class(self.dataset, category_id))
        if not used:
            self.delete(category_id)
            return
        box = QMessageBox(self.parent_widget)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Delete class")
        them = "it" if used == 1 else "them"
        box.setText(f"Class {name} has {counted(used, 'instance')}. What should happen to {them}?")
        box.setInformativeText("Either way, Ctrl+Z undoes it.")
        delete_them = box.addButton(
            f"Delete {'the instance' if used == 1 else f'the {used} instances'}",
            QMessageBox.ButtonRole.DestructiveRole,
        )
        move_them = box.addButton("Move them to another class…", QMessageBox.ButtonRole.AcceptRole)
        move_them.setEnabled(len(self.dataset.categories) > 1)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is delete_them:
            self.delete(category_id)
        elif box.clickedButton() is move_them:
            target = self._ask_other_class(category_id, "Delete class", f"Move the instances of {name} to:")
            if target is not None:
                self.delete(category_id, move_to=target)

    def _ask_other_class(self, category_id: int, title: str, label: str) -> int | None:
        others = [i for i in classes.ordered_ids(self.dataset) if i != category_id]
        if not others:
            QMessageBox.information(self.parent_widget, title, "There is no other class.")
            return None
        names = [self._name(i) for i in others]
        name, ok = QInputDialog.getItem(self.parent_widget, title, label, names, 0, False)
        return others[names.index(name)] if ok and name in names else None
