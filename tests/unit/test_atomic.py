"""Atomic writes: a failure leaves the earlier file as it was and no temporary file behind."""

from __future__ import annotations

import os
import resource
import signal
import stat

import pytest

from annotator.io.atomic import atomic_writer, write_bytes_atomic
from annotator.io.errors import DatasetError


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.json"]


def test_an_exception_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_full_disk_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, old_limit[1]))
    try:
        with pytest.raises(DatasetError, match="cannot write"):
            write_bytes_atomic(target, b"x" * 100_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot write here"):
        write_bytes_atomic(tmp_path / "nope" / "out.json", b"x")


def test_a_new_file_gets_the_umask_mode_and_a_replaced_one_keeps_its_mode(tmp_path):
    """Exports are readable as any file the person makes (not mkstemp's 0600); chmod survives a rewrite."""
    old_mask = os.umask(0o027)
    try:
        write_bytes_atomic(tmp_path / "new.json", b"{}")
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
        kept = tmp_path / "kept.json"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        write_bytes_atomic(kept, b"new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_bytes() == b"new"
    finally:
        os.umask(old_mask)
