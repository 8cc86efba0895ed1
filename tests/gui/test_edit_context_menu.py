"""Right click on an instance: it is selected and a menu offers class, delete, bring to front, send to
back, accept and reject, each one undoable step on that instance."""

from __future__ import annotations

from edit_helpers import open_sample, view_point, window
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from annotator.core.model import Review


def right_click(window, qtbot, x: float, y: float):
    """What a right click on image point (x, y) sends the canvas: a context menu event."""
    viewport = window.canvas.viewport()
    at = view_point(window.canvas, x, y)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, viewport.mapToGlobal(at))
    QApplication.sendEvent(viewport, event)
    menu = window.instance_menu.menu
    if menu is not None:
        qtbot.waitUntil(menu.isVisible)
    return menu


def test_right_click_selects_the_instance_and_its_menu_acts_on_it(window, qtbot, tmp_path):
    dataset = open_sample(window, tmp_path)
    menu = right_click(window, qtbot, 20, 20)  # on the large square only
    assert menu is not None and window.session.selection == (1,)
    texts = [a.text().replace("&", "").split("\t")[0] for a in menu.actions() if not a.isSeparator()]
    assert texts == [
        "Class",
        "Delete",
        "Bring to front",
        "Send to back",
        "Accept prediction",
        "Reject prediction",
    ]
    assert not window.instance_menu.action("Accept").isEnabled()  # drawn by hand: nothing to accept
    classes = window.instance_menu.action("Class").menu()
    [car] = [a for a in classes.actions() if "car" in a.text()]
    car.trigger()
    assert dataset.instances[1].category_id == 2
    menu.close()

    menu = right_click(window, qtbot, 50, 50)  # the small prediction in front of it
    assert window.session.selection == (2,)
    window.instance_menu.action("Accept").trigger()
    assert dataset.instances[2].review is Review.ACCEPTED and window.session.selection == (2,)
    menu.close()

    menu = right_click(window, qtbot, 50, 50)
    window.instance_menu.action("Send to back").trigger()
    assert dataset.instances[2].z < dataset.instances[1].z
    menu.close()
    menu = right_click(window, qtbot, 50, 50)  # now the large square is in front there
    assert window.session.selection == (1,)
    window.instance_menu.action("Delete").trigger()
    assert 1 not in dataset.instances
    assert window.editor.history.stack.undoText() == "Delete car"  # the history says what went
    window.editing.actions["undo"].trigger()
    assert 1 in dataset.instances
    stack = window.editor.history.stack
    assert [stack.text(i) for i in range(stack.count())][:3] == [
        "Change class",
        "Accept 1 prediction",
        "Send to back",
    ]


def test_right_click_on_empty_image_shows_no_menu(window, qtbot, tmp_path):
    open_sample(window, tmp_path)
    window.session.select(3)
    assert right_click(window, qtbot, 195, 5) is None
    assert window.session.selection == (3,)
