"""One way to run work off the GUI thread: a plain function in a small thread pool, its outcome back on
the GUI thread by queued signal, tagged so the caller can drop what is stale.

Decoding images, building overlay tiles, exporting, evaluating and GrabCut all use it; each owns a
`BackgroundWorker` with its own thread count (one thread each by default: two cores are shared with the
model process). The long-lived model worker is different (it owns a model and a child process) and
lives in `gui.prelabel.worker`. See docs/decisions/0011-one-worker-abstraction.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Job(QRunnable):
    def __init__(self, owner: BackgroundWorker, tag: object, work: Callable[[], object]) -> None:
        super().__init__()
        self._owner, self._tag, self._work = owner, tag, work

    def run(self) -> None:
        try:
            result, error = self._work(), None
        except Exception as exc:  # noqa: BLE001 - a worker reports, it never dies silently
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the owner (and its window) is gone
            self._owner._finished.emit(self._tag, result, error)


class BackgroundWorker(QObject):
    """`submit(work, tag)` runs `work()` in a worker thread; then `done(tag, result)` or
    `failed(tag, exception)` is emitted on the GUI thread."""

    done = Signal(object, object)
    failed = Signal(object, object)
    _finished = Signal(object, object, object)  # emitted in a worker thread, delivered queued

    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._running = 0
        self._finished.connect(self._deliver)

    def submit(self, work: Callable[[], object], tag: object = None, *, replace_queued: bool = False) -> None:
        """Run `work` when a thread is free. `replace_queued`: drop the jobs still waiting (they are
        stale now); a job already running finishes, and its caller drops it by its tag."""
        if replace_queued:
            self.pool.clear()
        self.pool.start(_Job(self, tag, work))

    @property
    def busy(self) -> bool:
        return self.pool.activeThreadCount() > 0

    def wait(self) -> None:
        """Drop queued jobs and block until the running ones end (closing, tests)."""
        self.pool.clear()
        self.pool.waitForDone()

    def drain(self) -> None:
        """Block until every job submitted has run, queued ones too (writes that must not be lost)."""
        self.pool.waitForDone()

    def _deliver(self, tag: object, result: object, error: object) -> None:
        if error is None:
            self.done.emit(tag, result)
        else:
            self.failed.emit(tag, error)
