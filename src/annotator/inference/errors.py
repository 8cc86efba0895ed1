"""The inference package's errors, torch-free: the GUI process rebuilds them from the model process's
reports (`inference.subprocess_predictor`) without importing torch."""

from __future__ import annotations

from annotator.io.errors import DatasetError


class WeightsUnavailable(DatasetError):
    """The COCO weights are not on this machine and cannot be downloaded; says what to fetch and where."""


class ModelProcessError(RuntimeError):
    """The model process ended or stopped answering; the predictor that used it cannot be used again."""


class RemoteError(RuntimeError):
    """An exception raised in the model process whose type the GUI process does not have loaded.

    `subprocess_predictor` makes one subclass per remote type, named like it (so a message reads
    "OutOfMemoryError: ..." as it would in-process); `remote_type` is its "module.qualname".
    """

    remote_type = ""
