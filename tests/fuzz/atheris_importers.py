"""Coverage-guided fuzzing of the COCO and LabelMe importers with atheris (libFuzzer for Python).

    .venv/bin/python tests/fuzz/atheris_importers.py -max_total_time=60 [corpus_dir]

Every input is written as a JSON file and opened the way a user's file is; anything other than a clean
import or a DatasetError is a crash that libFuzzer reports (and saves as crash-*). CI runs it briefly
through tests/fuzz/test_atheris_smoke.py; crashes it finds become @example cases in the hypothesis tests.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from annotator.io.coco import coco_from_dict, save_coco
    from annotator.io.errors import DatasetError
    from annotator.io.jsonfile import read_json
    from annotator.io.labelme import load_labelme

WORK = Path(tempfile.mkdtemp(prefix="atheris-"))


def one_input(data: bytes) -> None:
    path = WORK / "input.json"
    path.write_bytes(data)
    try:
        parsed = read_json(path)
    except DatasetError:
        return
    for load in (lambda: coco_from_dict(parsed, source=path), lambda: load_labelme(path)):
        try:
            imported = load()
        except DatasetError:
            continue
        save_coco(imported.dataset, WORK / "out.json")


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
