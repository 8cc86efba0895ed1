"""`annotator open` on input it refuses: one line on stderr and exit 2, never SIGABRT (exit 134).

It used to print the right line and then abort: the window was built (and its model thread started)
before the document was opened, and Qt aborts when a running QThread is destroyed at exit.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from PIL import Image as PilImage

from annotator.io.project import FOLDER_PROJECT_NAME, open_project


def _folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (8, 6)).save(folder / "a.png")
    return folder


def _not_json(tmp_path):
    (tmp_path / "x.json").write_text("{ not json")
    return tmp_path / "x.json"


def _empty_project(tmp_path):
    (tmp_path / "e.annotator").write_bytes(b"")
    return tmp_path / "e.annotator"


def _foreign_sqlite(tmp_path):
    conn = sqlite3.connect(tmp_path / "f.annotator")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    return tmp_path / "f.annotator"


def _linked_lock(tmp_path):
    folder = _folder(tmp_path)
    (folder / (FOLDER_PROJECT_NAME + ".lock")).symlink_to(tmp_path / "canary")
    return folder


def _bad_schema_version(tmp_path):
    folder = _folder(tmp_path)
    open_project(folder).close()
    conn = sqlite3.connect(folder / FOLDER_PROJECT_NAME)
    conn.execute("UPDATE meta SET value = 'two' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    return folder


def _written(name: str, content: bytes):
    def make(tmp_path):
        (tmp_path / name).write_bytes(content)
        return tmp_path / name

    return make


def _future_schema(tmp_path):
    folder = _folder(tmp_path)
    open_project(folder).close()
    conn = sqlite3.connect(folder / FOLDER_PROJECT_NAME)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    return folder / FOLDER_PROJECT_NAME


def _dangling_link(tmp_path):
    (tmp_path / "gone.json").symlink_to(tmp_path / "nowhere.json")
    return tmp_path / "gone.json"


def _named_pipe(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")  # reading it would wait for a writer forever
    return tmp_path / "pipe.json"


def _not_a_project_kind(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    return tmp_path / "notes.txt"


CASES = {
    "not JSON": (_not_json, "not valid JSON"),
    "empty project": (_empty_project, "empty"),
    "foreign SQLite": (_foreign_sqlite, "another application"),
    "linked lock": (_linked_lock, "symbolic link"),
    "schema version": (_bad_schema_version, "schema"),
    "other kind of file": (_not_a_project_kind, "cannot open this kind"),
    "named pipe": (_named_pipe, "named pipe"),
    "truncated JSON": (_written("t.json", b'{"images": [{"id": 1'), "truncated"),
    "JSON list": (_written("l.json", b"[1, 2]"), "not an instances file"),
    "images not a list": (
        _written("i.json", b'{"images": "x", "annotations": [], "categories": []}'),
        "images",
    ),
    "empty JSON file": (_written("e.json", b""), "empty"),
    "JSON nested too deep": (_written("d.json", b"[" * 5000 + b"]" * 5000), "not valid JSON"),
    "random bytes as a project": (_written("r.annotator", bytes(range(256)) * 8), "not an annotator project"),
    "future schema": (_future_schema, "schema"),
    "dangling link": (_dangling_link, "no such file"),
}


def _open(path, *extra) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "annotator.cli.main", "open", str(path), *extra],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def _assert_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("annotator open:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_refused_input_exits_2_with_one_line(tmp_path, case):
    make, words = CASES[case]
    _assert_one_line(_open(make(tmp_path)), words)
    assert not (tmp_path / "canary").exists()  # nothing written through the link


@pytest.mark.slow
def test_a_project_open_in_another_process_is_refused_with_exit_2(tmp_path):
    folder = _folder(tmp_path)
    with open_project(folder):  # this test process plays the other window
        _assert_one_line(_open(folder), "already open")
        _assert_one_line(
            _open(folder / FOLDER_PROJECT_NAME, "--screenshot", tmp_path / "s.png"), "already open"
        )


@pytest.mark.slow
def test_a_screenshot_never_writes_its_settings_through_a_link_beside_it(tmp_path):
    """The screenshot's window settings went to `shot.ini` beside `shot.png`, saved by QSettings, which
    writes through a symbolic link: a dataset shipping `shot.ini` linked anywhere had that file replaced."""
    folder = _folder(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"kept\n")
    (folder / "shot.ini").symlink_to(victim)
    result = _open(folder, "--screenshot", folder / "shot.png")
    assert result.returncode == 0, result.stderr
    assert victim.read_bytes() == b"kept\n"
    assert (folder / "shot.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["named pipe", "missing folder"])
def test_a_screenshot_that_cannot_be_written_is_one_line_never_sigabrt(tmp_path, target):
    """A refused screenshot target printed its line and then aborted (exit 134): the window was
    dropped with its model thread running."""
    folder = _folder(tmp_path)
    out = folder / "shot.png"
    if target == "named pipe":
        os.mkfifo(out)
    else:
        out = folder / "missing" / "shot.png"
    _assert_one_line(_open(folder, "--screenshot", out), str(out))
