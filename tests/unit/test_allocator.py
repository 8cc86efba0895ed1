"""keep_freed_memory: once warm, an image's feature maps reuse freed pages instead of faulting in new ones."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

# Run in a fresh interpreter: the setting is process-wide and cannot be undone. Each round is a
# network's pattern at 1920x1080: a map is made from the one before, which is then freed.
FAULTS = """
import resource, sys
import torch
from annotator.inference.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "kept" else None
for _ in range(10):  # "images": the heap settles within 4 to 6 here
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    first = torch.ones(66 << 20, dtype=torch.uint8)
    second = torch.ones(33 << 20, dtype=torch.uint8)
    del first
    third = torch.ones(16 << 20, dtype=torch.uint8)
    del second, third
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = (66 + 33 + 16) * (1 << 20) // 4096


def _last_round_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_feature_maps_reuse_freed_pages_once_the_heap_is_warm():
    _, default_faults = _last_round_faults("default")
    applied, kept_faults = _last_round_faults("kept")
    assert default_faults > PAGES // 2  # glibc maps blocks over 32 MB afresh each time: their pages fault
    assert applied == "True" and kept_faults < PAGES // 20
