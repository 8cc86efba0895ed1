"""The main window: canvas in the middle, images / instances / classes docks, menus, status bar.

It owns the `Session` every part follows, connects the parts and remembers settings and layout
(QSettings); documents come from `gui.document` and pixels from the off-thread `ImageLoader`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QToolButton,
)

from annotator.core.model import Change, ChangeKind
from annotator.core.rules import mark_unreadable
from annotator.core.session import Document, Session, SessionChange, SessionEvent, ViewStyle
from annotator.core.wording import counted
from annotator.gui import project_dialogs
from annotator.gui.adjust_dialog import install_image_adjust
from annotator.gui.canvas.view import NOTCH, Canvas
from annotator.gui.document import is_open_folder, open_document, refresh_document
from annotator.gui.evaluation.actions import install_evaluation
from annotator.gui.export_dialog import EXPORT_KEYS, ExportDialog, Exporter
from annotator.gui.importing.actions import ask_results_dataset, install_importing
from annotator.gui.lists.classes import ClassListDock
from annotator.gui.lists.images import ImageListDock
from annotator.gui.lists.instances import InstanceListDock
from annotator.gui.loader import ImageLoader
from annotator.gui.recent import recent_entry_problem
from annotator.gui.resume import ResumePoint
from annotator.gui.review.actions import install_review
from annotator.gui.review.assisted import install_assisted_review
from annotator.gui.save_status import install_save_status
from annotator.gui.theme import Theme, apply_theme
from annotator.gui.tools.actions import install_editing
from annotator.gui.tools.context_menu import InstanceMenu
from annotator.io.errors import DatasetError, ProjectFileChangedError, ProjectLockedError
from annotator.io.results_file import NeedsDatasetError

MAX_RECENT = 10
OPENING_PROBLEMS_SHOWN = 12  # lines in the dialog's text; all of them are in its details


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("annotator", "annotator")
        self.session = Session()
        self.setWindowTitle("annotator")
        self.setAcceptDrops(True)
        self.session.set_style(
            ViewStyle(
                opacity=float(self.settings.value("view/opacity", 0.5)),
                show_labels=self.settings.value("view/labels", True, type=bool),
                show_scores=self.settings.value("view/scores", True, type=bool),
            )
        )
        self.canvas = Canvas(self, session=self.session)
        self.canvas.placeholder = "No images open: File ▸ Open folder… or drop a folder here"
        self.setCentralWidget(self.canvas)
        self.images_dock = ImageListDock(self.session, self)
        self.instances_dock = InstanceListDock(self.session, self)
        self.classes_dock = ClassListDock(self.session, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.images_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.instances_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.classes_dock)
        self.loader = ImageLoader(self)
        self._watched = None  # the dataset whose changes refresh the lists
        self._refresh_timer = QTimer(self, singleShot=True, interval=0)
        self._refresh_timer.timeout.connect(self._refresh_lists)
        self._build_status_bar()
        self._build_actions()
        self._connect()
        self.editing = install_editing(self)  # Edit and Tools menus, undo history, shortcuts panel
        self.editor = self.editing.editor
        self.exporter = Exporter(self)
        self._exporting: dict[str, str] = {}  # path -> format of the exports under way
        self.exporter.finished.connect(self._exported)
        install_review(self)  # Review menu and toolbar: accept / reject keys, score slider, progress
        install_evaluation(self)  # comparison with ground truth: Evaluation dock, TP/FP/FN colours
        install_assisted_review(self)  # label next, suspicious labels, checks, statistics
        self.resume_point = ResumePoint(self)  # the last project and image, for a start with no path
        self.save_status = install_save_status(self)  # saved indicator, File ▸ Save (Ctrl+S)
        self.instance_menu = InstanceMenu(self)  # right click on an instance
        install_image_adjust(self)  # View ▸ Image brightness, contrast, gamma…
        install_importing(self)  # File ▸ Import annotations, a folder's LabelMe files
        self.apply_theme(Theme(self.settings.value("view/theme", Theme.LIGHT.value)))
        self.resize(1400, 900)
        self.resizeDocks([self.images_dock, self.instances_dock], [300, 320], Qt.Orientation.Horizontal)
        self.restoreGeometry(self.settings.value("window/geometry", b""))
        self.restoreState(self.settings.value("window/state", b""))

    # -- construction -----------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.save_error_label = QLabel()
        self.save_error_label.setStyleSheet("color: white; background: #b00020; padding: 1px 6px;")
        self.save_error_label.hide()
        self.statusBar().addWidget(self.save_error_label)
        self._save_retry = QTimer(self, interval=3000)
        self._save_retry.timeout.connect(self._retry_save)
        self.problems_button = QToolButton(autoRaise=True, toolTip="What was skipped or changed on opening")
        self.problems_button.clicked.connect(self.show_opening_problems)
        self.problems_button.hide()
        self.statusBar().addPermanentWidget(self.problems_button)
        self._opening_problems: list[str] = []
        self.position_label, self.pixel_label = QLabel(), QLabel()
        self.zoom_label, self.image_label = QLabel("–"), QLabel()
        # The file name gives way to a message while it shows (a message ran under it, cut off); the
        # pointer's readout and the zoom stay.
        self.image_label.setMinimumWidth(90)
        self.statusBar().addWidget(self.image_label)
        # Qt hides it for a message only if it was visible then: not for one shown before the window was
        self.statusBar().messageChanged.connect(lambda text: self.image_label.setVisible(not text))
        for label in (self.position_label, self.pixel_label, self.zoom_label):
            label.setMinimumWidth(90)
            self.statusBar().addPermanentWidget(label)

    def _action(self, menu, text: str, slot, shortcut=None, *, checkable=False, checked=False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if checkable:
            action.setChecked(checked)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work while a dock has focus
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "Open &folder…", self._choose_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open project, COCO or LabelMe &file…", self._choose_file, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        self._action(
            file_menu, project_dialogs.SAVE_AS_TEXT, lambda: project_dialogs.save_as_new_project(self)
        )
        self._action(file_menu, "&Export (COCO, LabelMe, YOLO, panoptic)…", self.export, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view = bar.addMenu("&View")
        self._action(view, "&Fit to window", self.canvas.fit, "F")
        self._action(view, "Actual size (&1:1)", self.canvas.zoom_1_1, "Ctrl+0")  # 1-9 pick classes
        self._action(view, "&Double size (2:1)", lambda: self.canvas.set_zoom(2.0), "Ctrl+2")
        self._action(view, "Zoom &in", lambda: self.canvas.zoom_by(NOTCH), ["+", "="])
        self._action(view, "Zoom &out", lambda: self.canvas.zoom_by(1 / NOTCH), "-")
        view.addSeparator()
        style = self.session.style
        self.labels_action = self._action(
            view, "Show &labels", self._restyle, "L", checkable=True, checked=style.show_labels
        )
        self.scores_action = self._action(
            view, "Show &scores", self._restyle, checkable=True, checked=style.show_scores
        )
        self.hide_all_action = self._action(view, "&Hide all instances", self._hide_all, "H", checkable=True)
        view.addSeparator()
        self.dark_action = self._action(view, "&Dark theme", self._toggle_theme, checkable=True)
        view.addSeparator()
        for dock in (self.images_dock, self.instances_dock, self.classes_dock):
            view.addAction(dock.toggleViewAction())
        go = bar.addMenu("&Go")
        self._action(go, "&Next image", lambda: self.step_image(1), ["D", "PgDown"])
        self._action(go, "&Previous image", lambda: self.step_image(-1), ["A", "PgUp"])
        bar.addMenu("&Instance")  # filled by the editing actions
        toolbar = self.addToolBar("View")
        toolbar.setObjectName("view_toolbar")
        toolbar.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.opacity_slider.setValue(round(style.opacity * 100))
        self.opacity_slider.setFixedWidth(160)
        self.opacity_slider.valueChanged.connect(self._restyle)
        toolbar.addWidget(self.opacity_slider)
        self._fill_recent_menu()

    def _connect(self) -> None:
        self.session.subscribe(self._on_session)
        self.images_dock.image_activated.connect(self.show_image)
        self.images_dock.image_pointed.connect(self._pointed_in_list)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.zoom_changed.connect(lambda scale: self.zoom_label.setText(f"{scale * 100:.0f} %"))
        self.loader.loaded.connect(self.canvas.set_pixels)
        self.loader.loaded.connect(lambda image_id, _levels: self._mark_unreadable(image_id, None))
        self.loader.failed.connect(self._image_failed)
        self.canvas.render_error.connect(lambda message: self.statusBar().showMessage(message, 10000))

    @property
    def document(self) -> Document | None:
        return self.session.document

    # -- documents --------------------------------------------------------------------------------
    def open_path(
        self, path: str | Path, *, dataset: str | Path | None = None, reimport: bool = False
    ) -> bool:
        """Open a folder, project, COCO or LabelMe file; a bad one gets one clear message, nothing is
        lost. The folder this window has open already is refreshed instead: images added to it appear.
        A COCO results list opens on the images of `dataset` (asked for when missing), and a COCO
        `dataset` becomes the ground truth it is compared with."""
        if not reimport and is_open_folder(self.document, path):
            return self._refresh_folder(Path(path))
        try:
            document = open_document(path, dataset=dataset, reimport=reimport)
        except NeedsDatasetError:
            chosen = ask_results_dataset(self, Path(path))
            return chosen is not None and self.open_path(path, dataset=chosen)
        except ProjectLockedError as exc:
            if project_dialogs.is_shown_here(self, exc.path):  # this window holds it, not another
                self.statusBar().showMessage(f"{Path(path).name} is open already", 8000)
                return True
            QMessageBox.warning(self, "Cannot open", project_dialogs.describe(path, exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a slot: the person gets a dialog, never a traceback
            QMessageBox.warning(self, "Cannot open", project_dialogs.describe(path, exc))
            return False
        try:
            shown = self.set_document(document)
        except Exception as exc:  # noqa: BLE001 - the project cannot be shown: close it, say why
            project_dialogs.abandon(self, document)
            QMessageBox.warning(self, "Cannot show", project_dialogs.describe(path, exc))
            return False
        if not shown:
            document.close()
            return False
        self._remember_recent(Path(path))
        self.compare_with(dataset)
        return True

    def compare_with(self, ground_truth: str | Path | None) -> None:
        """Start comparing with a COCO ground-truth file (an image folder has nothing to compare)."""
        if ground_truth is not None and Path(ground_truth).is_file():
            self.evaluation.load_file(Path(ground_truth))

    def _refresh_folder(self, path: Path) -> bool:
        """The open folder again: add the images that appeared in it (a bad one gets a dialog)."""
        try:
            added = refresh_document(self.document)
        except Exception as exc:  # noqa: BLE001 - a slot: the person gets a dialog, never a traceback
            QMessageBox.warning(self, "Cannot refresh", project_dialogs.describe(path, exc))
            return False
        self.statusBar().showMessage(
            f"{counted(added, 'new image')} added from {path.name}" if added else "No new images", 8000
        )
        self._remember_recent(path)
        return True

    def set_document(self, document: Document | None) -> bool:
        """Show `document`; False (and the old one stays, with every part still on it) if the old one
        has changes it cannot save."""
        try:
            self.session.open(document)
        except DatasetError as error:
            if not project_dialogs.resolve_unsaved(self, error):
                return False
            self.session.open(document)  # the old one is closed now
        self.save_error_label.hide()  # the old document's save errors went with it
        self._save_retry.stop()
        store = getattr(document, "store", None)
        if store is not None:
            store.on_save_error = self._on_save_error
        if document is not None:
            self.setWindowTitle(f"{document.path.name} – annotator")
            problems = list(getattr(document, "problems", None) or [])
            summary = getattr(document, "summary", "")
            said = [summary] if summary else []
            if problems:
                said.append(f"{counted(len(problems), 'problem')} on opening: the ⚠ button lists them")
            if said:
                self.statusBar().showMessage(" · ".join(said), 15000)
        else:
            problems = []
            self.setWindowTitle("annotator")
        self._opening_problems = problems
        self.problems_button.setText(f"⚠ {counted(len(problems), 'problem')} on opening")
        self.problems_button.setVisible(bool(problems))
        first = self.images_dock.neighbour(None, 1)
        if first is not None:
            self.show_image(first)
        project_dialogs.offer_reimport(self, document)
        return True

    def show_opening_problems(self) -> QMessageBox:
        """What opening the document skipped or changed, every line of it (the status bar has room for
        one short line)."""
        problems, name = self._opening_problems, self.document.path.name if self.document else ""
        box = QMessageBox(
            QMessageBox.Icon.Information, "On opening", "", QMessageBox.StandardButton.Close, self
        )
        shown = "\n".join(f"• {line}" for line in problems[:OPENING_PROBLEMS_SHOWN])
        more = len(problems) - OPENING_PROBLEMS_SHOWN
        box.setText(f"{counted(len(problems), 'thing')} skipped or changed while opening {name}:\n\n{shown}")
        if more > 0:
            box.setInformativeText(f"and {more} more (Show Details…)")
            box.setDetailedText("\n".join(problems))
        box.open()
        return box

    def _on_save_error(self, error: DatasetError | None) -> None:
        """The project file refused a write (full disk, read-only): say so until it accepts again, and
        retry every few seconds; the store keeps every change in order meanwhile."""
        if error is None:
            self.save_error_label.hide()
            self._save_retry.stop()
            self.statusBar().showMessage("All changes saved", 5000)
            return
        self.save_error_label.setToolTip(str(error))
        self.save_error_label.show()
        if isinstance(error, ProjectFileChangedError):  # retrying cannot help: save elsewhere
            self.save_error_label.setText("⚠ Not saved: the project file was changed by another program")
            project_dialogs.project_lost(self, error)
            return
        self.save_error_label.setText(f"⚠ Not saved: {error.reason} — edits kept, retrying")
        self._save_retry.start()

    def _retry_save(self) -> None:
        store = getattr(self.document, "store", None)
        if store is None or store.flush():
            self._save_retry.stop()

    def show_image(self, image_id: int) -> None:
        if self.document is not None and image_id in self.document.dataset.images:
            self.session.show_image(image_id)

    def step_image(self, step: int) -> None:
        target = self.images_dock.neighbour(self.session.image_id, step)
        if target is not None:
            self.show_image(target)

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self.loader.forget()
            if self._watched is not None:
                self._watched.unsubscribe(self._on_change)
            self._watched = self.session.dataset
            if self._watched is not None:
                self._watched.subscribe(self._on_change)
            self.image_label.setText("")
        elif change.kind is SessionEvent.IMAGE:
            self._load_pixels(self.session.image_id)
            self._show_cursor(None)  # the last image's point and colour, until the pointer moves
        if change.kind in (SessionEvent.DOCUMENT, SessionEvent.IMAGE, SessionEvent.VISIBILITY):
            self._refresh_timer.start()

    def _load_pixels(self, image_id: int | None) -> None:
        document = self.document
        if document is None or image_id is None:
            return
        dataset = document.dataset
        image = dataset.images[image_id]
        try:  # an image file linked to outside the folder is not read: its instances still show
            self.loader.request(image_id, document.image_path(image))
        except DatasetError as exc:
            self._image_failed(image_id, str(exc))
        self.prefetch_image(self.images_dock.neighbour(image_id, 1))
        self.image_label.setText(f"{image.file_name}  {image.width}×{image.height}")

    def _pointed_in_list(self, image_id: int | None) -> None:
        """The pointer rests on a row of the image list (likely the next click), or left the list (then
        the following image, for D, again)."""
        if image_id is None and self.session.image_id is not None:
            image_id = self.images_dock.neighbour(self.session.image_id, 1)
        self.prefetch_image(image_id)

    def prefetch_image(self, image_id: int | None) -> None:
        """The image likely shown next (the following one, or a review queue's next row): its pixels and
        masks are made ready while idle, so the switch to it shows the exact picture sooner."""
        document = self.document
        if document is None or image_id is None or image_id not in document.dataset.images:
            return
        with contextlib.suppress(DatasetError):
            self.loader.prefetch(image_id, document.image_path(document.dataset.images[image_id]))
        self.canvas.prefetch(image_id)

    def _image_failed(self, image_id: int, message: str) -> None:
        self.canvas.set_failure(image_id, message)
        self._mark_unreadable(image_id, message)
        self.statusBar().showMessage(message, 10000)

    def _mark_unreadable(self, image_id: int, reason: str | None) -> None:
        """Marked in the image list and skipped by "all images" pre-labelling; saved with the project."""
        if self.document is not None:
            mark_unreadable(self.document.dataset, image_id, reason)

    def _on_change(self, change: Change) -> None:
        if change.kind is not ChangeKind.IMAGES_CHANGED:
            self._refresh_timer.start()  # many events in a row make one refresh

    def _refresh_lists(self) -> None:
        self.instances_dock.refresh()
        self.classes_dock.refresh()

    # -- view -------------------------------------------------------------------------------------
    def _restyle(self) -> None:
        style = ViewStyle(
            opacity=self.opacity_slider.value() / 100,
            show_labels=self.labels_action.isChecked(),
            show_scores=self.scores_action.isChecked(),
        )
        self.session.set_style(style)

    def _hide_all(self) -> None:
        self.session.set_all_hidden(self.hide_all_action.isChecked())

    def _toggle_theme(self) -> None:
        self.apply_theme(Theme.DARK if self.dark_action.isChecked() else Theme.LIGHT)

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.dark_action.setChecked(theme is Theme.DARK)
        apply_theme(QApplication.instance(), theme)

    def _show_cursor(self, scene_pos) -> None:
        if scene_pos is None:
            self.position_label.setText("")
            self.pixel_label.setText("")
            return
        self.position_label.setText(f"x {int(scene_pos.x())}  y {int(scene_pos.y())}")
        pixel = self.canvas.pixel_at(scene_pos)
        self.pixel_label.setText("" if pixel is None else "RGB {} {} {}".format(*pixel))

    # -- files, recent, drag and drop -------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._near_open())
        if folder:
            self.open_path(folder)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a project, a COCO or LabelMe file, or a COCO results list",
            self._near_open(),
            "Projects, COCO and LabelMe (*.annotator *.json);;All files (*)",
        )
        if path:
            self.open_path(path)

    def _near_open(self) -> str:
        """Where an open dialog starts: beside the document open (for a folder of images, beside the
        folder), else the dialog's own choice."""
        document = self.document
        if document is None:
            return ""
        root = getattr(document, "root", None)
        if root is not None and is_open_folder(document, root):
            return str(Path(root).parent)  # beside the folder of images, where its neighbours are
        return str(document.path.parent)

    def export(self) -> ExportDialog | None:
        """Ask where and how, then write in the exporter's thread; the result shows in the status bar."""
        if self.document is None:
            return None
        document = self.document
        source = getattr(document, "source", None)
        dialog = ExportDialog(
            document.path.with_name(document.path.stem + "_export.json"),
            self,
            protected=(document.path, source),
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        store = getattr(document, "store", None)
        if store is not None:  # the project's last export, offered again
            with contextlib.suppress(DatasetError, sqlite3.Error):
                dialog.restore(*(store.meta(key) for key in EXPORT_KEYS))
        dialog.export_requested.connect(
            lambda path, options: self._exporting.update({str(path): options["format"]})
        )
        dialog.export_requested.connect(
            lambda path, options: self.exporter.export(
                document.dataset,
                path,
                {
                    **options,
                    "images_root": document.root,
                    "protect": (document.path, source),
                },
            )
        )
        self.exporter.finished.connect(dialog.show_result_for)
        dialog.open()
        return dialog

    def _exported(self, path: str, count: int, error: str, notes: list) -> None:
        export_format = self._exporting.pop(path, None)
        if error:
            self.statusBar().showMessage(f"Export failed: {error}", 10000)
        else:
            store = getattr(self.document, "store", None)
            if store is not None and export_format is not None:  # offered again next time (a project's)
                with contextlib.suppress(DatasetError, sqlite3.Error):
                    for key, value in zip(EXPORT_KEYS, (path, str(export_format)), strict=True):
                        store.set_meta(key, value)
            left_out = f" ({counted(len(notes), 'note')}: see the export dialog)" if notes else ""
            self.statusBar().showMessage(
                f"Exported {counted(count, 'annotation')} to {path}{left_out}", 10000
            )

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember_recent(self, path: Path) -> None:
        text = str(path.expanduser().resolve())
        recent = [text] + [p for p in self.recent_files() if p != text]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(path, lambda p=path: self.open_recent(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def open_recent(self, entry: str) -> bool:
        """Open an entry of File ▸ Open recent, unless what is on disk there changed in a way that would
        open something else (one dialog says why; an entry that is gone is taken off the menu)."""
        problem = recent_entry_problem(entry)
        if problem is None:
            return self.open_path(entry)
        reason, forget = problem
        if forget:
            self.settings.setValue("recent", [p for p in self.recent_files() if p != entry])
            self._fill_recent_menu()
        QMessageBox.warning(self, "Cannot open", f"{entry}: {reason}")
        return False

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        style = self.session.style
        self.settings.setValue("view/opacity", style.opacity)
        self.settings.setValue("view/labels", style.show_labels)
        self.settings.setValue("view/scores", style.show_scores)
        self.settings.setValue("view/theme", self.theme.value)
        self.settings.sync()
        self.loader.wait()
        self.exporter.wait()  # an export in progress finishes writing its file
        if not self.set_document(None):
            event.ignore()
            return
        for dialog in self.findChildren(QDialog):  # a non-modal one (training, pre-labelling) goes too
            dialog.close()
        super().closeEvent(event)
