"""Reading a big file pauses the garbage collector, and always turns it back on afterwards."""

from __future__ import annotations

import gc

import pytest

from annotator.io.coco import load_coco
from annotator.io.errors import DatasetError
from annotator.io.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc():
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_collector_is_off_inside_and_back_on_after():
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_after_an_error():
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off():
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_loading_a_broken_coco_file_leaves_the_collector_on(tmp_path):
    gc.enable()
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    with pytest.raises(DatasetError, match="broken.json"):
        load_coco(broken)
    assert gc.isenabled()
