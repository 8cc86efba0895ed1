"""A predictor whose model lives in a child process, so the GUI process never imports torch.

Importing torch and torchvision holds the GIL for long stretches (dlopen and C-level module init): done
in the GUI's worker thread, it froze the event loop for 200-500 ms at the first model load. Here a child
process (multiprocessing "spawn": a fresh interpreter, nothing inherited) imports torch, loads the model
with `TorchPredictor.from_spec` and answers predict requests over a pipe; the parent only sends pixels
and receives plain data (detections with RLE masks). This module imports no torch and no Qt.

Errors cross as data (`ErrorReport`) and are raised again in the parent as the same type with the same
message: a missing weights file is the same `DatasetError` (or `WeightsUnavailable`) as in-process.
An error in one prediction fails that call only. The child exits on `close()`, and by itself when the
parent's end of the pipe closes (the parent exited or was killed).

Spawn runs the parent's main script again in the child (as `__mp_main__`, without its
`if __name__ == "__main__"` block): a script that imports Qt at its top would load Qt in the model
process too. The `annotator` console script's main module imports neither.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from annotator.core.predictor import (
    BoxMask,
    BoxPrompt,
    Detection,
    ImageNotPrepared,
    ModelSpec,
    PredictOptions,
    PredictorInfo,
)
from annotator.inference.errors import ModelProcessError, RemoteError
from annotator.inference.openmp import prefer_sleeping_threads
from annotator.io.errors import DatasetError

CLOSE_TIMEOUT = 5.0  # seconds for the child to exit after "close" before it is terminated
_CONTEXT = multiprocessing.get_context("spawn")


class SubprocessPredictor:
    """`core.predictor.Predictor` backed by one long-lived model process; `close()` ends it.

    Calls are serialised (one request on the pipe at a time); after the child dies every call raises
    `ModelProcessError`.
    """

    def __init__(self, process: Any, connection: Connection, info: PredictorInfo) -> None:
        self._process = process
        self._connection = connection
        self._info = info
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_spec(cls, spec: ModelSpec, *, threads: int | None = None) -> SubprocessPredictor:
        """Start a model process for `spec` and wait until its model is loaded (or raise its load error).

        `threads`: torch threads in the child; None keeps torch's default, as in-process.
        """
        parent_end, child_end = _CONTEXT.Pipe(duplex=True)
        process = _CONTEXT.Process(
            target=serve, args=(child_end, spec, threads), name="annotator-model", daemon=True
        )
        process.start()
        child_end.close()  # only the child holds it now: its death reads as EOF here
        try:
            kind, payload = _receive(parent_end, process)
        except BaseException:
            _stop(process, parent_end)
            raise
        if kind != "ready":
            _stop(process, parent_end)
            raise _as_exception(payload)
        return cls(process, parent_end, payload)

    @property
    def info(self) -> PredictorInfo:
        return self._info

    @property
    def process(self) -> Any:
        """The child (a `multiprocessing` process: `pid`, `is_alive()`, `exitcode`)."""
        return self._process

    @property
    def usable(self) -> bool:
        """False once the child has ended (crashed, killed or closed): a new predictor is needed."""
        return not self._closed

    def predict(self, image: np.ndarray, options: PredictOptions) -> list[Detection]:
        """Detections on an (H, W, 3) uint8 RGB image, highest score first, computed in the child."""
        return self._send_image("predict", image, options)

    def predict_and_embed(
        self, image: np.ndarray, options: PredictOptions
    ) -> tuple[list[Detection], np.ndarray]:
        """`predict`'s detections and the image's pooled features for "label next", from the same pass
        in the child (`TorchPredictor.predict_and_embed`)."""
        return self._send_image("embed", image, options)

    def _send_image(self, kind: str, image: np.ndarray, options: PredictOptions) -> Any:
        image = np.ascontiguousarray(image)
        if image.dtype.hasobject:  # no bytes to send; the child would refuse it with this message
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        with self._lock:
            if self._closed:
                raise ModelProcessError("the model process has been closed")
            try:
                self._connection.send((kind, image.shape, image.dtype.str, options))
                self._connection.send_bytes(image.reshape(-1))  # 1-D: send_bytes counts len(), not nbytes
                kind, payload = _receive(self._connection, self._process)
            except BaseException:
                self._closed = True  # the pipe is out of step or gone: this predictor is finished
                _stop(self._process, self._connection)
                raise
        if kind != "ok":
            raise _as_exception(payload)
        return payload

    def prepare_image(self, key: object, path: Path) -> None:
        """Have the child decode the image at `path` and keep its features under `key`, for boxes."""
        self._call(("prepare", key, str(path), None))

    def segment_box(self, key: object, prompt: BoxPrompt) -> BoxMask:
        """The mask the model finds in `prompt.box` on the image prepared under `key`."""
        return self._call(("segment", key, prompt, None))

    def _call(self, message: tuple) -> Any:
        with self._lock:
            if self._closed:
                raise ModelProcessError("the model process has been closed")
            try:
                self._connection.send(message)
                kind, payload = _receive(self._connection, self._process)
            except BaseException:
                self._closed = True
                _stop(self._process, self._connection)
                raise
        if kind != "ok":
            raise _as_exception(payload)
        return payload

    def close(self) -> None:
        """Ask the child to exit and wait for it (terminate it if it does not). Idempotent."""
        with self._lock:
            if self._closed and self._connection.closed:
                return
            self._closed = True
            _stop(self._process, self._connection)

    def __enter__(self) -> SubprocessPredictor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _receive(connection: Connection, process: Any) -> tuple[str, Any]:
    try:
        return connection.recv()
    except (EOFError, OSError) as exc:
        process.join(1.0)
        raise ModelProcessError(
            f"the model process ended unexpectedly (exit code {process.exitcode})"
        ) from exc


def _stop(process: Any, connection: Connection) -> None:
    if not connection.closed:
        with contextlib.suppress(OSError):  # the child may be gone already
            connection.send(("close", None, None, None))
        connection.close()
    for end in (lambda: None, process.terminate, process.kill):
        end()
        process.join(CLOSE_TIMEOUT)
        if not process.is_alive():
            return


@dataclass(frozen=True)
class ErrorReport:
    """An exception of the model process as plain data (custom `__init__`s do not survive pickling).

    `reason` is set for `DatasetError`s, which are rebuilt from (path, reason, item); other types from
    their message. `details` is the child's traceback, attached to the rebuilt exception as a note.
    """

    module: str
    qualname: str
    message: str
    path: str | None = None
    reason: str | None = None
    item: str | None = None
    details: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> ErrorReport:
        kind = type(exc)
        details = "".join(traceback.format_exception(exc))
        if isinstance(exc, DatasetError):
            path = None if exc.path is None else str(exc.path)
            return cls(kind.__module__, kind.__qualname__, str(exc), path, exc.reason, exc.item, details)
        return cls(kind.__module__, kind.__qualname__, str(exc), details=details)

    def rebuild(self) -> Exception:
        """The same type with the same message where this process has the type loaded (it never imports
        a module for it: that could be torch); else a `RemoteError` subclass of the same name."""
        kind = _loaded_exception_type(self.module, self.qualname)
        exc: Exception | None = None
        if self.reason is not None:
            base = kind if kind is not None and issubclass(kind, DatasetError) else DatasetError
            try:
                exc = base(self.path, self.reason, item=self.item)
            except Exception:  # a subclass with another signature
                exc = DatasetError(self.path, self.reason, item=self.item)
        elif kind is not None and issubclass(kind, Exception):
            try:
                candidate = kind(self.message)
            except Exception:
                candidate = None
            if candidate is not None and str(candidate) == self.message:
                exc = candidate
        if exc is None:
            exc = _remote_type(self.module, self.qualname)(self.message)
        if self.details:
            exc.add_note(f"raised in the model process:\n{self.details.rstrip()}")
        return exc


def _as_exception(payload: object) -> Exception:
    if isinstance(payload, ErrorReport):
        return payload.rebuild()
    return ModelProcessError(f"the model process answered {payload!r}")


def _loaded_exception_type(module: str, qualname: str) -> type[BaseException] | None:
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


_REMOTE_TYPES: dict[tuple[str, str], type[RemoteError]] = {}


def _remote_type(module: str, qualname: str) -> type[RemoteError]:
    key = (module, qualname)
    if key not in _REMOTE_TYPES:
        name = qualname.rsplit(".", 1)[-1]
        _REMOTE_TYPES[key] = type(name, (RemoteError,), {"remote_type": f"{module}.{qualname}"})
    return _REMOTE_TYPES[key]


def serve(connection: Connection, spec: ModelSpec, threads: int | None = None) -> None:
    """The model process: load the model, report, then answer predict requests until told to close or
    until the parent's end of the pipe closes. Ends the process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle
    prefer_sleeping_threads()  # before torch loads: the GUI shares the cores with this process
    code = 0
    try:
        _serve(connection, spec, threads)
    except BaseException:
        traceback.print_exc()
        code = 1
    # Skip the interpreter's finalisation: tearing torch's modules down took 0.6 s, which close() (and
    # so closing the window) waited for. Nothing here is left to flush but the standard streams.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _serve(connection: Connection, spec: ModelSpec, threads: int | None) -> None:
    try:
        predictor = _load(spec, threads)
    except Exception as exc:
        _reply(connection, ("failed", ErrorReport.of(exc)))
        return
    if not _reply(connection, ("ready", predictor.info)):
        return
    boxes = _Boxes(predictor)
    while True:
        try:
            kind, first, second, third = connection.recv()
            if kind not in ("predict", "embed", "prepare", "segment"):
                return
            data = connection.recv_bytes() if kind in ("predict", "embed") else None
        except (EOFError, OSError):
            return  # the parent closed its end, exited or was killed
        try:
            if kind in ("predict", "embed"):
                image = np.frombuffer(data, dtype=np.dtype(second)).reshape(first)
                found = predictor.predict_and_embed if kind == "embed" else predictor.predict
                reply = ("ok", found(image, third))
            elif kind == "prepare":
                reply = ("ok", boxes.prepare(first, second))
            else:
                reply = ("ok", boxes.segment(first, second))
        except Exception as exc:
            reply = ("failed", ErrorReport.of(exc))
        if not _reply(connection, reply):
            return


class _Boxes:
    """The model process's box-to-mask side: a `BoxSegmenter` over the loaded predictor, made on first
    use; images are decoded here, from their path, so the GUI sends no pixels."""

    def __init__(self, predictor: Any) -> None:
        self._predictor = predictor
        self._segmenter = None

    def prepare(self, key: object, path: str) -> None:
        from annotator.io.images import load_rgb

        self._box_segmenter().prepare(key, load_rgb(path))

    def segment(self, key: object, prompt: BoxPrompt) -> BoxMask:
        segmenter = self._box_segmenter()
        if not segmenter.is_prepared(key):
            raise ImageNotPrepared(f"no image prepared as {key!r}")
        return segmenter.segment(key, None, prompt)

    def _box_segmenter(self):
        if self._segmenter is None:
            from annotator.inference.box_prompt import BoxSegmenter

            self._segmenter = BoxSegmenter(self._predictor)
        return self._segmenter


def _load(spec: ModelSpec, threads: int | None) -> Any:
    import torch

    from annotator.inference.allocator import keep_freed_memory
    from annotator.inference.predictor import TorchPredictor

    keep_freed_memory()  # this process only runs the model
    if threads:
        torch.set_num_threads(threads)
    return TorchPredictor.from_spec(spec)


def _reply(connection: Connection, message: tuple[str, Any]) -> bool:
    try:
        connection.send(message)
    except OSError:
        return False
    return True
