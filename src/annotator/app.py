"""Composition root: make the Qt application and the main window, open what was asked for.

`run` starts the GUI; `screenshot` renders the window to a PNG and returns (for the README and tests).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from annotator.core.predictor import ModelSpec, Predictor
from annotator.gui.collector import collector_of
from annotator.gui.main_window import MainWindow
from annotator.gui.prelabel.actions import install_prelabelling
from annotator.gui.resume import resume
from annotator.gui.training.actions import install_training
from annotator.io.atomic import write_bytes_atomic
from annotator.io.errors import DatasetError
from annotator.io.output_target import refuse_special_target


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("annotator")
    app.setOrganizationName("annotator")
    collector_of(app).start()  # Qt objects in cycles are freed on this thread, never on a worker
    return app


def load_predictor(spec: ModelSpec) -> Predictor:
    """The predictor factory handed to the GUI's model worker, which calls it in its own thread.

    The model runs in a child process (`SubprocessPredictor`), so this process never imports torch:
    importing it in a thread still froze the GUI for 200-500 ms (decision 7). The worker closes it.
    """
    from annotator.inference.subprocess_predictor import SubprocessPredictor

    return SubprocessPredictor.from_spec(spec)


def build_window(
    path: str | Path | None, *, settings: QSettings | None = None, dataset: str | Path | None = None
) -> MainWindow:
    """The main window with PATH open (with no PATH, what was open last, or the samples on the very
    first start); bad input raises DatasetError. `dataset`: the dataset a results list belongs to, and
    (a COCO file) the ground truth it is compared with.

    The document is opened before any widget exists: the window starts the model worker's thread, and a
    window dropped with that thread running makes Qt abort the process (SIGABRT) after the error was
    printed. If showing the document fails, the window is taken down (thread stopped) before raising.
    """
    from annotator.gui.document import open_document

    document = None if path is None else open_document(path, dataset=dataset)
    window = None
    try:
        window = MainWindow(settings)
        install_training(window, install_prelabelling(window, load_predictor))
        if document is None:
            resume(window)  # the last project at the last image; the samples on the very first start
        else:
            window.set_document(document)
    except BaseException:
        discard_window(window, document if document is not None else getattr(window, "document", None))
        raise
    if path is not None:
        window._remember_recent(Path(path))
        window.compare_with(dataset)
    return window


def discard_window(window: MainWindow | None, document) -> None:
    """Stop what a half-built window started (the model thread) and close its document."""
    prelabelling = getattr(window, "prelabelling", None)
    if prelabelling is not None:
        prelabelling.controller.shutdown()
    if window is not None:
        window.loader.wait()
        window.deleteLater()
    if document is not None:
        with contextlib.suppress(DatasetError):
            document.close()


def run(path: str | Path | None, *, dataset: str | Path | None = None) -> int:
    app = application()
    try:
        window = build_window(path, dataset=dataset)
    except DatasetError as error:
        say_on_screen(path, error)
        raise  # and on stderr, with the exit status, as every command
    window.show()
    return app.exec()


def say_on_screen(path: str | Path | None, error: DatasetError) -> None:
    """A launch that cannot open PATH (another window has it, a bad file) says so in a dialog too: from
    a desktop launcher nobody reads stderr, and nothing at all appeared."""
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return
    from annotator.gui.project_dialogs import describe

    QMessageBox.warning(None, "annotator cannot open this", describe(path or "", error))


def screenshot(
    path: str | Path | None,
    out: Path,
    *,
    size: tuple[int, int] = (1600, 1000),
    dataset: str | Path | None = None,
) -> None:
    """Open PATH, wait for the first image to decode, render the window and save it as a PNG.

    The window's settings live in a private temporary folder, never beside `out`: QSettings saves
    through a symbolic link (a dataset shipping `shot.ini` linked anywhere had that file replaced by
    ours), and a file there would be read as settings. `out` is checked before the window exists, and
    the window is closed whatever happens (a window dropped with its model thread running aborts).
    """
    refuse_special_target(out)
    app = application()
    with tempfile.TemporaryDirectory(prefix="annotator-screenshot-") as private:
        settings = QSettings(str(Path(private) / "settings.ini"), QSettings.Format.IniFormat)
        window = build_window(path, settings=settings, dataset=dataset)
        try:
            _render(app, window, out, size)
        finally:
            window.close()
            settings.sync()  # written now, while its folder is still there


def _render(app: QApplication, window: MainWindow, out: Path, size: tuple[int, int]) -> None:
    window.resize(*size)
    window.show()
    deadline = time.monotonic() + 30
    while (
        window.session.image_id is not None and not window.canvas.has_pixels and time.monotonic() < deadline
    ):
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    window.canvas.fit()
    image = window.grab().toImage()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise DatasetError(out, "could not encode the screenshot")
    write_bytes_atomic(out, bytes(buffer.data()))
