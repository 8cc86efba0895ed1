"""The comparison on the canvas: predictions coloured TP / FP (IoU in the label of each match), missed
ground truth (FN) drawn as outlines over the image, everything else grey.

Colours go through the session's per-instance overrides, so they are composited like any instance; the
FN outlines are one extra item, since ground truth from a file is not part of the project.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from annotator.core.comparison import Comparison
from annotator.core.model import Instance
from annotator.core.region import Region
from annotator.core.session import Override, Session
from annotator.gui.canvas.items import LABEL_Z
from annotator.gui.canvas.render import rings_path

TP_COLOR = (0, 200, 83)
FP_COLOR = (229, 40, 40)
FN_COLOR = (255, 196, 0)
OTHER_COLOR = (150, 150, 150)  # not a prediction, crowd-matched, or a class the ground truth lacks


def overrides_for(result: Comparison, instances: list[Instance]) -> dict[int, Override]:
    """Colour and note for each of the image's instances under this comparison."""
    if not instances:
        return {}
    matches = result.matches.get(instances[0].image_id)
    out = {}
    for inst in instances:
        if matches is None or not inst.source.is_model:
            out[inst.id] = Override(OTHER_COLOR)
        elif inst.id in matches.true_positives:
            out[inst.id] = Override(TP_COLOR, f"TP IoU {matches.true_positives[inst.id][1]:.2f}")
        elif inst.id in matches.false_positives:
            out[inst.id] = Override(FP_COLOR, "FP")
        elif inst.id in matches.ignored:
            out[inst.id] = Override(OTHER_COLOR, "crowd")
        else:
            out[inst.id] = Override(OTHER_COLOR, "not evaluated")
    return out


class MissedOutlines(QGraphicsItem):
    """Ground truth no prediction matched: a dashed outline in the FN colour and an "FN" tag each."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(LABEL_Z - 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._paths: list[tuple[QPainterPath, str]] = []
        self._rect = QRectF()
        self._font = QFont()
        self._font.setPixelSize(12)
        self._font.setBold(True)

    def set_missed(self, instances: list[Instance], names: dict[int, str], width: int, height: int) -> None:
        self.prepareGeometryChange()
        self._paths = []
        for inst in instances:
            rings = Region(inst.geometry, height, width).outline
            self._paths.append((rings_path(rings), f"FN {names.get(inst.category_id, inst.category_id)}"))
        self._rect = QRectF(0, 0, width, height).adjusted(-50, -50, 50, 50) if self._paths else QRectF()
        self.update()

    @property
    def count(self) -> int:
        return len(self._paths)

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        shadow = QPen(QColor(0, 0, 0, 170), 4)
        shadow.setCosmetic(True)
        line = QPen(QColor(*FN_COLOR), 2, Qt.PenStyle.DashLine)
        line.setCosmetic(True)
        for path, _ in self._paths:
            painter.setPen(shadow)
            painter.drawPath(path)
            painter.setPen(line)
            painter.drawPath(path)
        transform = painter.worldTransform()
        painter.setFont(self._font)
        for path, text in self._paths:
            corner = transform.map(path.boundingRect().bottomLeft())
            painter.resetTransform()
            box = QRectF(corner + QPointF(0, 2), painter.fontMetrics().size(0, text)).adjusted(-3, 0, 3, 0)
            painter.fillRect(box, QColor(*FN_COLOR))
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            painter.setTransform(transform)


class ComparisonCanvas:
    """Keeps the canvas's colours and FN outlines in step with the latest comparison and image."""

    def __init__(self, session: Session, canvas) -> None:
        self.session = session
        self.result: Comparison | None = None
        self.missed = MissedOutlines()
        canvas.scene().addItem(self.missed)

    def show(self, result: Comparison | None) -> None:
        self.result = result
        self.refresh()

    def refresh(self) -> None:
        session, result = self.session, self.result
        dataset, image_id = session.dataset, session.image_id
        if result is None or dataset is None or image_id is None:
            session.set_overrides({})
            self.missed.set_missed([], {}, 0, 0)
            return
        session.set_overrides(overrides_for(result, dataset.instances_of(image_id)))
        matches = result.matches.get(image_id)
        image = dataset.images[image_id]
        missed_ids = set(matches.false_negatives) if matches is not None else set()
        missed = [g for g in result.gt_instances(image_id) if g.id in missed_ids]
        names = {c.id: c.name for c in dataset.categories.values()}
        self.missed.set_missed(missed, names, image.width, image.height)
