"""OpenMP's waiting policy, set before torch is loaded (torch's CPU kernels run on libgomp threads).

By default a libgomp thread that finishes its share of a parallel region spins, waiting for the others.
On cores shared with other work (a desktop, the GUI beside its training process, CI) the thread it waits
for is often descheduled, and the spinning eats the time slice that thread needs: measured here, a
training step of the tiny test model took 5-22 s with two spinning threads under a load average of 8
on 2 cores, 1.2-2.5 s with one thread, and 0.4-0.9 s with two threads that sleep while they wait
(`OMP_WAIT_POLICY=PASSIVE`). Torch-free, so entry points call it before importing torch.
"""

from __future__ import annotations

import os


def prefer_sleeping_threads() -> None:
    """Let idle OpenMP threads sleep instead of spin, unless the user chose a policy. Takes effect only
    if torch (libgomp) is not loaded yet."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
