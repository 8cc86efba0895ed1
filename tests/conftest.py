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
