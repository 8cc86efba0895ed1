"""The class dock lists the classes of the image at hand; the others only on request."""

from __future__ import annotations

from canvas_helpers import sample_dataset

from annotator.core import classes
from annotator.core.model import Category
from annotator.core.session import BareDocument, Session
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


def _shown(dock) -> list[str]:
    return [row.text().split("  (")[0] for row in dock.rows() if not row.isHidden()]


def test_rows_follow_the_persons_order_and_the_filter_suits_the_project(qtbot):
    session = Session()
    dock = ClassListDock(session)
    qtbot.addWidget(dock)
    own = sample_dataset()
    classes.reorder(own, [3, 1, 2]).apply(own)
    session.open(BareDocument(own))
    dock.refresh()
    assert _shown(dock) == ["donut", "road", "car"] and not dock.hide_empty.isChecked()
    coco = sample_dataset()
    coco.put_categories([Category(c, f"unused {c}") for c in range(10, 90)])
    session.open(BareDocument(coco))
    session.show_image(1)
    dock.refresh()
    assert dock.hide_empty.isChecked() and _shown(dock) == ["road", "car", "donut"]
    dock.set_current_class(50)  # the class new shapes get stays in the list, in bold
    assert _shown(dock) == ["road", "car", "donut", "unused 50"] and dock.row_of(50).font().bold()
