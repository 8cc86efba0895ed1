"""The bundled public-domain sample images (see resources/samples/SOURCE.md)."""

from __future__ import annotations

from pathlib import Path


def samples_dir() -> Path:
    """`resources/samples` of the checkout the package runs from."""
    return Path(__file__).resolve().parents[3] / "resources" / "samples"
