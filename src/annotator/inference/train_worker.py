"""The training process: `python -m annotator.inference.train_worker`, driven through its standard streams.

stdin: the first line is the JSON config (`TrainConfig.to_json()`); later lines are commands,
`{"command": "pause" | "resume" | "cancel"}`. End of stdin (the parent exited or closed it) cancels.
stdout: one JSON event per line (`train_events`); nothing else is written there.
SIGINT and SIGTERM cancel too: the run saves its checkpoints and stops cleanly.
Exit status: 0 when finished (done, time or cancelled), 2 on bad input (the `error` event says which
file and why), 1 on any other failure (a traceback goes to stderr).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from typing import TextIO

from annotator.core.predictor import CancelToken
from annotator.inference.openmp import prefer_sleeping_threads
from annotator.inference.train_config import ConfigError, TrainConfig
from annotator.inference.train_events import Event, Failed
from annotator.io.errors import DatasetError


def main() -> int:
    prefer_sleeping_threads()  # before `training` imports torch
    events = _event_stream()
    cancel = CancelToken()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: cancel.cancel())
    line = sys.stdin.readline()
    try:
        config = TrainConfig.from_json(json.loads(line))
    except (ValueError, ConfigError) as exc:
        _write(events, Failed(f"bad training config: {exc}"))
        return 2
    threading.Thread(target=_read_commands, args=(sys.stdin, cancel), daemon=True).start()
    return _run(config, cancel, events)


def _run(config: TrainConfig, cancel: CancelToken, events: TextIO) -> int:
    from annotator.inference.training import TrainingDiverged, train

    try:
        train(config, on_event=lambda event: _write(events, event), cancel=cancel)
    except (DatasetError, ConfigError) as exc:
        _write(events, Failed(str(exc)))
        return 2
    except TrainingDiverged as exc:
        _write(events, Failed(str(exc), bad_input=False))
        return 1
    except Exception as exc:
        details = traceback.format_exc()
        print(details, file=sys.stderr, flush=True)
        _write(events, Failed(f"{type(exc).__name__}: {exc}", bad_input=False, details=details))
        return 1
    return 0


def _read_commands(stream: TextIO, cancel: CancelToken) -> None:
    for line in stream:
        try:
            command = json.loads(line).get("command")
        except (ValueError, AttributeError):
            continue
        if command == "pause":
            cancel.pause()
        elif command == "resume":
            cancel.resume()
        elif command == "cancel":
            cancel.cancel()
    cancel.cancel()  # stdin closed: the parent is gone or wants us to stop


def _event_stream() -> TextIO:
    """stdout for events only: anything else printed (a library's chatter) goes to stderr."""
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return events


_write_lock = threading.Lock()


def _write(stream: TextIO, event: Event) -> None:
    with _write_lock:
        try:
            stream.write(event.dumps() + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader is gone; the run still saves its checkpoints


if __name__ == "__main__":
    sys.exit(main())
