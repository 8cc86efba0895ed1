"""One click from a row of a review dock to what it is about: show the image, select the instance
through the session, zoom in when it is small on screen, centre it; and, for the label audit, the
model's version drawn as a dashed outline beside the label (or where nothing is labelled)."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsPathItem

from annotator.core.geometry import Geometry
from annotator.core.region import Region
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.canvas.render import rings_path
from annotator.gui.tools.previews import outline_item

MODEL_OUTLINE_COLOR = QColor(0, 200, 255)  # the model's version: cyan, unlike any edit preview
SMALL_SHARE = 0.15  # an instance taking less of the view than this is zoomed in on...
TARGET_SHARE = 0.3  # ... until it takes this much
MAX_ZOOM = 4.0


def go_to(window, image_id: int, instance_id: int | None, *, box=None) -> bool:
    """Show `image_id`, select `instance_id` (when it is still there) and bring it (or `box`, COCO
    [x, y, w, h]: a place on it, or something not in the dataset) into the middle of the view. False when the image
    is gone."""
    session = window.session
    dataset = session.dataset
    if dataset is None or image_id not in dataset.images:
        return False
    window.show_image(image_id)
    instance = dataset.instances.get(instance_id) if instance_id is not None else None
    if instance is not None and instance.image_id != image_id:
        instance = None
    session.select(None if instance is None else instance.id)
    if instance is not None and box is None:
        image = dataset.images[image_id]
        box = Region(instance.geometry, image.height, image.width).bbox
    if box is not None:
        centre_on(window.canvas, box)
    return True


def prefetch_below(window, tree, item, image_of) -> None:
    """A queue is worked down: the image of the first row below `item` that names one (`image_of`),
    if another, is made ready while the person looks at this one."""
    below = tree.itemBelow(item)
    while below is not None:
        image_id = image_of(below)
        if image_id is not None:
            if image_id != window.session.image_id:
                window.prefetch_image(image_id)
            return
        below = tree.itemBelow(below)


def centre_on(canvas, box) -> None:
    """Show a box whole: fit the image when the box does not fit the view at this zoom, zoom in on it
    when it is small on screen; then centre it (as Tab centres a prediction)."""
    x, y, w, h = (float(v) for v in box)
    view = canvas.viewport().size()
    if w * canvas.scale_factor > view.width() or h * canvas.scale_factor > view.height():
        canvas.fit()
    scale, room = canvas.scale_factor, min(view.width(), view.height())
    if 0 < max(w, h) * scale < SMALL_SHARE * room:
        canvas.set_zoom(min(max(TARGET_SHARE * room / max(w, h), scale), MAX_ZOOM))
    canvas.centerOn(QPointF(x + w / 2, y + h / 2))


class ModelOutline:
    """A dashed outline of a geometry on the canvas (the model's version of a flagged label), gone
    when another image is shown or another document opened."""

    def __init__(self, window) -> None:
        self.canvas = window.canvas
        self.session = window.session
        self.item: QGraphicsPathItem | None = None
        self.image_id: int | None = None
        self.session.subscribe(self._on_session)

    def show(self, image_id: int, geometry: Geometry | None) -> None:
        self.clear()
        image = self.session.image
        if geometry is None or image is None or image.id != image_id:
            return
        rings = Region(geometry, image.height, image.width).outline
        self.item = outline_item(rings_path(rings), MODEL_OUTLINE_COLOR, dashed=True)
        self.item.setToolTip("The model's version")
        self.canvas.scene().addItem(self.item)
        self.image_id = image_id

    def clear(self) -> None:
        if self.item is not None and self.item.scene() is not None:
            self.item.scene().removeItem(self.item)
        self.item, self.image_id = None, None

    def _on_session(self, change: SessionChange) -> None:
        moved = change.kind in (SessionEvent.IMAGE, SessionEvent.DOCUMENT)
        if moved and self.image_id is not None and self.session.image_id != self.image_id:
            self.clear()


def chosen_by_the_person(current) -> bool:
    """Whether a queue's new current row is the person's choice (a key, a click, the program's
    `setCurrentItem`): each selects it. Focus coming back to a list with no current row (a menu closed)
    makes its first row current without selecting it, and that jumped to another image."""
    return current is not None and current.isSelected()


def set_enabled_keeping_focus(button, enabled: bool, fallback) -> None:
    """A focused button that is disabled hands the focus down the chain, to a spin box whose line edit
    then takes Ctrl+Shift+Z (redo) for itself: the focus goes to `fallback` (the queue) instead."""
    if not enabled and button.hasFocus():
        fallback.setFocus()
    button.setEnabled(enabled)
