"""The inference package's errors, torch-free: the GUI process rebuilds them from the model process's
reports (`inference.subprocess_predictor`) without importing torch."""

from __future__ import annotations

import re
from pathlib import Path

from annotator.io.errors import DatasetError


class WeightsUnavailable(DatasetError):
    """The COCO weights are not on this machine and cannot be downloaded; says what to fetch and where.

    Its reason is one line for the command line (`missing_coco_weights`); the window lays the same facts
    out as a short dialog (`window_text`), read back from that line because the error crosses from the
    model process as its path and reason only."""

    def window_text(self) -> tuple[str, str] | None:
        """(what happened, what to do) for a dialog; None for a reason not `missing_coco_weights`'s."""
        found = _MISSING.fullmatch(self.reason)
        if found is None:
            return None
        architecture, why, url = found.group("architecture", "why", "url")
        what = f"The COCO weights of {architecture} are not on this computer ({why})."
        steps = (
            "Use a model of your own instead:\n"
            "• Model ▸ Train on this project… learns your classes from the labels you have;\n"
            "• Model ▸ Model settings… takes a weights file you already have.\n"
            f"Or download {url} on a computer with internet and save it as {self.path}."
        )
        return what, steps


def missing_coco_weights(path: Path, architecture: str, why: str, url: str) -> WeightsUnavailable:
    """The error for COCO weights neither in the hub cache nor downloadable (`why`)."""
    return WeightsUnavailable(
        path,
        f"no {architecture} COCO weights ({why}); download {url} to this path, or use a weights file you "
        "have (--weights FILE on the command line, Model ▸ Model settings… in the window), or train a "
        "model on your own labels (Model ▸ Train on this project…, annotator train)",
    )


_MISSING = re.compile(
    r"no (?P<architecture>\S+) COCO weights \((?P<why>.*)\); download (?P<url>\S+) to this path, or use a "
    r"weights file you have .*"
)


class ModelProcessError(RuntimeError):
    """The model process ended or stopped answering; the predictor that used it cannot be used again."""


class RemoteError(RuntimeError):
    """An exception raised in the model process whose type the GUI process does not have loaded.

    `subprocess_predictor` makes one subclass per remote type, named like it (so a message reads
    "OutOfMemoryError: ..." as it would in-process); `remote_type` is its "module.qualname".
    """

    remote_type = ""
