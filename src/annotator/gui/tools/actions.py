"""Editing in the main window: Edit and Tools menus, instance operations, the tool bar, the undo history
dock and the shortcuts panel. `install_editing(window)` adds them all and returns the `Editor`."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, SignalInstance
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMenu, QSpinBox, QToolButton, QUndoView

from annotator.core.model import Category
from annotator.gui.help_panel import HELP_NAME, HelpPanel
from annotator.gui.lists.class_manager import ClassManager
from annotator.gui.menus import menu_titled
from annotator.gui.tools.base import ToolKind
from annotator.gui.tools.class_picker import NEW_CLASS_PROMPT, ClassPicker
from annotator.gui.tools.editor import Editor

TOOL_ACTIONS = (
    (ToolKind.SELECT, "&Select and edit", "V"),
    (ToolKind.POLYGON, "&Polygon", "P"),
    (ToolKind.RECTANGLE, "&Rectangle", "R"),
    (ToolKind.BRUSH, "&Brush", "B"),
    (ToolKind.ERASER, "&Eraser", "E"),
    (ToolKind.BOX_SEGMENT, "Box to &mask (GrabCut)", "G"),
)


class EditingActions:
    """The actions, kept so tests and the help panel can reach them by name."""

    def __init__(self, window) -> None:
        self.window = window
        self.editor = Editor(window.session, window.canvas, window)
        self.actions: dict[str, QAction] = {}
        self._build_edit_menu()
        self._build_tools()
        self._build_instance_menu()
        self._build_docks()
        editor = self.editor
        editor.message.connect(lambda text: window.statusBar().showMessage(text, 5000))
        editor.tool_changed.connect(lambda kind: self.actions[f"tool_{kind}"].setChecked(True))
        editor.history.replayed.connect(self._show_replayed_image)
        editor.category_changed.connect(lambda _id: self._name_class_actions())
        editor.classes_changed.connect(self._name_class_actions)
        editor.ask_class_name = self.ask_class_name
        self.class_manager = ClassManager(window.classes_dock, editor, window)  # the Classes dock's edits
        self._name_class_actions()
        self.help_panel.fill(window.menuBar())

    def _add(self, menu: QMenu, name: str, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        menu.addAction(action)
        self.window.addAction(action)  # shortcuts work while a dock has focus
        self.actions[name] = action
        return action

    def _build_edit_menu(self) -> None:
        window, editor = self.window, self.editor
        menu = menu_titled(window, "&Edit")
        window.menuBar().insertMenu(window.menuBar().actions()[1], menu)  # after File, as usual
        stack = editor.history.stack
        undo, redo = stack.createUndoAction(window, "&Undo"), stack.createRedoAction(window, "&Redo")
        undo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Undo)])
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for name, action in (("undo", undo), ("redo", redo)):
            action.setProperty(HELP_NAME, name.capitalize())  # its text names the last step, and changes
            menu.addAction(action)
            window.addAction(action)
            self.actions[name] = action
        # said in the status bar, where the step's own "… (Ctrl+Z undoes it)" would otherwise stay
        undo.triggered.connect(lambda: self._say_replayed("Undone", stack.text(stack.index())))
        redo.triggered.connect(lambda: self._say_replayed("Redone", stack.text(stack.index() - 1)))
        menu.addSeparator()
        self._add(menu, "copy", "&Copy instances", editor.copy, QKeySequence.StandardKey.Copy)
        self._add(menu, "paste", "&Paste instances", editor.paste, QKeySequence.StandardKey.Paste)
        self._add(menu, "delete", "&Delete instances", editor.delete_selected, ["Del"])
        menu.addSeparator()
        self._add(menu, "cancel", "Cancel drawing / deselect", self._escape)

    def _build_tools(self) -> None:
        window, editor = self.window, self.editor
        menu = menu_titled(window, "&Tools")
        toolbar = window.addToolBar("Tools")
        toolbar.setObjectName("tools_toolbar")
        group = QActionGroup(window)
        for kind, text, key in TOOL_ACTIONS:
            action = self._add(
                menu, f"tool_{kind.value}", text, lambda _c=False, k=kind: editor.set_tool(k), key
            )
            action.setCheckable(True)
            action.setChecked(editor.tool.kind is kind)
            group.addAction(action)
            toolbar.addAction(action)
        menu.addSeparator()
        self._add(menu, "brush_larger", "&Larger brush", lambda: editor.grow_brush(1.25), "]")
        self._add(menu, "brush_smaller", "S&maller brush", lambda: editor.grow_brush(0.8), "[")
        toolbar.addWidget(QLabel(" Radius "))
        self.radius_box = QSpinBox(minimum=1, maximum=500, suffix=" px")
        self.radius_box.setValue(round(editor.brush_radius))
        self.radius_box.valueChanged.connect(lambda value: editor.set_brush_radius(value))
        editor.radius_changed.connect(self._show_radius)
        toolbar.addWidget(self.radius_box)
        toolbar.addWidget(QLabel(" Class "))
        self.class_label = QToolButton(
            autoRaise=True, toolTip="The class of new shapes: click or C to change"
        )
        self.class_label.clicked.connect(self.choose_class)
        toolbar.addWidget(self.class_label)
        menu.addSeparator()
        classes = menu.addMenu("&Class of new and selected instances")
        for number in range(1, 10):
            self._add(
                classes,
                f"class_{number}",
                f"Class {number}",
                lambda _c=False, n=number: editor.class_by_number(n),
                str(number),
            )

    def _build_instance_menu(self) -> None:
        menu, editor = menu_titled(self.window, "&Instance"), self.editor
        self._add(menu, "bring_to_front", "Bring to &front", editor.bring_to_front, "Ctrl+]")
        self._add(menu, "send_to_back", "Send to &back", editor.send_to_back, "Ctrl+[")
        menu.addSeparator()
        self._add(menu, "change_class", "&Change class…", self.choose_class, "C")
        self._add(menu, "split", "S&plit disconnected parts", editor.split, "Ctrl+K")
        self._add(menu, "merge", "&Merge selected instances", editor.merge, "Ctrl+M")
        self._add(menu, "simplify", "Si&mplify polygon…", self.ask_simplify, "Ctrl+Shift+S")
        self._add(menu, "fill_holes", "&Fill holes", editor.fill_holes, "Ctrl+Shift+H")
        self._add(menu, "remove_fragments", "&Remove small fragments…", self.ask_fragments, "Ctrl+Shift+F")

    def _build_docks(self) -> None:
        window = self.window
        self.undo_dock = QDockWidget("History", window)
        self.undo_dock.setObjectName("history_dock")
        self.undo_view = QUndoView(self.editor.history.stack)
        self.undo_view.setEmptyLabel("Opened")
        self.undo_dock.setWidget(self.undo_view)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.undo_dock)
        window.tabifyDockWidget(window.classes_dock, self.undo_dock)
        window.classes_dock.raise_()
        self.help_panel = HelpPanel(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.help_panel)
        window.tabifyDockWidget(window.instances_dock, self.help_panel)  # tall enough to read
        self.help_panel.hide()
        view = menu_titled(window, "&View")
        view.addAction(self.undo_dock.toggleViewAction())
        help_action = self.help_panel.toggleViewAction()
        help_action.setText("&Shortcuts")
        help_action.setShortcut(QKeySequence("F1"))
        help_action.toggled.connect(self._help_shown)
        menu_titled(window, "&Help").addAction(help_action)
        view.addAction(help_action)  # a panel, among the panels too
        window.addAction(help_action)
        self.actions["help"] = help_action

    # -- slots ------------------------------------------------------------------------------------
    def _help_shown(self, shown: bool) -> None:
        if shown:  # menus added after editing (pre-labelling) are listed too
            self.help_panel.fill(self.window.menuBar())
            QTimer.singleShot(0, self.help_panel.raise_)  # as the current tab, once it is one

    def _show_radius(self, radius: float) -> None:
        self.radius_box.blockSignals(True)  # the box shows whole pixels; the radius itself may be finer
        self.radius_box.setValue(round(radius))
        self.radius_box.blockSignals(False)

    def _escape(self) -> None:
        if self.editor.tool is not None and self.editor.tool.busy:
            self.editor.cancel()
        else:
            self.editor.select(None)

    def _say_replayed(self, what: str, step: str) -> None:
        if step:
            self.window.statusBar().showMessage(f"{what}: {step}", 5000)

    def _show_replayed_image(self, image_id: int) -> None:
        if image_id != self.window.session.image_id and self.window.document is not None:
            self.window.show_image(image_id)

    def _name_class_actions(self) -> None:
        editor = self.editor
        ordered = editor.ordered_categories()
        for number in range(1, 10):
            action = self.actions[f"class_{number}"]
            if number <= len(ordered):
                action.setText(f"&{number} {editor.dataset.categories[ordered[number - 1]].name}")
            action.setVisible(number <= len(ordered))
        category = editor.dataset.categories.get(editor.current_category) if editor.dataset else None
        if category is not None:
            self.class_label.setText(category.name)
        else:
            self.class_label.setText(NEW_CLASS_PROMPT if editor.dataset is not None else "–")

    def choose_class(self) -> None:
        """C: the selection and new shapes get the chosen class, or a new one made from the typed name
        (one undo step with the selection's class change)."""
        editor = self.editor
        if editor.dataset is None:
            return
        picker = ClassPicker(
            editor.dataset, editor.ordered_categories(), editor.current_category, self.window
        )
        accepted, chosen, new_name = picker.exec(), picker.chosen(), picker.new_name()
        picker.deleteLater()
        if not accepted:
            return
        if chosen is not None:
            editor.change_class(chosen)
        elif new_name:
            editor.create_class(new_name)

    def ask_class_name(
        self, offered: Sequence[Category] = (), more: SignalInstance | None = None
    ) -> str | Category | None:
        """The class for a shape drawn in a project without classes: a name, or one of the `offered`
        classes (a loaded model's) or of those `more` offers while the picker is open; None if cancelled."""
        editor = self.editor
        picker = ClassPicker(
            editor.dataset, editor.ordered_categories(), None, self.window, title="New class", offered=offered
        )
        if more is not None:
            more.connect(picker.offer)
        try:
            accepted = picker.exec()
        finally:
            if more is not None:
                more.disconnect(picker.offer)
        chosen, new_name = picker.chosen(), picker.new_name()
        offered_class = picker.chosen_offered()
        picker.deleteLater()
        if not accepted:
            return None
        if offered_class is not None:
            return offered_class
        return editor.dataset.categories[chosen].name if chosen is not None else new_name

    def ask_simplify(self) -> None:
        tolerance, ok = QInputDialog.getDouble(
            self.window, "Simplify polygon", "Tolerance (pixels):", 1.0, 0.1, 50.0, 1
        )
        if ok:
            self.editor.simplify(tolerance)

    def ask_fragments(self) -> None:
        pixels, ok = QInputDialog.getInt(
            self.window, "Remove small fragments", "Smallest part to keep (pixels):", 50, 1, 10**7
        )
        if ok:
            self.editor.remove_fragments(pixels)


def install_editing(window) -> EditingActions:
    return EditingActions(window)
