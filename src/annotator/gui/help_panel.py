"""The shortcuts panel (F1): every menu action with its keys, read from the menus themselves so it can
never disagree with them, and the mouse gestures of each tool.

The keys column is sized to its keys and the action names take the rest (elided, full in a tooltip), so
the keys are readable in a narrow dock without scrolling sideways; a tool's mouse gestures span both
columns, one gesture a line."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QHeaderView, QMenuBar, QTreeWidget, QTreeWidgetItem

HELP_NAME = "help_name"  # an action's property: its name here when its text changes (Undo "Undo Erase")

MOUSE_HELP = (  # a tool and its gestures, each short enough for a line of the dock
    ("Select (V)", ("click: select", "Shift+ or Ctrl+click: add or take away", "drag: move")),
    (
        "Select (V), on a polygon",
        (
            "drag a handle: move a vertex",
            "press on an edge: insert a vertex",
            "Alt+click a handle: delete it",
            "Backspace: delete the last vertex touched",
        ),
    ),
    (
        "Polygon (P)",
        (
            "click: add a point",
            "click the first point, double click",
            "    or Enter: close",
            "Esc: cancel",
            "Backspace: take back a point",
            "Shift+first click: draws a new part",
            "    of the selected polygon",
        ),
    ),
    ("Rectangle (R)", ("drag from corner to corner",)),
    ("Brush (B) / Eraser (E)", ("drag: paint / erase the selected instance", "Ctrl+wheel: brush size")),
    ("Canvas", ("wheel: zoom", "middle drag or Space+drag: pan")),
)


def _keys(action) -> str:
    """The action's shortcuts, one a line (the keys column stays as narrow as its longest shortcut)."""
    return "\n".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


class HelpPanel(QDockWidget):
    def __init__(self, parent=None) -> None:
        super().__init__("Shortcuts", parent)
        self.setObjectName("help_dock")
        self.tree = QTreeWidget(rootIsDecorated=True, alternatingRowColors=True, wordWrap=True)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setWidget(self.tree)

    def fill(self, menu_bar: QMenuBar) -> None:
        self.tree.clear()
        for menu_action in menu_bar.actions():
            menu = menu_action.menu()
            if menu is None:
                continue
            group = QTreeWidgetItem([menu.title().replace("&", ""), ""])
            self._add_actions(group, menu)
            if group.childCount():
                self.tree.addTopLevelItem(group)
        mouse = QTreeWidgetItem(["Mouse", ""])
        self.tree.addTopLevelItem(mouse)
        for tool, gestures in MOUSE_HELP:
            # a gesture a line: a spanned row does not wrap, and one long line was cut in the dock
            lines = "\n".join([f"{tool}:", *(f"    {gesture}" for gesture in gestures)])
            item = QTreeWidgetItem([lines, ""])
            item.setToolTip(0, lines)
            mouse.addChild(item)
            item.setFirstColumnSpanned(True)  # sentences, not keys: over both columns
        self.tree.expandAll()

    def _add_actions(self, group: QTreeWidgetItem, menu, *, keyed_only: bool = False) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            if action.menu() is not None:
                self._add_actions(group, action.menu(), keyed_only=True)  # not "Open recent" paths
                continue
            if keyed_only and not action.shortcuts():
                continue
            if action.text():
                text = action.property(HELP_NAME) or action.text().replace("&", "")
                item = QTreeWidgetItem([text, _keys(action)])
                item.setToolTip(0, text)
                group.addChild(item)

    def rows(self) -> list[tuple[str, str]]:
        """(action, keys) for every action listed: what a user reads."""
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            out += [(group.child(i).text(0), group.child(i).text(1)) for i in range(group.childCount())]
        return out
