"""CSV tables written atomically (the statistics per class or per image, from the CLI and the window)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from annotator.io.atomic import write_bytes_atomic


def write_csv(path: str | Path, rows: Iterable[Sequence[object]]) -> None:
    """Rows (the header first) as UTF-8 CSV; a reader sees the old file or the whole new one."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_bytes_atomic(Path(path), buffer.getvalue().encode("utf-8"))
