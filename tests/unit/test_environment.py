"""The installed environment is the one the README promises: torch and torchvision that work together."""

from __future__ import annotations


def test_torchvision_compiled_ops_run_on_the_installed_torch():
    # The machine's local CPU torch wheel cannot load torchvision's ops ("torchvision::nms does not exist");
    # the set-up must install the registry's matching torch build.
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    keep = torchvision.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert torch.__version__.startswith("2.13.0") and torchvision.__version__.startswith("0.28.0")


def test_pyside6_is_a_version_without_the_none_refcount_bug():
    import PySide6

    major, minor, *_ = (int(part) for part in PySide6.__version__.split(".")[:3])
    assert (major, minor) == (6, 11), "PySide6 6.12.0 aborts on Python 3.11 (none_dealloc); pin <6.12"
