"""The class dock lists the classes of the image at hand; the others only on request."""

from __future__ import annotations

from canvas_helpers import sample_dataset

from annotator.core.model import Category
from annotator.core.session import Session
from annotator.gui.lists.classes import ClassListDock


def test_empty_classes_are_hidden_until_asked_for(qtbot):
    dock = ClassListDock(Session())
    qtbot.addWidget(dock)
    dataset = sample_dataset()
    dataset.put_categories([Category(c, f"unused {c}") for c in range(10, 90)])
    dock.show_classes(dataset, frozenset(), {1: 1, 2: 1, 3: 1})
    shown = [dock.list.item(i).text() for i in range(dock.list.count()) if not dock.list.item(i).isHidden()]
    assert shown == ["road  (1)", "car  (1)", "donut  (1)"]
    dock.hide_empty.setChecked(False)
    assert sum(not dock.list.item(i).isHidden() for i in range(dock.list.count())) == 83
