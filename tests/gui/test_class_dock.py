"""The class dock lists the classes in the person's order (in a large project only those of the image at
hand, unless asked); the class picker autocompletes names and creates new ones."""

from __future__ import annotations

from canvas_helpers import sample_dataset

from annotator.core import classes
from annotator.core.model import Category
from annotator.core.session import BareDocument, Session
from annotator.gui.lists.classes import ClassListDock
from annotator.gui.tools.class_picker import ClassPicker


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


def test_the_picker_takes_the_named_class_then_a_prefix_and_otherwise_creates(qtbot):
    dataset = sample_dataset()
    dataset.put_categories([Category(9, "carpet")])
    picker = ClassPicker(dataset, classes.ordered_ids(dataset), None)
    qtbot.addWidget(picker)
    for typed, chosen, new in (
        ("Car", 2, None),  # a name, whatever its case
        ("carp", 9, None),  # the beginning of one: autocompleted
        ("cart", None, "cart"),  # no class: Enter creates it
        ("ar", None, "ar"),  # only inside other names: not taken for them
        ("3", 3, None),  # an id
    ):
        picker.search.setText(typed)
        assert (picker.chosen(), picker.new_name()) == (chosen, new), typed


def test_the_picker_offers_a_models_classes_the_project_lacks(qtbot):
    dataset = sample_dataset()  # road 1, car 2, donut 3
    model = [Category(3, "Car"), Category(7, "train"), Category(44, "bottle")]
    picker = ClassPicker(dataset, classes.ordered_ids(dataset), None, offered=model)
    qtbot.addWidget(picker)
    shown = [picker.list.item(i).text().strip() for i in range(picker.list.count() - 1)]
    assert shown == ["1  road", "2  car", "3  donut", "train", "bottle"]  # the project's car is the model's
    for typed, chosen, offered, new in (
        ("tra", None, 7, None),  # the beginning of a model's class: that class, with its id
        ("BOTTLE", None, 44, None),
        ("44", None, 44, None),  # its id
        ("car", 2, None, None),  # the project's own class first
        ("tram", None, None, "tram"),  # neither: Enter creates it
    ):
        picker.search.setText(typed)
        taken = picker.chosen_offered()
        assert (picker.chosen(), taken and taken.id, picker.new_name()) == (chosen, offered, new), typed


def test_a_project_without_classes_opens_the_picker_on_the_models_first_class(qtbot):
    dataset = sample_dataset()
    dataset.categories.clear()
    picker = ClassPicker(dataset, [], None, offered=[Category(7, "train"), Category(44, "bottle")])
    qtbot.addWidget(picker)
    assert picker.chosen_offered() == Category(7, "train") and picker.new_name() is None
    late = ClassPicker(dataset, [], None)  # the model still loading: its classes join the open picker
    qtbot.addWidget(late)
    assert late.search.placeholderText() == "Type a class name…"
    late.search.setText("bott")
    assert late.new_name() == "bott"
    late.offer([Category(7, "train"), Category(44, "bottle")])
    assert late.chosen_offered() == Category(44, "bottle") and late.new_name() is None
    late.offer([Category(44, "bottle")])  # offered again (another answer of the same model): once
    assert late.list.count() == 3
