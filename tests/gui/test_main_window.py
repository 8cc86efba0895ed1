"""The main window as a user drives it: open a folder, step through images, hide things, remember."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from canvas_helpers import sample_dataset, square
from PIL import Image as PilImage
from PySide6.QtCore import QEvent, QObject, QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QImage, QRegion
from PySide6.QtWidgets import QAbstractItemView, QApplication

from annotator.core import operations
from annotator.core.model import Category, Dataset, Image, Instance, Source
from annotator.gui.canvas import overlay as canvas_overlay
from annotator.gui.canvas.compose import build_tile
from annotator.gui.document import MemoryDocument
from annotator.gui.main_window import MainWindow
from annotator.gui.theme import Theme
from annotator.io.coco import save_coco


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win
    win.loader.wait()


def write_images(folder: Path, count: int) -> None:
    folder.mkdir()
    for index in range(count):
        pixels = np.full((60, 80, 3), (index * 40, 100, 200), np.uint8)
        PilImage.fromarray(pixels).save(folder / f"img{index}.png")


def test_open_folder_shows_images_and_steps(window, qtbot, tmp_path):
    write_images(tmp_path / "pics", 3)
    with qtbot.waitSignal(window.loader.loaded, timeout=10000):
        assert window.open_path(tmp_path / "pics")
    assert window.images_dock.proxy.rowCount() == 3
    first = window.canvas.session.image_id
    qtbot.waitUntil(lambda: window.canvas.has_pixels)
    assert window.canvas.pixel_at(QPointF(10, 10)) == (0, 100, 200)
    with qtbot.waitSignal(window.loader.loaded, timeout=10000):
        qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert window.canvas.session.image_id != first
    assert window.canvas.pixel_at(QPointF(10, 10)) == (40, 100, 200)
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)
    assert window.canvas.session.image_id == first
    assert str((tmp_path / "pics").resolve()) in window.recent_files()
    window.close()
    window.loader.wait()


def test_view_zooms_to_fit_actual_and_double_size_by_keys(window, qtbot, tmp_path):
    write_images(tmp_path / "pics", 1)
    with qtbot.waitSignal(window.loader.loaded, timeout=10000):
        assert window.open_path(tmp_path / "pics")
    canvas = window.canvas
    for keys, scale in (("Ctrl+2", 2.0), ("Ctrl+0", 1.0), ("Ctrl+2", 2.0)):
        qtbot.keyClick(canvas, keys[-1], Qt.KeyboardModifier.ControlModifier)
        assert canvas.scale_factor == pytest.approx(scale), keys
    qtbot.keyClick(canvas, Qt.Key.Key_F)
    assert canvas.scale_factor == pytest.approx(canvas.fit_scale(80, 60))


def test_search_filters_the_image_list(window, qtbot, tmp_path):
    write_images(tmp_path / "pics", 3)
    window.open_path(tmp_path / "pics")
    window.images_dock.search.setText("img2")
    assert window.images_dock.proxy.rowCount() == 1


def test_bad_path_is_refused_without_losing_the_window(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: messages.append(args[2]))
    assert not window.open_path(tmp_path / "missing")
    assert "no such file" in messages[0]


def test_docks_hide_instances_and_classes(window, qtbot, tmp_path):
    dataset = sample_dataset()
    PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / "a.png")
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    assert window.canvas.session.image_id == 1
    qtbot.waitUntil(lambda: window.canvas.has_pixels)
    rows = window.instances_dock._rows
    assert set(rows) == {1, 2, 3}
    rows[2].setCheckState(0, Qt.CheckState.Unchecked)
    assert not window.canvas.is_shown(2)
    classes = window.classes_dock.list
    road = next(classes.item(i) for i in range(classes.count()) if classes.item(i).text().startswith("road"))
    road.setCheckState(Qt.CheckState.Unchecked)
    assert not window.canvas.is_shown(1)
    window.canvas.session.select(3)
    window.editing.actions["bring_to_front"].trigger()
    qtbot.waitUntil(lambda: window.instances_dock.tree.topLevelItem(0).text(3) == "3")


def test_settings_and_theme_are_remembered(qtbot, settings, tmp_path):
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.opacity_slider.setValue(70)
    first.apply_theme(Theme.DARK)
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.opacity_slider.value() == 70
    assert second.theme is Theme.DARK
    second.apply_theme(Theme.LIGHT)
    second.close()


def test_screenshot_writes_a_png(qapp, tmp_path):
    from annotator import app

    write_images(tmp_path / "pics", 2)
    out = tmp_path / "shot.png"
    app.screenshot(tmp_path / "pics", out, size=(800, 500))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (800, 500)
    shutil.rmtree(tmp_path / "pics")


def test_a_launch_that_cannot_open_its_path_says_so_in_a_dialog_too(qapp, tmp_path, monkeypatch):
    """`annotator PROJECT` while another window has it printed one line on stderr and exited: from a
    desktop launcher, nothing at all appeared."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    from annotator import app
    from annotator.io.errors import ProjectLockedError
    from annotator.io.project import open_project

    write_images(tmp_path / "pics", 1)
    monkeypatch.setattr(QGuiApplication, "platformName", staticmethod(lambda: "xcb"))  # as on a desktop
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text: shown.append((title, text)))
    with open_project(tmp_path / "pics"), pytest.raises(ProjectLockedError):  # the other window
        app.run(tmp_path / "pics")
    assert len(shown) == 1 and "already open in another annotator window" in shown[0][1]


def test_the_next_images_overlay_is_ready_when_the_person_steps_to_it(window, qtbot, tmp_path, monkeypatch):
    """While a person looks at one image the window makes the next one's overlay (its tile at fit), so
    pressing D shows the exact picture at once, without compositing it then; and A, back, too."""
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    dataset.put_instances(
        [Instance(10 + i, 2, 1 + i % 2, square(5 * i, 4 * i, 60 + 5 * i, 50 + 4 * i), z=i) for i in range(12)]
    )
    for name in ("a.png", "b.png"):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / name)
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    overlay = window.canvas.overlay
    qtbot.waitUntil(lambda: window.canvas.has_pixels and not overlay.building and not overlay.working_ahead)
    builds = []
    monkeypatch.setattr(canvas_overlay, "build_tile", lambda *a, **k: builds.append(a) or build_tile(*a, **k))
    monkeypatch.setattr(overlay.builder, "build", lambda *a, **k: builds.append(a))
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert window.canvas.session.image_id == 2
    assert overlay.shows_view() and builds == []
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead)
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)  # and back: the tile of the image left was kept
    assert window.canvas.session.image_id == 1
    assert overlay.shows_view() and builds == []
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
    window.close()
    window.loader.wait()


def test_an_instance_selected_when_the_person_steps_away_is_drawn_on_the_way_back(window, qtbot, tmp_path):
    """The tile of the image left is kept for A after D only when it is the exact picture: a tile made
    while an instance was selected leaves that instance out (its own item draws it), and D clears the
    selection before the canvas is told, so the kept tile showed every instance but that one (the couch
    selected, D, A: no couch). The tile shown on the way back is the picture of every instance."""
    dataset = sample_dataset()
    dataset.put_images([Image(2, "b.png", 200, 150)])
    for name in ("a.png", "b.png"):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / name)
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    overlay = window.canvas.overlay
    qtbot.waitUntil(lambda: window.canvas.has_pixels and not overlay.building and not overlay.working_ahead)
    window.canvas.session.select(1)
    qtbot.waitUntil(lambda: not overlay.building)
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: not overlay.building and not overlay.working_ahead)
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)
    assert window.canvas.session.image_id == 1 and window.canvas.session.selected_id is None
    qtbot.waitUntil(lambda: not overlay.building)
    tile = overlay.tile
    assert np.array_equal(tile.pixels, build_tile(overlay.spec(tile.area, tile.scale))[0])
    window.close()
    window.loader.wait()


class _PaintedRegion(QObject):
    """What a widget has repainted since it was installed on it (the union of its paint events)."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.region = QRegion()
        widget.installEventFilter(self)

    def eventFilter(self, _obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.region += event.region()
        return False


def test_the_instance_list_repaints_its_rows_after_a_switch_with_an_instance_selected(
    window, qtbot, tmp_path
):
    """Seen in a real window: with an instance selected, showing another image left the last image's
    rows on screen (Qt repainted only the row that had been current); clicking a stale row chose an
    instance of the new image."""
    dataset = Dataset()
    dataset.put_categories([Category(1, "road")])
    dataset.put_images([Image(1, "a.png", 200, 150), Image(2, "b.png", 200, 150)])
    dataset.put_instances([Instance(1 + i, 1, 1, square(5 * i, 5, 5 * i + 4, 9), z=i) for i in range(3)])
    dataset.put_instances([Instance(10 + i, 2, 1, square(5 * i, 5, 5 * i + 4, 9), z=i) for i in range(6)])
    for name in ("a.png", "b.png"):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / name)
    save_coco(dataset, tmp_path / "labels.json")
    assert window.open_path(tmp_path / "labels.json")
    window.show_image(2)
    tree = window.instances_dock.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 6)
    window.session.select(12)
    qtbot.wait(200)
    painted = _PaintedRegion(tree.viewport())
    QTimer.singleShot(0, lambda: window.show_image(1))  # as a key press or a click in a dock does it
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 3)
    rows = tree.viewport().rect()
    rows.setHeight(6 * tree.sizeHintForRow(0))
    qtbot.waitUntil(lambda: QRegion(rows).subtracted(painted.region).isEmpty(), timeout=2000)


def test_what_opening_skipped_is_listed_whole_behind_a_status_bar_button(window, qtbot, tmp_path, testdata):
    """A LabelMe folder with `__ignore__` shapes: the status bar's message stays one short line (a long
    first problem ran into the file name), and the ⚠ button lists every problem; another document
    without any hides it."""
    folder = tmp_path / "lm"
    shutil.copytree(testdata / "labelme_examples/instance_segmentation/data_annotated", folder)
    assert window.open_path(folder)
    problems = window.document.problems
    assert problems and window.problems_button.isVisible()
    said = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    assert window.problems_button.text() == f"⚠ {said} on opening"
    assert "the ⚠ button lists them" in window.statusBar().currentMessage()
    assert problems[0] not in window.statusBar().currentMessage()
    assert window.image_label.isHidden()  # the message has its room (it ran under the file name)
    window.statusBar().clearMessage()
    assert not window.image_label.isHidden()
    box = window.show_opening_problems()
    assert all(line in box.text() + box.detailedText() for line in problems)
    box.close()
    write_images(tmp_path / "plain", 2)
    assert window.open_path(tmp_path / "plain")
    assert not window.problems_button.isVisible()


def test_the_open_dialogs_start_beside_the_open_document(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    write_images(tmp_path / "pics", 2)
    window.open_path(tmp_path / "pics")
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda _p, _t, start: asked.append(start) or "")
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda _p, _t, start, _f: asked.append(start) or ("", "")
    )
    window._choose_folder()
    window._choose_file()
    assert asked == [str(tmp_path), str(tmp_path)]  # beside the folder of images, not the app's own folder


def test_a_crowd_region_says_so_in_the_instance_list_and_the_cursor_readout_goes_with_the_image(
    window, qtbot, tmp_path
):
    dataset = Dataset()
    dataset.put_categories([Category(1, "person")])
    dataset.put_images([Image(1, "a.png", 200, 150), Image(2, "b.png", 200, 150)])
    dataset.put_instances([Instance(1, 1, 1, square(10, 10, 90, 90), iscrowd=True)])
    for name in ("a.png", "b.png"):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / name)
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    qtbot.waitUntil(lambda: window.instances_dock.tree.topLevelItemCount() == 1)
    assert window.instances_dock.tree.topLevelItem(0).text(1) == "drawn or imported · crowd"
    window._show_cursor(QPointF(20, 30))
    assert window.position_label.text()
    window.show_image(2)  # D: the readout was the last image's until the pointer moved
    assert window.position_label.text() == "" and window.pixel_label.text() == ""


def test_class_names_are_readable_in_the_instance_list_beside_predictions_with_long_ids(
    window, qtbot, tmp_path
):
    """Predictions with COCO-results ids (12 digits) and "model · unreviewed" left the class column a
    swatch and "…" in the dock's default width: the class names are whole, the id gives way."""
    dataset = Dataset()
    dataset.put_categories([Category(1, "potted plant"), Category(2, "motorcycle")])
    dataset.put_images([Image(1, "a.png", 200, 150)])
    dataset.put_instances(
        [Instance(902800549962, 1, 1, square(10, 10, 90, 90), source=Source.from_model("m", 0.61)),
         Instance(902800549963, 1, 2, square(20, 20, 60, 60), source=Source.from_model("m", 0.4)),
         Instance(7, 1, 2, square(5, 5, 30, 30))]
    )  # fmt: skip
    PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / "a.png")
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    tree = window.instances_dock.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 3)
    window.instances_dock.setFixedWidth(300)
    qtbot.waitUntil(lambda: tree.viewport().width() < 300)
    metrics = tree.fontMetrics()
    for row in range(3):
        item = tree.topLevelItem(row)
        needed = metrics.horizontalAdvance(item.text(0)) + tree.iconSize().width()
        assert tree.columnWidth(0) > needed, (item.text(0), tree.columnWidth(0), needed)
    assert {tree.topLevelItem(r).text(1) for r in range(3)} == {"unreviewed", "drawn or imported"}
    assert tree.topLevelItem(0).toolTip(1) == "predicted by m, unreviewed"


def test_an_undo_that_goes_to_another_image_leaves_that_image_alone_selected(window, qtbot, tmp_path):
    """Ctrl+Z on image 2 undoes an edit of image 1 and shows it: the list selected image 1 beside
    image 2 (the held Ctrl read as a Ctrl+click), and "Pre-label selected images" then took both."""
    dataset = Dataset()
    dataset.put_categories([Category(1, "road")])
    dataset.put_images([Image(i, f"{i}.png", 200, 150) for i in (1, 2)])
    dataset.put_instances([Instance(i, i, 1, square(10, 10, 90, 90)) for i in (1, 2)])
    for i in (1, 2):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / f"{i}.png")
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    view = window.images_dock.view  # several rows can be chosen, as pre-labelling sets it up
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    window.show_image(1)
    window.editor.push(operations.delete([dataset.instances[1]]))
    window.show_image(2)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert 1 in dataset.instances and window.session.image_id == 1
    assert [window.images_dock.proxy.mapToSource(i).row() for i in view.selectionModel().selectedRows()] == [
        0
    ]


def test_the_image_under_a_resting_pointer_in_the_list_is_made_ready_for_the_click(window, qtbot, tmp_path):
    """A click in the image list goes to an image nobody made ready (D's following image is): the row
    the pointer rests on is made ready meanwhile (pixels, masks); leaving the list makes the following
    image ready again."""
    dataset = Dataset()
    dataset.put_categories([Category(1, "road")])
    dataset.put_images([Image(i, f"{i}.png", 200, 150) for i in (1, 2, 3, 4)])
    dataset.put_instances([Instance(i, i, 1, square(10, 10, 90, 90)) for i in (1, 2, 3, 4)])
    for i in (1, 2, 3, 4):
        PilImage.fromarray(np.zeros((150, 200, 3), np.uint8)).save(tmp_path / f"{i}.png")
    window.set_document(MemoryDocument(dataset, tmp_path, tmp_path))
    prefetcher, view = window.canvas.overlay.prefetcher, window.images_dock.view
    qtbot.waitUntil(lambda: prefetcher.image_id == 2)  # D's
    row = window.images_dock.proxy.mapFromSource(window.images_dock.model.index(3, 0))  # image 4
    view.entered.emit(row)
    qtbot.waitUntil(lambda: prefetcher.image_id == 4 and window.loader.has(4), timeout=3000)
    QApplication.sendEvent(view.viewport(), QEvent(QEvent.Type.Leave))
    assert prefetcher.image_id == 2


def test_a_column_added_to_the_image_list_leaves_the_file_names_readable(window, qtbot, tmp_path):
    """Comparing with ground truth adds an AP column: every name read "img_….png" until the dock grew."""
    write_images(tmp_path / "pics", 3)
    window.open_path(tmp_path / "pics")
    dock = window.images_dock
    qtbot.waitUntil(lambda: dock.view.isVisible())
    ids = list(window.document.dataset.images)
    dock.set_scores({i: 0.5 for i in ids})
    dock.set_ranks({i: r for r, i in enumerate(ids)})
    qtbot.waitUntil(lambda: dock.view.columnWidth(0) >= 120, timeout=3000)
