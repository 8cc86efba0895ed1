"""The "Consistency checks" dock: the checks of `core.checks` (no model) grouped by kind, worst first.

They run in the background on a snapshot; an edit made meanwhile drops the result, and the list shown
then says it is out of date until it is run again. A row is one click from its instance (or from the
place where a polygon crosses itself). "Fix" applies the finding's usual repair
(`checks.suggested_edit`: delete a duplicate, remove fragments, bring a hidden instance to the front,
clip to the image) as one undoable edit, and is refused (saying so) when the instance changed since
the checks ran. Undone, its rows come back (`TakenFixes`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from annotator.core.checks import CheckKind, CheckOptions, CheckReport, Finding, run_checks, suggested_edit
from annotator.core.edits import Edit
from annotator.core.model import Dataset
from annotator.core.session import SessionChange, SessionEvent
from annotator.gui.lists.repaint import repaint_rows
from annotator.gui.review.navigate import (
    chosen_by_the_person,
    go_to,
    prefetch_below,
    set_enabled_keeping_focus,
)
from annotator.gui.review.snapshot_job import Outcome, SnapshotJob
from annotator.gui.review.taken_fixes import TakenFixes

COLUMNS = ("Finding", "Image", "Severity", "Problem")
INDEX_ROLE = Qt.ItemDataRole.UserRole  # a finding's place in the report (None on a kind's row)
KIND_ROLE = Qt.ItemDataRole.UserRole + 1  # a kind's row: its CheckKind value
LEFT_OUT_ROLE = Qt.ItemDataRole.UserRole + 2  # a kind's row: findings past MAX_ROWS_PER_KIND, not listed
MAX_ROWS_PER_KIND = 2000  # the worst ones; 50,000 rows took about a second to build on the GUI thread
POINT_BOX = 24.0  # px around a self-crossing, shown in the middle of the view


class ChecksDock(QDockWidget):
    def __init__(self, window) -> None:
        super().__init__("Consistency checks", window)  # as the Review menu names it
        self.setObjectName("checks_dock")
        self.window, self.session, self.editor = window, window.session, window.editor
        self.report: CheckReport | None = None
        self.snapshot: Dataset | None = None
        self.options = CheckOptions()
        self._fix: Edit | None = None  # the current row's repair, when it has one
        self.taken = TakenFixes(self.editor.history.stack)  # by instance id
        self._hidden_fixed: set[int] = set()  # the repaired instances whose rows the list leaves out
        self._filling = False
        self.job = SnapshotJob(self.session, self._make_work, self)
        self._rerun = QTimer(self, singleShot=True, interval=400)
        self._rerun.timeout.connect(self.run)
        self._build()
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(lambda message: self.state_label.setText(f"Cannot run the checks: {message}"))
        self.job.busy_changed.connect(self._show_state)
        self.job.stale_changed.connect(self._show_state)
        self.visibilityChanged.connect(self._on_visible)
        self.editor.history.stack.indexChanged.connect(self._on_history_moved)
        self.session.subscribe(self._on_session)

    def _build(self) -> None:
        self.fragment_spin = QSpinBox(minimum=1, maximum=1_000_000, suffix=" px")
        self.fragment_spin.setValue(self.options.min_fragment_pixels)
        self.fragment_spin.setToolTip(
            "Parts smaller than this are fragments (as Remove fragments counts them)"
        )
        self.fragment_spin.valueChanged.connect(self._rerun.start)
        self.run_button = QPushButton("Run checks")
        self.run_button.clicked.connect(self.run)
        options = QHBoxLayout()
        options.addWidget(QLabel("Fragments under"))
        options.addWidget(self.fragment_spin)
        options.addStretch(1)
        options.addWidget(self.run_button)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.tree = QTreeWidget(uniformRowHeights=True, alternatingRowColors=True)
        self.tree.setHeaderLabels(COLUMNS)
        header = self.tree.header()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, header.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_current)
        self._collapsed: set[str] = set()  # kinds the person folded away: kept folded when refilled
        self.tree.itemCollapsed.connect(lambda item: self._fold(item, True))
        self.tree.itemExpanded.connect(lambda item: self._fold(item, False))
        self.tree.itemClicked.connect(lambda item, _column: self._go(item))
        self.fix_button = QPushButton("Fix")
        self.fix_button.setToolTip("The usual repair, as one undoable edit")
        self.fix_button.clicked.connect(self.fix_current)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(options)
        layout.addWidget(self.state_label)
        layout.addWidget(self.tree, 1)
        fixing = QHBoxLayout()
        fixing.addWidget(self.fix_button)
        fixing.addStretch(1)
        layout.addLayout(fixing)
        self.setWidget(body)
        self._update_fix()

    # -- running ----------------------------------------------------------------------------------
    def _make_work(self):
        options = CheckOptions(min_fragment_pixels=self.fragment_spin.value())
        return lambda snapshot: (run_checks(snapshot, options), options)

    def run(self) -> None:
        self.job.run()
        self.show()  # after the run started: being shown runs the checks only when nothing runs
        QTimer.singleShot(0, self.raise_)  # in front of its tabs

    def _on_visible(self, visible: bool) -> None:
        if visible and self.job.outcome is None and not self.job.busy:
            self.job.run()

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self.report, self.snapshot = None, None
            self.taken.clear()
            self._fill()
            if self.isVisible() and self.session.dataset is not None:
                self.job.run()

    # -- the list ---------------------------------------------------------------------------------
    def _on_result(self, outcome: Outcome) -> None:
        (self.report, self.options), self.snapshot = outcome.value, outcome.snapshot
        self.taken.clear()
        self._fill()

    def _fill(self) -> None:
        self._filling = True
        self.tree.clear()
        report = self.report
        self._hidden_fixed = self.taken.applied()
        if report is not None:
            for kind in CheckKind:
                findings = [
                    (i, f)
                    for i, f in enumerate(report.findings)
                    if f.kind is kind and f.instance_id not in self._hidden_fixed
                ]
                if not findings:
                    continue
                group = QTreeWidgetItem()
                group.setData(0, KIND_ROLE, kind.value)
                group.setData(0, LEFT_OUT_ROLE, max(len(findings) - MAX_ROWS_PER_KIND, 0))
                findings = findings[:MAX_ROWS_PER_KIND]
                self.tree.addTopLevelItem(group)
                group.setFirstColumnSpanned(True)
                group.addChildren([self._row(index, finding) for index, finding in findings])
                group.setExpanded(kind.value not in self._collapsed)
                _count_in_title(group)
        self._filling = False
        repaint_rows(self.tree)
        self._show_state()
        self._update_fix()

    def _fold(self, item: QTreeWidgetItem, collapsed: bool) -> None:
        """A group folded or opened by the person stays so when the list is refilled (after a fix, an
        undo, a new run); they opened again at every undo."""
        kind = item.data(0, KIND_ROLE)
        if kind is None or self._filling:
            return
        (self._collapsed.add if collapsed else self._collapsed.discard)(kind)

    def _row(self, index: int, finding: Finding) -> QTreeWidgetItem:
        snapshot = self.snapshot
        instance = snapshot.instances.get(finding.instance_id)
        category = snapshot.categories.get(instance.category_id) if instance is not None else None
        name = category.name if category is not None else "?"
        image = snapshot.images[finding.image_id]
        item = QTreeWidgetItem(
            [f"#{finding.instance_id} {name}", image.file_name, f"{finding.severity:.2f}", finding.message]
        )
        item.setData(0, INDEX_ROLE, index)
        item.setToolTip(3, finding.message)
        item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _show_state(self, *_args) -> None:
        report = self.report
        if self.job.busy:
            text = "Checking…"
        elif report is None:
            text = "The instances changed during the checks: Run checks again." if self.job.stale else ""
        else:
            found = len(report.findings)
            text = f"{report.checked} instances checked: " + (
                f"{found} finding{'s' * (found != 1)}" if found else "nothing found"
            )
            if self.job.stale:
                text += ". Edited since: Run checks to check again."
        self.state_label.setText(text)
        self.setWindowTitle("Consistency checks" + (" (checking…)" if self.job.busy else ""))

    def current_finding(self) -> Finding | None:
        item = self.tree.currentItem()
        index = None if item is None else item.data(0, INDEX_ROLE)
        return None if index is None or self.report is None else self.report.findings[index]

    def _on_current(self, current: QTreeWidgetItem | None, _previous) -> None:
        self._update_fix()
        if not self._filling and chosen_by_the_person(current):
            self._go(current)

    def _go(self, item: QTreeWidgetItem) -> None:
        index = item.data(0, INDEX_ROLE)
        if index is None or self.report is None:
            return
        finding = self.report.findings[index]
        if finding.instance_id not in self.session.dataset.instances:
            self._say(f"#{finding.instance_id} is no longer in the project: Run checks to check again")
        box = None
        if finding.point is not None:
            x, y = finding.point
            box = (x - POINT_BOX / 2, y - POINT_BOX / 2, POINT_BOX, POINT_BOX)
        if go_to(self.window, finding.image_id, finding.instance_id, box=box):
            prefetch_below(self.window, self.tree, item, self._image_of)

    def _image_of(self, item: QTreeWidgetItem) -> int | None:
        index = item.data(0, INDEX_ROLE)
        return None if index is None or self.report is None else self.report.findings[index].image_id

    # -- fixing -----------------------------------------------------------------------------------
    def _unchanged(self, finding: Finding) -> bool:
        live, seen = self.session.dataset, self.snapshot
        ids = [finding.instance_id] + ([finding.other_instance_id] if finding.other_instance_id else [])
        return all(live.instances.get(i) is seen.instances.get(i) for i in ids)

    def _update_fix(self) -> None:
        finding = self.current_finding()
        self._fix = None
        if finding is not None and self._unchanged(finding):
            self._fix = suggested_edit(self.session.dataset, finding, self.options)
        set_enabled_keeping_focus(self.fix_button, self._fix is not None, self.tree)
        text = "Fix" if self._fix is None else f"Fix: {self._fix.text}"
        if finding is not None and self._fix is None:  # why there is none, in words, not only a tooltip
            text = "No fix: needs your judgement"
            if finding.instance_id not in self.session.dataset.instances:
                text = f"#{finding.instance_id} was deleted since the checks ran"
            elif not self._unchanged(finding):
                text = "Changed since the checks ran: Run checks"
        self.fix_button.setText(text)

    def fix_current(self) -> None:
        finding = self.current_finding()
        if finding is None or self._fix is None:
            return
        if not self._unchanged(finding):  # the button follows edits; this is the last guard
            self._update_fix()
            self._say("This instance changed since the checks ran: Run checks to check it again")
            return
        edit = suggested_edit(self.session.dataset, finding, self.options)  # made now: other edits since
        if edit is None:
            return
        self.taken.push(finding.instance_id, edit, self.editor.push)
        self._hidden_fixed.add(finding.instance_id)
        self._say(f"{edit.text} (Ctrl+Z undoes it)")
        self._drop_rows_of(finding.instance_id)

    def _on_history_moved(self, _index: int) -> None:
        """Any edit, undo or redo: the Fix button follows the current row's instance; a repair undone
        brings its rows back (the first selected and shown), redone takes them out again."""
        if self.report is None or self.session.dataset is None:
            return  # (a new document clears the history: its DOCUMENT change starts afresh)
        if not self.taken or self.taken.applied() == self._hidden_fixed:
            finding = self.current_finding()
            if finding is not None and (self._fix is None or not self._unchanged(finding)):
                self._update_fix()  # cheap unless it may fix again: never a repair made per brush dab
            return
        before = self._hidden_fixed
        self._fill()
        back = before - self._hidden_fixed
        for row in _finding_rows(self.tree):
            if self.report.findings[row.data(0, INDEX_ROLE)].instance_id in back:
                self.tree.setCurrentItem(row)
                self.tree.scrollToItem(row)
                break

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 8000)

    def _drop_rows_of(self, instance_id: int) -> None:
        """Take out the rows of the instance just repaired; go to the row after the current one."""
        rows = _finding_rows(self.tree)
        position = rows.index(self.tree.currentItem())
        self._filling = True  # Qt moves the current row itself as rows go: no navigation meanwhile
        for g in range(self.tree.topLevelItemCount() - 1, -1, -1):
            group = self.tree.topLevelItem(g)
            for c in range(group.childCount() - 1, -1, -1):
                if self.report.findings[group.child(c).data(0, INDEX_ROLE)].instance_id == instance_id:
                    group.takeChild(c)
            if group.childCount():
                _count_in_title(group)
            else:
                self.tree.takeTopLevelItem(g)
        still = [row for row in rows if row.treeWidget() is not None]
        following = next(
            (r for r in rows[position + 1 :] if r.treeWidget() is not None), still[-1] if still else None
        )
        self.tree.setCurrentItem(following)
        self._filling = False
        if following is not None:
            self._go(following)
        self._update_fix()


def _finding_rows(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    return [group.child(c) for g in range(tree.topLevelItemCount())
            for group in [tree.topLevelItem(g)] for c in range(group.childCount())]  # fmt: skip


def _count_in_title(group: QTreeWidgetItem) -> None:
    left_out = group.data(0, LEFT_OUT_ROLE)
    more = f", {left_out} more not listed: run the checks again after fixing these" if left_out else ""
    group.setText(0, f"{group.data(0, KIND_ROLE)} ({group.childCount()}{more})")
