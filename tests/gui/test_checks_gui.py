"""The Checks dock on a project with one problem of each kind: it lists what `core.checks` finds, by kind and
worst first; a click selects the instance; "Fix" is one undo step that the project keeps; a finding that
needs a person's judgement has no Fix."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from canvas_helpers import square
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget
from review_helpers import click_row, run_and_wait, shows_box
from window_helpers import shown_main_window

from annotator.core import operations
from annotator.core.checks import CheckKind, CheckOptions, run_checks
from annotator.core.edits import ReplaceInstances
from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance
from annotator.core.operations import edited
from annotator.gui.review.checks_dock import INDEX_ROLE, KIND_ROLE
from annotator.io.project import create_project

W, H = 200, 150


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path)
    yield win
    win.assisted.wait()
    win.loader.wait()


def _dataset() -> Dataset:
    dataset = Dataset()
    dataset.put_images([Image(1, "a.png", W, H), Image(2, "b.png", W, H)], notify=False)
    dataset.put_categories([Category(1, "cell"), Category(2, "dust")], notify=False)
    bow_tie = Polygons((np.array([[120.0, 100], [150, 130], [150, 100], [120, 130]]),))
    dataset.put_instances(
        [
            Instance(1, 1, 1, square(10, 10, 60, 60), z=0),
            Instance(2, 1, 1, square(10, 10, 60, 61), z=1),  # a duplicate of 1
            Instance(3, 1, 1, square(170, 20, 230, 60), z=2),  # reaches outside the image
            Instance(4, 1, 1, square(100, 10, 104, 14), z=3),  # a 16-pixel fragment
            Instance(5, 2, 1, square(100, 80, 110, 90), z=0),  # hidden under 6
            Instance(6, 2, 1, square(90, 70, 140, 120), z=1),
            Instance(7, 2, 2, square(10, 10, 40, 40), z=2),  # the only "dust"
            Instance(8, 1, 1, bow_tie, z=4),  # crosses itself
        ],
        notify=False,
    )
    return dataset


@pytest.fixture
def project(window, tmp_path):
    """A real project (SQLite file) on two real image files."""
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((H, W, 3), 90, np.uint8))
    path = tmp_path / "checks.annotator"
    assert window.set_document(create_project(path, _dataset(), tmp_path))
    return path


def _rows(dock) -> list[tuple[CheckKind, int]]:
    rows = []
    for g in range(dock.tree.topLevelItemCount()):
        group = dock.tree.topLevelItem(g)
        for c in range(group.childCount()):
            finding = dock.report.findings[group.child(c).data(0, INDEX_ROLE)]
            rows.append((CheckKind(group.data(0, KIND_ROLE)), finding.kind, finding.instance_id))
    assert all(kind is found for kind, found, _ in rows)  # each under its kind's row
    return [(kind, instance_id) for kind, _, instance_id in rows]


def _row(dock, kind: CheckKind, instance_id: int | None = None):
    """The first row of a kind (or the one about `instance_id`)."""
    for g in range(dock.tree.topLevelItemCount()):
        group = dock.tree.topLevelItem(g)
        for c in range(group.childCount() if group.data(0, KIND_ROLE) == kind.value else 0):
            finding = dock.report.findings[group.child(c).data(0, INDEX_ROLE)]
            if instance_id in (None, finding.instance_id):
                return group.child(c)
    raise AssertionError(f"no {kind} row")


def test_findings_by_kind_worst_first_and_a_click_selects_the_instance(window, project, qtbot):
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    expected = run_checks(window.document.dataset)
    assert _rows(dock) == [(f.kind, f.instance_id) for f in expected.findings]
    assert {kind for kind, _ in _rows(dock)} == set(CheckKind)
    assert "8 instances checked: 7 findings" in dock.state_label.text()
    titles = [dock.tree.topLevelItem(g).text(0) for g in range(dock.tree.topLevelItemCount())]
    assert "duplicate (1)" in titles
    click_row(dock.tree, _row(dock, CheckKind.HIDDEN, 5))  # 1 is hidden by its duplicate
    assert window.session.image_id == 2 and window.session.selection == (5,)
    assert shows_box(window.canvas, (100, 80, 10, 10))
    click_row(dock.tree, _row(dock, CheckKind.INVALID))  # centred where the polygon crosses itself
    assert window.session.image_id == 1 and window.session.selection == (8,)
    assert shows_box(window.canvas, (135 - 12, 115 - 12, 24, 24))


def test_fix_is_one_undo_step_and_is_saved(window, project, qtbot):
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    dataset, stack = window.document.dataset, window.editor.history.stack
    click_row(dock.tree, _row(dock, CheckKind.DUPLICATE))
    assert dock.fix_button.isEnabled() and dock.fix_button.text() == "Fix: Delete cell"
    steps = stack.count()
    dock.fix_button.click()
    assert stack.count() == steps + 1 and 2 not in dataset.instances
    following = dock.current_finding()  # the next row is current, and shown
    assert (
        window.session.selection == (following.instance_id,) and window.session.image_id == following.image_id
    )
    assert CheckKind.DUPLICATE not in {kind for kind, _ in _rows(dock)}
    window.editing.actions["undo"].trigger()  # the duplicate is back, and its rows, selected and shown
    assert 2 in dataset.instances
    assert window.statusBar().currentMessage() == "Undone: Delete cell"  # not "Delete (Ctrl+Z undoes it)"
    assert _rows(dock) == [(f.kind, f.instance_id) for f in run_checks(dataset).findings]
    assert dock.current_finding().instance_id == 2 and window.session.selection == (2,)
    assert dock.fix_button.text() == "Fix: Delete cell"
    stack.redo()
    assert CheckKind.DUPLICATE not in {kind for kind, _ in _rows(dock)}
    click_row(dock.tree, _row(dock, CheckKind.OUTSIDE))
    dock.fix_button.click()  # clipped to the image's border
    assert dataset.instances[3].geometry.extent[2] == pytest.approx(W)
    assert window.set_document(None)
    assert window.open_path(project)
    reopened = window.document.dataset
    assert 2 not in reopened.instances and reopened.instances[3].geometry.extent[2] == pytest.approx(W)


def test_judgement_calls_have_no_fix_and_stale_rows_are_refused(window, project, qtbot):
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    for kind in (CheckKind.INVALID, CheckKind.SINGLE_USE_CLASS):
        click_row(dock.tree, _row(dock, kind))
        assert not dock.fix_button.isEnabled()
    row = _row(dock, CheckKind.FRAGMENT)
    click_row(dock.tree, row)
    assert dock.fix_button.isEnabled()
    fragment = window.document.dataset.instances[4]  # the person redraws it meanwhile
    window.editor.push(ReplaceInstances((fragment,), (edited(fragment, geometry=square(100, 10, 105, 15)),)))
    assert "Edited since" in dock.state_label.text()
    # the button follows at once (it stayed enabled, and a click did nothing, silently)
    assert not dock.fix_button.isEnabled() and "Run checks" in dock.fix_button.text()
    click_row(dock.tree, _row(dock, CheckKind.SINGLE_USE_CLASS))
    assert dock.fix_button.text() == "No fix: needs your judgement"
    click_row(dock.tree, row)
    assert not dock.fix_button.isEnabled() and "Changed since the checks ran" in dock.fix_button.text()
    window.editor.push(operations.delete([window.document.dataset.instances[4]]))
    assert dock.fix_button.text() == "#4 was deleted since the checks ran"
    click_row(dock.tree, row)  # a row whose instance is gone says so
    assert "#4 is no longer in the project" in window.statusBar().currentMessage()


def test_the_fragment_size_is_an_option(window, project, qtbot):
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    assert CheckKind.FRAGMENT in {kind for kind, _ in _rows(dock)}
    run_and_wait(qtbot, dock.job, lambda: dock.fragment_spin.setValue(10))
    assert CheckKind.FRAGMENT not in {kind for kind, _ in _rows(dock)}
    assert _rows(dock) == [
        (f.kind, f.instance_id)
        for f in run_checks(window.document.dataset, CheckOptions(min_fragment_pixels=10)).findings
    ]


def test_the_review_menu_shows_the_queues_as_tabs_under_the_canvas(window, project, qtbot):
    menu = next(a.menu() for a in window.menuBar().actions() if a.menu() and a.menu().title() == "&Review")
    entries = {action.text(): action for action in menu.actions()}
    suspicious, checks = window.assisted.suspicious, window.assisted.checks
    with qtbot.waitSignal(suspicious.job.finished, timeout=20000):
        entries["S&uspicious labels"].trigger()
    with qtbot.waitSignal(checks.job.finished, timeout=20000):
        entries["Consistency c&hecks"].trigger()  # shown: the checks run
    assert window.dockWidgetArea(checks) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert window.tabifiedDockWidgets(checks) == [suspicious]
    qtbot.waitUntil(lambda: not checks.visibleRegion().isEmpty() and suspicious.visibleRegion().isEmpty())
    assert checks.height() >= 200  # room for about ten rows
    view = next(a.menu() for a in window.menuBar().actions() if a.menu() and a.menu().title() == "&View")
    in_view = set(view.actions())
    shown = {
        dock.windowTitle() for dock in window.findChildren(QDockWidget) if dock.toggleViewAction() in in_view
    }
    assert {"Suspicious labels", "Consistency checks", "Statistics", "Shortcuts", "Images", "History"} <= {
        title.split(" (")[0] for title in shown
    }
    assert checks.windowTitle() == "Consistency checks"  # as the menu names it


def test_a_long_list_shows_the_worst_of_each_kind(window, project, qtbot, monkeypatch):
    from annotator.gui.review import checks_dock

    monkeypatch.setattr(checks_dock, "MAX_ROWS_PER_KIND", 1)
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    hidden = [f for f in run_checks(window.document.dataset).findings if f.kind is CheckKind.HIDDEN]
    assert [instance for kind, instance in _rows(dock) if kind is CheckKind.HIDDEN] == [hidden[0].instance_id]
    titles = [dock.tree.topLevelItem(g).text(0) for g in range(dock.tree.topLevelItemCount())]
    assert "hidden (1, 1 more not listed: run the checks again after fixing these)" in titles


def test_a_group_folded_away_stays_folded_after_a_fix_and_its_undo(window, project, qtbot):
    dock = window.assisted.checks
    run_and_wait(qtbot, dock.job, dock.run)
    groups = {
        dock.tree.topLevelItem(i).data(0, KIND_ROLE): dock.tree.topLevelItem(i)
        for i in range(dock.tree.topLevelItemCount())
    }
    dock.tree.collapseItem(groups[CheckKind.OUTSIDE.value])  # as a click on its arrow does
    click_row(dock.tree, _row(dock, CheckKind.DUPLICATE))
    dock.fix_button.click()
    window.editing.actions["undo"].trigger()  # the list is refilled twice
    refilled = {
        dock.tree.topLevelItem(i).data(0, KIND_ROLE): dock.tree.topLevelItem(i)
        for i in range(dock.tree.topLevelItemCount())
    }
    assert not refilled[CheckKind.OUTSIDE.value].isExpanded()
    assert refilled[CheckKind.DUPLICATE.value].isExpanded()
    dock.tree.expandItem(refilled[CheckKind.OUTSIDE.value])
    run_and_wait(qtbot, dock.job, dock.run)
    assert all(dock.tree.topLevelItem(i).isExpanded() for i in range(dock.tree.topLevelItemCount()))
