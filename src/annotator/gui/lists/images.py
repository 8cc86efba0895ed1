"""The image list dock: status, instance count, AP and "label next" place per image; search, status
filter, sorting."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QStyle,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from annotator.core.model import Change, ChangeKind, Dataset, ImageStatus, Review
from annotator.core.rules import unreadable_reason
from annotator.core.session import Session, SessionChange, SessionEvent
from annotator.gui.lists.repaint import repaint_rows

_IMAGE_COLUMNS = ("Image", "Status", "Instances", "AP", "Next")
AP_COLUMN = 3  # per-image mask AP when comparing with ground truth (hidden otherwise)
NEXT_COLUMN = 4  # place in the "label next" order, 1 first (hidden until asked for)
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
NAME_ROOM_PX = 150  # what the file name column keeps when a column is added beside it
POINTER_REST_MS = 120  # the pointer resting this long on a row makes its image ready (not a pass over)
_ANY_STATUS = "All statuses"


class ImageListModel(QAbstractTableModel):
    """One row per image: file name, review status, instance count."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self._ids: list[int] = []
        self._rows: dict[int, int] = {}
        self.scores: dict[int, float | None] = {}  # image id -> AP@[.50:.95] (None: nothing to measure)
        self.ranks: dict[int, int] = {}  # image id -> place in the "label next" order (done images: none)
        self._kept: dict[int, int] = {}  # image id -> instances not rejected, counted when first shown

    def set_dataset(self, dataset: Dataset | None) -> None:
        if self.dataset is not None:
            self.dataset.unsubscribe(self._on_change)
        self.beginResetModel()
        self.dataset = dataset
        self._kept = {}
        self._ids = sorted(dataset.images) if dataset is not None else []  # by id, as the project reads them
        self._rows = {image_id: row for row, image_id in enumerate(self._ids)}
        self.endResetModel()
        if dataset is not None:
            dataset.subscribe(self._on_change)

    def image_id(self, row: int) -> int:
        return self._ids[row]

    def _reselect(self) -> None:
        if self.session.image_id is not None and self.model.dataset is self.session.dataset:
            self.select_image(self.session.image_id)

    def set_scores(self, scores: dict[int, float | None]) -> None:
        self.scores = dict(scores)
        if self._ids:
            self.dataChanged.emit(self.index(0, AP_COLUMN), self.index(len(self._ids) - 1, AP_COLUMN))

    def set_ranks(self, ranks: dict[int, int]) -> None:
        self.ranks = dict(ranks)
        if self._ids:
            self.dataChanged.emit(self.index(0, NEXT_COLUMN), self.index(len(self._ids) - 1, NEXT_COLUMN))

    def row_of(self, image_id: int) -> int:
        return self._rows[image_id]

    def _on_change(self, change: Change) -> None:
        if change.kind is ChangeKind.IMAGES_ADDED:
            self.set_dataset(self.dataset)
        elif change.kind is ChangeKind.IMAGES_CHANGED:
            for image in change.items:
                self._row_changed(image.id)
        elif change.kind in (ChangeKind.INSTANCES_ADDED, ChangeKind.INSTANCES_REMOVED):
            for image_id in {instance.image_id for instance in change.items}:
                self._kept.pop(image_id, None)
                self._row_changed(image_id)
        elif change.kind is ChangeKind.INSTANCES_CHANGED:  # a rejection, or taken back
            for image_id in {instance.image_id for instance in change.items}:
                if self._kept.pop(image_id, None) != self.instances_kept(image_id):
                    self._row_changed(image_id)

    def instances_kept(self, image_id: int) -> int:
        """The image's instances less the rejected predictions (kept only to be shown as rejected), as
        Statistics counts them; kept per image until one of its instances changes."""
        count = self._kept.get(image_id)
        if count is None:
            instances = self.dataset.instances_of(image_id)
            count = self._kept[image_id] = sum(inst.review is not Review.REJECTED for inst in instances)
        return count

    def _row_changed(self, image_id: int) -> None:
        row = self._rows.get(image_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(_IMAGE_COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return len(_IMAGE_COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _IMAGE_COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal and section == 2:
            return "Labels and predictions, not counting rejected predictions (as Statistics counts)"
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.dataset is None:
            return None
        image = self.dataset.images[self._ids[index.row()]]
        column = index.column()
        if role == SORT_ROLE:  # worst AP first; images with nothing to measure last
            if column == AP_COLUMN:
                score = self.scores.get(image.id)
                return 2.0 if score is None else score
            if column == NEXT_COLUMN:  # unranked (done) images last
                return self.ranks.get(image.id, len(self._ids) + 1)
            return self.data(index)
        unreadable = unreadable_reason(image)
        if role == Qt.ItemDataRole.DecorationRole and column == 0 and unreadable is not None:
            return _unreadable_icon()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return image.file_name
            if column == 1:
                return "unreadable" if unreadable is not None else image.status.value.replace("_", " ")
            if column == AP_COLUMN:
                score = self.scores.get(image.id)
                return "" if score is None else f"{score:.3f}"
            if column == NEXT_COLUMN:
                rank = self.ranks.get(image.id)
                return "" if rank is None else str(rank)
            return self.instances_kept(image.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{image.file_name}\n{image.width} x {image.height}"
            return tip if unreadable is None else f"{tip}\nCannot be decoded: {unreadable}"
        if role == Qt.ItemDataRole.UserRole:
            return image.status.value
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, AP_COLUMN, NEXT_COLUMN):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _unreadable_icon() -> QIcon:
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)


class _ImageFilter(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.search = ""
        self.status: str | None = None

    def filterAcceptsRow(self, row: int, parent) -> bool:
        model = self.sourceModel()
        name = model.data(model.index(row, 0, parent)) or ""
        status = model.data(model.index(row, 0, parent), Qt.ItemDataRole.UserRole)
        return self.search.lower() in name.lower() and (self.status is None or status == self.status)


class ImageListDock(QDockWidget):
    """Images with status and counts; search by name, filter by status; next/previous in shown order.

    It follows the session's document and image; choosing a row emits `image_activated`."""

    image_activated = Signal(object)  # an image id: 64-bit, past a Signal(int)
    image_pointed = Signal(object)  # the image of the row the pointer rests on (None: it left the list)

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__("Images", parent)
        self.session = session
        self.setObjectName("images_dock")
        self.model = ImageListModel(self)
        self.proxy = _ImageFilter(self)
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(placeholderText="Search file names…", clearButtonEnabled=True)
        self.status = QComboBox()
        self.status.addItem(_ANY_STATUS, None)
        for status in ImageStatus:
            self.status.addItem(status.value.replace("_", " "), status.value)
        self.view = QTreeView(rootIsDecorated=False, uniformRowHeights=True, alternatingRowColors=True)
        self.view.setModel(self.proxy)
        self.proxy.setSortRole(SORT_ROLE)
        self.view.header().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # dataset order until asked
        self.view.setSortingEnabled(True)  # a click on a header sorts; next / previous follow
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # The row the pointer rests on is likely the next click: its image is made ready meanwhile.
        self.view.setMouseTracking(True)
        self.view.entered.connect(self._pointed)
        self.view.viewport().installEventFilter(self)
        self._rest = QTimer(self, singleShot=True, interval=POINTER_REST_MS)
        self._rest.timeout.connect(self._rested)
        self._pointed_at: int | None = None
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names differ at the end: keep it shown
        self.view.header().setStretchLastSection(False)
        header = self.view.header()
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, header.ResizeMode.ResizeToContents)
        for column in (AP_COLUMN, NEXT_COLUMN):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
            self.view.setColumnHidden(column, True)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.status)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.view)
        self.setWidget(body)
        self.search.textChanged.connect(self._refilter)
        self.status.currentIndexChanged.connect(self._refilter)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self.model.modelReset.connect(self._reselect)  # images were added: keep the current one chosen
        session.subscribe(self._on_session)
        self.model.set_dataset(session.dataset)

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self.model.set_dataset(self.session.dataset)
        elif change.kind is SessionEvent.IMAGE and self.session.image_id is not None:
            self.select_image(self.session.image_id)

    def _reselect(self) -> None:
        if self.session.image_id is not None and self.model.dataset is self.session.dataset:
            self.select_image(self.session.image_id)

    def set_scores(self, scores: dict[int, float | None] | None) -> None:
        """Per-image AP in its own column (None hides it), so the list can be sorted worst first."""
        self.model.set_scores(scores or {})
        self.view.setColumnHidden(AP_COLUMN, scores is None)
        self._make_room()
        if scores is None and self.view.header().sortIndicatorSection() == AP_COLUMN:
            self.view.header().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            self.proxy.sort(-1)

    def set_ranks(self, ranks: dict[int, int] | None) -> None:
        """Each image's place in the "label next" order in its own column (None hides it)."""
        self.model.set_ranks(ranks or {})
        self.view.setColumnHidden(NEXT_COLUMN, ranks is None)
        self._make_room()
        if ranks is None and self.view.header().sortIndicatorSection() == NEXT_COLUMN:
            self.view.header().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            self.proxy.sort(-1)

    def _make_room(self) -> None:
        """A column shown (AP, Next) takes its width from the file names, which then all read "img_….png":
        the dock grows to leave them NAME_ROOM_PX, up to a third of the window."""
        window = self.parentWidget()
        if not isinstance(window, QMainWindow) or self.isFloating() or not self.isVisible():
            return
        header = self.view.header()
        others = sum(
            max(self.view.sizeHintForColumn(c), header.sectionSizeHint(c))
            for c in range(1, header.count())
            if not self.view.isColumnHidden(c)
        )
        needed = others + NAME_ROOM_PX + self.view.verticalScrollBar().sizeHint().width() + 16
        if self.width() < needed:
            window.resizeDocks([self], [min(needed, window.width() // 3)], Qt.Orientation.Horizontal)

    def sort_label_next(self) -> None:
        self.view.sortByColumn(NEXT_COLUMN, Qt.SortOrder.AscendingOrder)

    def sort_worst_first(self) -> None:
        self.view.sortByColumn(AP_COLUMN, Qt.SortOrder.AscendingOrder)

    def _refilter(self) -> None:
        self.proxy.beginFilterChange()  # Qt 6.10's pair; invalidateRowsFilter() is deprecated
        self.proxy.search = self.search.text()
        self.proxy.status = self.status.currentData()
        self.proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _pointed(self, index: QModelIndex) -> None:
        self._pointed_at = (
            self.model.image_id(self.proxy.mapToSource(index).row()) if index.isValid() else None
        )
        self._rest.start()

    def _rested(self) -> None:
        if self._pointed_at is not None:
            self.image_pointed.emit(self._pointed_at)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.view.viewport() and event.type() == QEvent.Type.Leave and self._pointed_at:
            self._rest.stop()
            self._pointed_at = None
            self.image_pointed.emit(None)
        return False

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.image_activated.emit(self.model.image_id(self.proxy.mapToSource(current).row()))

    def select_image(self, image_id: int) -> None:
        index = self.proxy.mapFromSource(self.model.index(self.model.row_of(image_id), 0))
        if index.isValid() and index != self.view.currentIndex():
            # the program's choice replaces the selection: `setCurrentIndex` reads the keys held, so
            # the image an undo (Ctrl+Z) went to was added to the last one, and both were pre-labelled
            flags = QItemSelectionModel.SelectionFlag
            self.view.selectionModel().setCurrentIndex(index, flags.ClearAndSelect | flags.Rows)
            self.view.scrollTo(index)
            repaint_rows(self.view)

    def neighbour(self, image_id: int | None, step: int) -> int | None:
        """The image `step` rows away in the list as shown (filtered), or None past either end."""
        count = self.proxy.rowCount()
        if not count:
            return None
        if image_id is None:
            row = 0 if step > 0 else count - 1
        else:
            current = self.proxy.mapFromSource(self.model.index(self.model.row_of(image_id), 0))
            row = current.row() + step if current.isValid() else 0
        if not 0 <= row < count:
            return None
        return self.model.image_id(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
