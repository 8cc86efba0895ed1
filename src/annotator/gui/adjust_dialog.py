"""View ▸ Image brightness, contrast, gamma…: a small non-modal dialog whose sliders change how the image
is shown (live), for dark photos. View only: the session's `ImageAdjust`; nothing is saved or exported."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

from annotator.core.session import ImageAdjust, Session
from annotator.gui.menus import menu_titled

# slider units: brightness and contrast in percent, gamma in hundredths
_RANGES = {"brightness": (-100, 100), "contrast": (0, 300), "gamma": (20, 500)}
_SCALE = {"brightness": 100, "contrast": 100, "gamma": 100}


class ImageAdjustDialog(QDialog):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Image brightness, contrast, gamma")
        self.session = session
        self.sliders: dict[str, QSlider] = {}
        self._labels: dict[str, QLabel] = {}
        form = QFormLayout(self)
        for name, (low, high) in _RANGES.items():
            slider = QSlider(Qt.Orientation.Horizontal, minimum=low, maximum=high)
            slider.setMinimumWidth(220)
            label = QLabel()
            label.setMinimumWidth(40)
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            row.addWidget(label)
            form.addRow(name.capitalize(), row)
            self.sliders[name], self._labels[name] = slider, label
        note = QLabel("Only how the image is shown: the model, the tools and exports see the file as it is.")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Reset | QDialogButtonBox.StandardButton.Close
        )
        buttons.button(QDialogButtonBox.StandardButton.Reset).clicked.connect(self.reset)
        buttons.rejected.connect(self.close)
        form.addRow(buttons)
        self._show(session.image_adjust)
        for slider in self.sliders.values():
            slider.valueChanged.connect(self._changed)

    def value(self) -> ImageAdjust:
        return ImageAdjust(**{name: s.value() / _SCALE[name] for name, s in self.sliders.items()})

    def reset(self) -> None:
        self._show(ImageAdjust())
        self._changed()

    def _show(self, adjust: ImageAdjust) -> None:
        for name, slider in self.sliders.items():
            slider.blockSignals(True)
            slider.setValue(round(getattr(adjust, name) * _SCALE[name]))
            slider.blockSignals(False)
        self._label_values()

    def _label_values(self) -> None:
        adjust = self.value()
        self._labels["brightness"].setText(f"{adjust.brightness:+.0%}")
        self._labels["contrast"].setText(f"{adjust.contrast:.0%}")
        self._labels["gamma"].setText(f"{adjust.gamma:.2f}")

    def _changed(self) -> None:
        self._label_values()
        self.session.set_image_adjust(self.value())


def install_image_adjust(window) -> QAction:
    """The View menu entry that opens the dialog (one per window, kept while it lives)."""
    view = menu_titled(window, "&View")
    action = QAction("Image &brightness, contrast, gamma…", window)

    def show() -> None:
        dialog = getattr(window, "adjust_dialog", None)
        if dialog is None:
            dialog = window.adjust_dialog = ImageAdjustDialog(window.session, window)
            dialog.adjustSize()
            canvas = window.canvas  # at the canvas's top right corner, not over the middle of the image
            corner = canvas.mapToGlobal(canvas.rect().topRight())
            dialog.move(corner.x() - dialog.width() - 24, corner.y() + 24)
        dialog.show()
        dialog.raise_()

    action.triggered.connect(show)
    actions = view.actions()
    zoom_out = next((i for i, a in enumerate(actions) if a.text() == "Zoom &out"), len(actions) - 1)
    view.insertAction(actions[zoom_out + 1] if zoom_out + 1 < len(actions) else None, action)
    window.addAction(action)
    return action
