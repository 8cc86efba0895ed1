"""Reviewing predictions in the main window: the Review menu and keys, the score slider, progress.

Y accepts and X rejects the selected predictions, then the next unreviewed one is selected; Tab and
Shift+Tab step through the image's unreviewed predictions (best score first, only those the slider
shows), and past the last one on to the next image in the list that has some; Ctrl+Enter accepts every shown prediction on the image, Ctrl+Shift+Enter on every image. Each is
one `core.review` edit on the undo stack, so it is undoable and the project store saves it. Editing a
prediction with the tools marks it `edited`, which counts as accepted. Ctrl+D marks the image done (or
not done again): how an image labelled by hand gets there.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMessageBox, QSlider

from annotator.core import review
from annotator.core.model import Change, ChangeKind, ImageStatus, Instance
from annotator.core.review_tally import ReviewTally
from annotator.core.rules import is_unreviewed_prediction
from annotator.core.session import SessionChange, SessionEvent
from annotator.core.wording import counted

SLIDER_STEPS = 100  # the slider's resolution: scores in hundredths


class ReviewActions(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.canvas = window.canvas
        self.editor = window.editor
        self.tally: ReviewTally | None = None
        self.actions: dict[str, QAction] = {}
        self._progress_timer = QTimer(self, singleShot=True, interval=0)
        self._progress_timer.timeout.connect(self.show_progress)
        self._build_menu()
        self._build_toolbar()
        self.session.subscribe(self._on_session)
        self._follow_document()
        self.canvas.installEventFilter(self)  # Tab would move the keyboard focus before any shortcut

    # -- construction -----------------------------------------------------------------------------
    def _add(self, menu, name: str, text: str, slot, keys: list[str]) -> None:
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(slot)
        menu.addAction(action)
        self.window.addAction(action)  # shortcuts work while a dock has focus
        self.actions[name] = action

    def _build_menu(self) -> None:
        bar = self.window.menuBar()
        menu = bar.addMenu("&Review")
        help_menu = next((a for a in bar.actions() if a.menu() and a.menu().title() == "&Help"), None)
        if help_menu is not None:  # Help stays last
            bar.insertMenu(help_menu, menu)
        self._add(menu, "accept", "&Accept prediction", self.accept_selected, ["Y"])
        self._add(menu, "reject", "&Reject prediction", self.reject_selected, ["X"])
        menu.addSeparator()
        self._add(menu, "next", "&Next unreviewed prediction", lambda: self.step(1), ["Tab"])
        self._add(menu, "previous", "&Previous unreviewed prediction", lambda: self.step(-1), ["Shift+Tab"])
        menu.addSeparator()
        self._add(
            menu, "accept_image", "Accept all shown on this &image", self.accept_image,
            ["Ctrl+Return", "Ctrl+Enter"],
        )  # fmt: skip
        self._add(
            menu, "accept_dataset", "Accept all above the score on every image…", self.accept_dataset,
            ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
        )  # fmt: skip
        menu.addSeparator()
        self._add(menu, "done", "Image &done", self.toggle_done, ["Ctrl+D"])
        self.actions["done"].setCheckable(True)
        self.actions["done"].setToolTip("This image is labelled (the status filter and statistics count it)")

    def _build_toolbar(self) -> None:
        toolbar = self.window.addToolBar("Review")
        toolbar.setObjectName("review_toolbar")
        toolbar.addWidget(QLabel(" Score ≥ "))
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=SLIDER_STEPS)
        self.slider.setFixedWidth(140)
        self.slider.setToolTip("Unreviewed predictions scoring less are hidden and not accepted")
        self.slider.setValue(round(float(self.window.settings.value("review/score", 0.0)) * SLIDER_STEPS))
        self.score_label = QLabel()
        self.score_label.setMinimumWidth(36)
        self.progress_label = QLabel()
        self.progress_label.setToolTip("Predictions accepted, rejected or edited, out of all predictions")
        toolbar.addWidget(self.slider)
        toolbar.addWidget(self.score_label)
        self.window.statusBar().addPermanentWidget(self.progress_label)  # always in sight
        self.slider.valueChanged.connect(self._on_slider)
        self._on_slider(self.slider.value())

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            back = event.key() == Qt.Key.Key_Backtab or event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            self.step(-1 if back else 1)
            return True
        return False

    # -- state ------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self.slider.value() / SLIDER_STEPS

    def _on_slider(self, value: int) -> None:
        self.score_label.setText(f"{value / SLIDER_STEPS:.2f}")
        self.window.settings.setValue("review/score", value / SLIDER_STEPS)
        self.session.set_min_score(value / SLIDER_STEPS)
        self._progress_timer.start()

    def _on_session(self, change: SessionChange) -> None:
        if change.kind is SessionEvent.DOCUMENT:
            self._follow_document()
        elif change.kind in (SessionEvent.IMAGE, SessionEvent.SELECTION, SessionEvent.VISIBILITY):
            self._progress_timer.start()

    def _follow_document(self) -> None:
        if self.tally is not None:
            self.tally.dataset.unsubscribe(self._on_change)
            self.tally.close()
            self.tally = None
        dataset = self.session.dataset
        if dataset is not None:
            self.tally = ReviewTally(dataset)
            dataset.subscribe(self._on_change)
        self._progress_timer.start()

    def _on_change(self, change: Change) -> None:
        if change.kind is not ChangeKind.CATEGORIES_CHANGED:
            self._progress_timer.start()  # many events in a row make one refresh

    def show_progress(self) -> None:
        image = self.session.image
        self.actions["done"].setEnabled(image is not None)
        self.actions["done"].setChecked(image is not None and image.status is ImageStatus.DONE)
        if self.tally is None:
            self.progress_label.setText("")
            return
        image_id = self.session.image_id
        here = self.tally.image(image_id) if image_id is not None else review.ReviewProgress(0, 0)
        overall = self.tally.overall()
        hidden = len(self.pending(visible_only=False)) - len(self.pending())
        text = f" Reviewed: this image {here.reviewed}/{here.total} · all images {overall.reviewed}/{overall.total}"
        if hidden:
            text += f" · {hidden} under the score hidden"
        self.progress_label.setText(text + " ")

    # -- queries ----------------------------------------------------------------------------------
    def pending(self, *, visible_only: bool = True, image_id: int | None = None) -> list[Instance]:
        """The unreviewed predictions of the image shown (or of `image_id`), best score first (those the
        slider shows)."""
        dataset = self.session.dataset
        image_id = self.session.image_id if image_id is None else image_id
        if dataset is None or image_id is None:
            return []
        found = [
            inst
            for inst in dataset.instances_of(image_id)
            if is_unreviewed_prediction(inst) and (not visible_only or self.session.is_visible(inst))
        ]
        return sorted(found, key=_order)

    # -- commands ---------------------------------------------------------------------------------
    def step(self, direction: int, *, across_images: bool = True) -> None:
        """Select the next (or previous) unreviewed prediction after the selected one, and centre it;
        past the image's last (or first) one, go on to the next (previous) image that has one."""
        pending = self.pending()
        current = self.editor.selected_instance
        if pending and current is None:
            target = pending[0] if direction > 0 else pending[-1]
        elif pending and direction > 0:
            target = next((i for i in pending if _order(i) > _order(current)), None)
        elif pending:
            target = next((i for i in reversed(pending) if _order(i) < _order(current)), None)
        else:
            target = None
        if target is None and not (across_images and self._step_to_image(direction)):
            if not pending:
                self.window.statusBar().showMessage("No unreviewed predictions shown on any image", 4000)
                return
            target = pending[0] if direction > 0 else pending[-1]  # none elsewhere: round this image
        if target is not None:
            self._select_and_centre(target)

    def _step_to_image(self, direction: int) -> bool:
        """Show the nearest image in the list's order, that way, with unreviewed predictions shown, and
        select its first (or last) one; False if there is none."""
        dock, image_id = self.window.images_dock, self.session.image_id
        while (image_id := dock.neighbour(image_id, direction)) is not None:
            found = self.pending(image_id=image_id)
            if found:
                self.window.show_image(image_id)
                self._select_and_centre(found[0] if direction > 0 else found[-1])
                name = self.session.dataset.images[image_id].file_name
                self.window.statusBar().showMessage(
                    f"{name}: {counted(len(found), 'prediction')} to review", 4000
                )
                return True
        return False

    def _select_and_centre(self, target: Instance) -> None:
        self.editor.select(target.id)
        layer = self.canvas.layers.get(target.id)
        if layer is not None:
            x0, y0, x1, y1 = layer.box
            self.canvas.centerOn(QPointF((x0 + x1) / 2, (y0 + y1) / 2))

    def _judge(self, make, verb: str) -> None:
        chosen = [i for i in self.editor.selected_instances if i.source.is_model]
        if not chosen:
            self.window.statusBar().showMessage(f"Select a prediction to {verb} (Tab selects the next)", 4000)
            return
        self.editor.push(make(self.session.dataset, chosen))
        if len(chosen) == 1:
            self.step(1, across_images=False) if self.pending() else self.editor.select(None)

    def accept_selected(self) -> None:
        self._judge(review.accept, "accept")

    def reject_selected(self) -> None:
        self._judge(review.reject, "reject")

    def toggle_done(self) -> None:
        """Mark the image shown done, or not done again (one undoable step)."""
        image = self.session.image
        if image is None:
            return
        done = image.status is not ImageStatus.DONE
        try:
            edit = review.mark_done(self.session.dataset, image.id, done)
        except ValueError:
            self.actions["done"].setChecked(False)
            edit = self._reject_the_rest()  # done once nothing is left to judge
            if edit is None:
                return
        self.editor.push(edit)
        self.show_progress()
        if edit is not None:
            self.window.statusBar().showMessage(f"{edit.text} (Ctrl+Z undoes it)", 4000)

    def _reject_the_rest(self):
        """The predictions left to judge on the image, rejected (which makes it done), if the person
        says so: those under the score are hidden, and no key reaches them."""
        pending = self.pending(visible_only=False)
        hidden = len(pending) - len(self.pending())
        under = f", {hidden} of them hidden under the score" if hidden else ""
        many = len(pending) != 1
        what = f"{len(pending)} prediction{'s' * many} on this image {'are' if many else 'is'} not judged yet"
        answer = QMessageBox.question(
            self.window,
            "Mark image done",
            f"{what}{under}.\n\nReject {'them' if many else 'it'} and mark the image done? (Ctrl+Z undoes "
            "both.) Cancel, and Y / Ctrl+Enter accept what is right first.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return None
        return review.reject(self.session.dataset, pending)

    def accept_image(self) -> None:
        image_id = self.session.image_id
        if image_id is None:
            return
        edit = review.accept_above(self.session.dataset, [image_id], self.threshold)
        self._report(edit, "on this image")

    def accept_dataset(self) -> None:
        dataset = self.session.dataset
        if dataset is None:
            return
        edit = review.accept_above(dataset, list(dataset.images), self.threshold)
        self._report(edit, "on every image")

    def _report(self, edit, where: str) -> None:
        if edit is None:
            self.window.statusBar().showMessage(
                f"No unreviewed prediction scores {self.threshold:.2f} or more {where}", 5000
            )
            return
        self.editor.push(edit)
        self.window.statusBar().showMessage(f"{edit.text} (score ≥ {self.threshold:.2f}) {where}", 5000)


def _order(instance: Instance) -> tuple[float, int]:
    return (-(instance.score or 0.0), instance.id)


def install_review(window) -> ReviewActions:
    window.review = ReviewActions(window)
    return window.review
