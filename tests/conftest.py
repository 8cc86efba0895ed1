"""Shared test fixtures: where the third-party test data lives, offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def testdata_dir() -> Path:
    """`shared/testdata` beside the checkout (the checkout is X/main, shared is X/shared)."""
    return REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    path = testdata_dir()
    assert path.is_dir(), f"third-party test data missing: {path}"
    return path


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory, monkeypatch):
    """Projects that live in the user's data folder (samples, read-only folders) go to a temp folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
