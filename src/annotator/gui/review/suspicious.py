"""The "Suspicious labels" dock: the label audit (`core.audit`) as a queue, worst first.

The predictions audited are the project's own unreviewed ones, or a file the person chooses (COCO
results, or COCO with scores: `io.predictions`). The audit runs in the background on a snapshot; an edit
made meanwhile drops its result, and the queue shown then says it is out of date until it is run again.
A row is one click from its label (or, for a possibly missing one, from the model's instance); the
suggested version is drawn beside it as a dashed outline. Taking it (the model's version, or the label
moved onto the picture's edge) is one undoable edit (`audit.fix_edit`), refused when the label changed
since the audit; undone, its flag comes back to the queue. "Dismiss" is remembered in the project file
(`io.dismissed`), so the flag stays away after reopening and from `annotator audit`.
"""

from __future__ import annotations

import contextlib
import html
import sqlite3
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.audit import (
    AuditOptions,
    AuditReport,
    Evidence,
    FlagKind,
    LabelFlag,
    audit,
    fix_edit,
    own_predictions,
)
from annotator.core.model import Dataset
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.lists.repaint import repaint_rows
from annotator.gui.review.navigate import (
    ModelOutline,
    chosen_by_the_person,
    go_to,
    prefetch_below,
    set_enabled_keeping_focus,
)
from annotator.gui.review.snapshot_job import Outcome, SnapshotJob
from annotator.gui.review.taken_fixes import TakenFixes
from annotator.io.dismissed import dismiss, dismissed_keys
from annotator.io.errors import DatasetError
from annotator.io.image_pixels import ImagePixels
from annotator.io.predictions import load_predictions

COLUMNS = ("Suspicion", "Kind", "What", "Image")
PREDICTIONS_KEY = "audit_predictions"  # the project's setting: the predictions file audited ("": its own)
MIN_SCORE_KEY = "audit_min_score"
KEY_ROLE = Qt.ItemDataRole.UserRole
OWN = "the project's unreviewed predictions"
MAX_ROWS = 5000  # the worst ones; 50,000 rows took about a second to build on the GUI thread
PROGRESS_MS = 250  # how often a running audit's count of images read is shown


def audit_work(
    path: Path | None,
    root: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    options: AuditOptions | None = None,
) -> Callable[[Dataset], AuditReport]:
    """The audit of a snapshot against its own predictions (`path` None) or a predictions file; with the
    images' folder `root`, labels are also checked against the pictures (edges, colours), and
    `progress(done, total)` hears of each image read (from the worker thread)."""

    def work(snapshot: Dataset) -> AuditReport:
        predictions = own_predictions(snapshot) if path is None else load_predictions(path, snapshot)
        pixels = None if root is None else ImagePixels(root)
        return audit(snapshot, predictions, options, pixels=pixels, progress=progress)

    return work


def _remembered(store) -> tuple[Path | None, float | None]:
    """The predictions file (None: the project's own, or a file no longer there) and the threshold the
    project's audit used last."""
    if store is None:
        return None, None
    try:
        chosen, threshold = store.meta(PREDICTIONS_KEY), store.meta(MIN_SCORE_KEY)
    except (DatasetError, sqlite3.Error):
        return None, None
    path = Path(chosen) if chosen else None
    try:
        score = float(threshold) if threshold else None
    except ValueError:
        score = None
    return (path if path is not None and path.is_file() else None), (
        score if score is not None and 0.0 <= score <= 1.0 else None
    )


def describe(flag: LabelFlag, dataset: Dataset) -> str:
    """What a row says about a flag, with class names: "cat → dog", "dog (0.93)", "cat, IoU 0.62"."""

    def name(category_id: int) -> str:
        category = dataset.categories.get(category_id)
        return category.name if category is not None else f"class {category_id}"

    label = dataset.instances.get(flag.instance_id) if flag.instance_id is not None else None
    prediction = flag.prediction
    if flag.kind is FlagKind.MISSING:
        score = 1.0 if prediction.score is None else prediction.score
        return f"{name(prediction.category_id)} ({score:.2f}) not labelled"
    label_name = name(label.category_id) if label is not None else f"instance {flag.instance_id}"
    if flag.kind is FlagKind.SPURIOUS:
        return f"{label_name}, no prediction"
    if flag.kind is FlagKind.CLASS_SWAP:
        return f"{label_name} → {name(prediction.category_id)}"
    if flag.evidence[:1] == (Evidence.EDGES,):
        return f"{label_name}, off the image's edge"
    return f"{label_name}, IoU {flag.iou:.2f}"


def kind_text(flag: LabelFlag) -> str:
    """The kind, and who raised it: "bad outline (edges, model)"."""
    return (
        f"{flag.kind.value} ({', '.join(e.value for e in flag.evidence)})"
        if flag.evidence
        else flag.kind.value
    )


def fix_text(flag: LabelFlag | None, dataset: Dataset | None) -> str:
    """What the fix button does for this flag."""
    if flag is None:
        return "Take the suggested fix"
    if flag.kind is FlagKind.MISSING:
        return "Add the model's instance"
    if flag.kind is FlagKind.SPURIOUS:
        return "Delete the label"
    if flag.kind is FlagKind.CLASS_SWAP:
        category = dataset.categories.get(flag.prediction.category_id) if dataset is not None else None
        return f"Make it {category.name if category else f'class {flag.prediction.category_id}'}"
    if flag.evidence[:1] == (Evidence.EDGES,):
        return "Move the outline onto the edge"
    return "Take the model's outline"


class SuspiciousLabelsDock(QDockWidget):
    def __init__(self, window) -> None:
        super().__init__("Suspicious labels", window)
        self.setObjectName("suspicious_labels_dock")
        self.window, self.session, self.editor = window, window.session, window.editor
        self.predictions_path: Path | None = None
        self.dismissed: set[str] = set()
        self.report: AuditReport | None = None
        self.snapshot: Dataset | None = None
        self.flags: dict[str, LabelFlag] = {}  # shown, by key
        self.taken = TakenFixes(self.editor.history.stack)  # by flag key
        self._hidden_fixed: set[str] = set()  # the fixed flags the queue leaves out as filled
        self._filling = False
        self.outline = ModelOutline(window)
        self.images_read = (0, 0)  # (done, total) of the running audit, written by its worker thread
        self._run: object | None = None
        self.job = SnapshotJob(self.session, self._work, self)
        self.progress_timer = QTimer(self, interval=PROGRESS_MS, timeout=self._show_state)
        self._build()
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        self.job.busy_changed.connect(self._show_state)
        self.job.stale_changed.connect(self._show_state)
        self.visibilityChanged.connect(self._on_visible)
        self.editor.history.stack.indexChanged.connect(self._on_history_moved)
        self.session.subscribe(self._on_session)
        self._follow_document()

    def _build(self) -> None:
        self.source_label = QLabel(f"Predictions: {OWN}")
        buttons = QHBoxLayout()
        buttons.addWidget(self.source_label, 1)
        for text, slot, tip in (
            ("Own predictions", self.use_own_predictions, "Audit against the project's unreviewed predictions"),
            ("Predictions file…", self.choose_file, "Audit against a COCO results file or COCO with scores"),
            ("Run audit", self.run, "Compare the predictions with the labels again"),
        ):  # fmt: skip
            button = QPushButton(text, toolTip=tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        self.min_score = QDoubleSpinBox(
            decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05, value=AuditOptions().min_score,
            prefix="Score ≥ ", toolTip="Predictions scoring less are not used: a weak model's are noise",
        )  # fmt: skip
        self.min_score.editingFinished.connect(self._threshold_chosen)
        buttons.insertWidget(1, self.min_score)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.tree = QTreeWidget(rootIsDecorated=False, uniformRowHeights=True, alternatingRowColors=True)
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemClicked.connect(lambda item, _column: self._go(item))
        self.take_button = QPushButton(fix_text(None, None), toolTip="One undoable edit")
        self.dismiss_button = QPushButton("Dismiss", toolTip="Not an error: hide it, also after reopening")
        self.take_button.clicked.connect(self.take_model_version)
        self.dismiss_button.clicked.connect(self.dismiss_current)
        actions = QHBoxLayout()
        actions.addWidget(self.take_button)
        actions.addWidget(self.dismiss_button)
        actions.addStretch(1)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.state_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(actions)
        self.setWidget(body)
        self._update_buttons()

    # -- the predictions and the run --------------------------------------------------------------
    def use_own_predictions(self) -> None:
        self._show_source(None)
        self._remember(PREDICTIONS_KEY, "")
        self.run()

    def choose_file(self) -> None:
        start = self.predictions_path or self._project_folder()
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Predictions to audit the labels with",
            str(start or ""),
            "COCO JSON (*.json);;All files (*)",
        )
        if path:
            self.use_file(Path(path))

    def use_file(self, path: Path) -> None:
        self._show_source(Path(path).absolute())
        self._remember(PREDICTIONS_KEY, str(self.predictions_path))
        self.run()

    def _show_source(self, path: Path | None) -> None:
        self.predictions_path = path
        self.source_label.setText(f"Predictions: {OWN if path is None else path.name}")
        self.source_label.setToolTip("" if path is None else str(path))

    def _threshold_chosen(self) -> None:
        self._remember(MIN_SCORE_KEY, f"{self.min_score.value():.2f}")
        self.run()

    def _remember(self, key: str, value: str) -> None:
        """The audit's predictions and threshold are the project's: they come back when it is reopened."""
        store = getattr(self.session.document, "store", None)
        if store is not None:
            with contextlib.suppress(DatasetError, sqlite3.Error):
                store.set_meta(key, value)

    def _work(self) -> Callable[[Dataset], AuditReport]:
        """A new run's work; only its own progress is shown (an older run may still be finishing)."""
        run = self._run = object()
        self.images_read = (0, 0)

        def on_image_read(done: int, total: int) -> None:  # on the worker thread: kept, no Qt call here
            if self._run is run:
                self.images_read = (done, total)

        options = AuditOptions(min_score=self.min_score.value())
        return audit_work(self.predictions_path, self._root(), on_image_read, options)

    def run(self) -> None:
        self.job.run()
        self.show()  # after the run started: being shown runs the audit only when nothing runs
        QTimer.singleShot(0, self.raise_)  # in front of its tabs

    def _on_visible(self, visible: bool) -> None:
        if visible and self.job.outcome is None and not self.job.busy:
            self.job.run()

    # -- results ----------------------------------------------------------------------------------
    def _on_result(self, outcome: Outcome) -> None:
        self.report, self.snapshot = outcome.value, outcome.snapshot
        self.taken.clear()
        self._fill()

    def _on_failed(self, message: str) -> None:
        """No queue rather than the last one under a source it did not come from."""
        self.report, self.snapshot = None, None
        self._fill()
        self.state_label.setText(f"<span style='color:#c00000'>Cannot audit: {html.escape(message)}</span>")

    def _fill(self) -> None:
        self._filling = True
        self.tree.clear()
        self.flags = {}
        self._hidden_fixed = self.taken.applied()
        live = self.session.dataset
        for flag in self.report.flags if self.report is not None else ():
            if flag.key in self.dismissed or flag.key in self._hidden_fixed:
                continue
            if len(self.flags) == MAX_ROWS:
                break
            image = live.images.get(flag.image_id)
            what, name = describe(flag, self.snapshot), image.file_name if image else "?"
            item = QTreeWidgetItem([f"{flag.suspicion:.2f}", kind_text(flag), what, name])
            item.setData(0, KEY_ROLE, flag.key)
            item.setTextAlignment(0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for column in range(len(COLUMNS)):
                item.setToolTip(column, flag.message)
            self.tree.addTopLevelItem(item)
            self.flags[flag.key] = flag
        self._filling = False
        repaint_rows(self.tree)
        self._show_state()
        self._update_buttons()

    def _show_state(self, *_args) -> None:
        if self.job.busy != self.progress_timer.isActive():
            (self.progress_timer.start if self.job.busy else self.progress_timer.stop)()
        if self.job.busy:
            done, total = self.images_read
            text = f"Auditing… {done} of {total} images" if total else "Auditing…"
        elif self.report is None:
            text = "" if not self.job.stale else "The labels changed during the audit: Run audit again."
        else:
            report = self.report
            hidden = sum(1 for f in report.flags if f.key in self.dismissed)
            text = (
                f"{report.images} images audited ({report.labels} labels, {report.predictions} predictions):"
                f" {len(self.flags)} to look at" + (f", {hidden} dismissed" if hidden else "")
            )
            if len(report.flags) - hidden > MAX_ROWS:
                text += f" (the worst {MAX_ROWS} of {len(report.flags) - hidden} listed)"
            if report.unread:
                count = len(report.unread)
                text += (
                    f"; {count} image{'s' if count > 1 else ''} could not be read, outlines not checked there"
                )
            weak = report.weak_predictions()
            if weak is not None:
                text += f". {weak[0].upper()}{weak[1:]}"
            if report.images == 0:
                text = "Nothing to audit: an image needs labels (accepted, edited or drawn) and predictions"
            if self.job.stale:
                text += ". Edited since: Run audit to check again"
            text += "."
        self.state_label.setText(text)
        self.setWindowTitle("Suspicious labels" + (" (auditing…)" if self.job.busy else ""))

    # -- rows -------------------------------------------------------------------------------------
    def current_flag(self) -> LabelFlag | None:
        item = self.tree.currentItem()
        return None if item is None else self.flags.get(item.data(0, KEY_ROLE))

    def _on_current(self, current: QTreeWidgetItem | None, _previous) -> None:
        self._update_buttons()
        if not self._filling and chosen_by_the_person(current):
            self._go(current)

    def _go(self, item: QTreeWidgetItem) -> None:
        flag = self.flags.get(item.data(0, KEY_ROLE))
        if flag is None:
            return
        prediction, live = flag.prediction, self.session.dataset
        own = prediction is not None and prediction.id in live.instances
        target = flag.instance_id if flag.instance_id is not None else (prediction.id if own else None)
        box = None
        if target is None and prediction is not None:
            image = live.images[flag.image_id]
            box = prediction.geometry.bbox(image.height, image.width)
        if not go_to(self.window, flag.image_id, target, box=box):
            return
        # the selected instance shows it already: the project's own prediction, or the label renamed
        selected = live.instances.get(target) if target is not None else None
        shown_already = prediction is None or (
            selected is not None and selected.geometry is prediction.geometry
        )
        self.outline.show(flag.image_id, None if shown_already else prediction.geometry)
        prefetch_below(self.window, self.tree, item, self._image_of)

    def _image_of(self, item: QTreeWidgetItem) -> int | None:
        flag = self.flags.get(item.data(0, KEY_ROLE))
        return None if flag is None else flag.image_id

    def _update_buttons(self) -> None:
        flag = self.current_flag()
        chosen = flag is not None
        self.take_button.setText(fix_text(flag, self.snapshot))
        set_enabled_keeping_focus(self.take_button, chosen, self.tree)
        set_enabled_keeping_focus(self.dismiss_button, chosen, self.tree)

    def _unchanged(self, flag: LabelFlag) -> bool:
        """Whether the label (and the project's own prediction) are as the audit saw them."""
        live, seen = self.session.dataset, self.snapshot
        ids = [] if flag.instance_id is None else [flag.instance_id]
        if flag.prediction is not None and flag.prediction.id in seen.instances:
            ids.append(flag.prediction.id)
        return all(live.instances.get(i) is seen.instances.get(i) for i in ids)

    def take_model_version(self) -> None:
        flag = self.current_flag()
        if flag is None:
            return
        if not self._unchanged(flag):
            self._say("This label changed since the audit: Run audit to check it again")
            return
        edit = fix_edit(self.session.dataset, flag)
        self.taken.push(flag.key, edit, self.editor.push)
        self._hidden_fixed.add(flag.key)
        self._say(f"{edit.text} (Ctrl+Z undoes it)")
        self._drop_current()

    def dismiss_current(self) -> None:
        flag = self.current_flag()
        if flag is None:
            return
        self.dismissed.add(flag.key)
        store = getattr(self.session.document, "store", None)
        if store is not None:
            try:
                dismiss(store, [flag.key])
            except DatasetError as error:
                self._say(f"Dismissed for this session only: {error}")
        self._drop_current()

    def _drop_current(self) -> None:
        """Take the current row out and go to the one that took its place (work down the queue)."""
        item = self.tree.currentItem()
        row = self.tree.indexOfTopLevelItem(item)
        self.flags.pop(item.data(0, KEY_ROLE), None)
        self.outline.clear()
        self._filling = True  # Qt moves the current row itself as rows go: no navigation meanwhile
        self.tree.takeTopLevelItem(row)
        following = self.tree.topLevelItem(min(row, self.tree.topLevelItemCount() - 1))
        self.tree.setCurrentItem(following)
        self._filling = False
        repaint_rows(self.tree)
        if following is not None:
            self._go(following)
        self._update_buttons()
        self._show_state()

    def _on_history_moved(self, _index: int) -> None:
        """A fix undone brings its flag back where the audit ranked it, selected and shown; redone, it
        goes again."""
        if not self.taken or self.report is None or self.session.dataset is None:
            return  # (a new document clears the history: its _follow_document starts afresh)
        if self.taken.applied() == self._hidden_fixed:
            return
        before = set(self.flags)
        self._fill()
        back = [key for key in self.flags if key not in before]
        if back:
            self._select(back[-1])

    def _select(self, key: str) -> None:
        """The row of `key` made current, its label shown with the model's version beside it."""
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.data(0, KEY_ROLE) == key:
                self.tree.setCurrentItem(item)
                self.tree.scrollToItem(item)
                return

    # -- the document -----------------------------------------------------------------------------
    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self._follow_document()

    def _project_folder(self) -> Path | None:
        path = getattr(self.session.document, "path", None)
        return None if path is None else Path(path).parent

    def _root(self) -> Path | None:
        document = self.session.document
        root = getattr(document, "root", None)
        return None if root is None else Path(root)

    def _follow_document(self) -> None:
        store = getattr(self.session.document, "store", None)
        self.dismissed = set(dismissed_keys(store)) if store is not None else set()
        chosen, threshold = _remembered(store)
        self._show_source(chosen)  # never a file chosen for another project's images
        self.min_score.setValue(AuditOptions().min_score if threshold is None else threshold)
        self.report, self.snapshot = None, None
        self.taken.clear()
        self._fill()
        if self.isVisible() and self.session.dataset is not None:
            self.job.run()

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)
