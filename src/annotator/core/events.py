"""One event channel with listeners that cannot break each other, and that can be held back in a batch.

napari's `EventEmitter` is the model: a listener that raises is reported and the others still run. For
us this is data safety, not tidiness: the project store is one listener among the canvas, the docks and
the review tally, and a bug in any of them must never stop an edit from being saved.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

Event = TypeVar("Event")
Listener = Callable[[Event], None]
ErrorHandler = Callable[[BaseException, Callable, object], None]

_log = logging.getLogger("annotator.events")


def _log_error(error: BaseException, listener: Callable, event: object) -> None:
    _log.error("listener %r failed on %r", listener, event, exc_info=error)


_error_handlers: list[ErrorHandler] = [_log_error]


def add_error_handler(handler: ErrorHandler) -> None:
    """Also tell `handler` of every failing listener (the window shows it in the status bar)."""
    _error_handlers.append(handler)


def remove_error_handler(handler: ErrorHandler) -> None:
    with contextlib.suppress(ValueError):
        _error_handlers.remove(handler)


def report_listener_error(error: BaseException, listener: Callable, event: object) -> None:
    for handler in list(_error_handlers):
        with contextlib.suppress(Exception):  # a broken handler must not hide the others either
            handler(error, listener, event)


class EventEmitter(Generic[Event]):
    """Listeners in the order they connected. `emit` calls each one; one that raises is reported through
    `add_error_handler`'s handlers and the rest still run. Inside `held()`, events wait and are delivered,
    in order, when the outermost `held()` ends."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._held = 0
        self._queue: list[Event] = []

    def connect(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def emit(self, event: Event) -> None:
        if self._held:
            self._queue.append(event)
            return
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception as error:  # noqa: BLE001 - isolated on purpose, and reported
                report_listener_error(error, listener, event)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Deliver the events emitted inside this block only when it ends (a batch of changes)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                queue, self._queue = self._queue, []
                for event in queue:
                    self.emit(event)
