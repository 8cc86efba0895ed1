"""The GUI's handle on a training run in a child process (no torch here, nor Qt).

`TrainingProcess.start(config)` runs `python -m annotator.inference.train_worker`, sends the config,
and `events()` yields the run's events as they come (blocking: read it from a worker thread and pass
the events to the GUI thread). `pause()`, `resume()` and `cancel()` send commands; cancel saves and
stops within one training step. The child's stderr is kept (its last lines) for error reports.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from annotator.inference.train_config import TrainConfig
from annotator.inference.train_events import Event, event_from_json

STDERR_LINES = 200


class TrainingProcess:
    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._write_lock = threading.Lock()
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    @classmethod
    def start(cls, config: TrainConfig, *, python: str | None = None) -> TrainingProcess:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding `annotator`
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        process = subprocess.Popen(
            [python or sys.executable, "-m", "annotator.inference.train_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1, env=env,
        )  # fmt: skip
        handle = cls(process)
        handle._send(config.dumps())
        return handle

    def events(self) -> Iterator[Event]:
        """The events in order until the process closes its output; unreadable lines are skipped."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                yield event_from_json(json.loads(line))

    def pause(self) -> None:
        self._send(json.dumps({"command": "pause"}))

    def resume(self) -> None:
        self._send(json.dumps({"command": "resume"}))

    def cancel(self) -> None:
        """Ask the run to save and stop (it finishes the current step first)."""
        self._send(json.dumps({"command": "cancel"}))

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        """Stop at once (loses the work since the last saved checkpoint)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()

    @property
    def stderr_tail(self) -> str:
        return "".join(self._stderr)

    def _send(self, line: str) -> None:
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
