"""Crops decoded ahead while the canvas is idle, a small job at a time: nothing runs while the canvas is
busy, each job holds about `chunk_px` mask pixels, and crops decoded already are skipped."""

from __future__ import annotations

import numpy as np

from annotator.core.geometry import Polygons
from annotator.core.region import Region
from annotator.gui.canvas import crop_queue
from annotator.gui.canvas.crop_queue import CropQueue


def _square(x0: float, side: float) -> Region:
    ring = np.array([[x0, 0], [x0 + side, 0], [x0 + side, side], [x0, side]], dtype=np.float64)
    return Region(Polygons((ring,)), 100, 400)


def test_crops_are_decoded_in_chunks_only_while_idle_and_decoded_ones_are_skipped(qtbot, monkeypatch):
    idle = [False]
    queue = CropQueue(lambda: idle[0], chunk_px=3000)  # two boxes of 39 x 39
    jobs = []
    decode = crop_queue._decode
    monkeypatch.setattr(crop_queue, "_decode", lambda job: (jobs.append(job), decode(job)))
    regions = [_square(50 * k, 39) for k in range(6)]
    regions[2].crops  # noqa: B018 - decoded already, by a click
    queue.start(regions)
    queue.resume()
    assert queue.pending and not any(r.decoded for r in regions if r is not regions[2])  # busy: waits

    idle[0] = True
    with qtbot.waitSignal(queue.finished, timeout=10000):
        queue.resume()
    assert all(r.decoded for r in regions) and not queue.pending
    # two regions per job, the third one's crop being there already
    assert jobs == [[regions[0], regions[1]], [regions[3], regions[4]], [regions[5]]]


def test_a_queue_forgotten_or_started_anew_decodes_only_what_it_holds_now(qtbot):
    queue = CropQueue(lambda: True)
    first, second = [_square(0, 30), _square(100, 30)], [_square(200, 30)]
    queue.start(first)
    queue.forget()
    queue.start(second)
    with qtbot.waitSignal(queue.finished, timeout=10000):
        queue.resume()
    assert second[0].decoded and not any(r.decoded for r in first)
