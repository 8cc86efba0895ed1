"""Does the GUI stay live while the model worker pre-labels? (SPEC: the event loop never stalls > 50 ms.)

A 10 ms QTimer on the GUI thread records how late each tick is: first with the window idle, then while
the worker pre-labels a few real photos with a real Mask R-CNN (random weights: no download; it gives
the full `max_detections` per image, a realistic load for mask encoding and for applying results).
The run is split into the model load (the first request starts the model process, which imports torch
and loads the model, as `annotator.app` does; `--in-process` loads it in the worker thread instead, as
before decision 7's update) and the steady run after it. Results stream into a project in a temporary folder, and the
image on screen is one of those being pre-labelled, so the canvas redraws as its predictions arrive.

Run: `.venv/bin/python bench/gui_stall.py [--images 5] [--threads 1] [--in-process] [--screenshot out.png]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

if __name__ != "__mp_main__":  # the model process re-runs this file (multiprocessing spawn): no Qt there
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from annotator.gui.collector import collector_of
    from annotator.gui.main_window import MainWindow
    from annotator.gui.prelabel.actions import install_prelabelling
    from annotator.gui.prelabel.dialog import PrelabelSettings
    from annotator.io.images import list_images

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "isat_coco_tiny" / "images"
TICK_MS = 10


class LatenessRecorder:
    """A 10 ms precise timer; each tick's lateness (ms) goes to the current phase's list."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}
        self.phase: str | None = None
        self._last = time.perf_counter()
        self.timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self, phase: str) -> None:
        self.phase = phase
        self.phases.setdefault(phase, [])
        self._last = time.perf_counter()
        if not self.timer.isActive():
            self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.phase is not None:
            self.phases[self.phase].append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now


def random_maskrcnn_factory(threads: int):
    """The factory the worker calls in its own thread (torch is imported there, as with annotator.app)."""

    def factory(spec):
        import torch

        from annotator.inference.models import LoadedModel, build_model, coco_categories
        from annotator.inference.predictor import TorchPredictor

        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = build_model(spec.name)
        loaded = LoadedModel(
            model, spec.name, tuple(range(91)), coco_categories(spec.name), "random-maskrcnn"
        )
        return TorchPredictor(loaded, device=spec.device, precision=spec.precision)

    return factory


RANDOM_CHECKPOINT = """
import sys, torch
from annotator.inference.models import build_model, coco_categories, save_checkpoint
torch.manual_seed(0)
name = "maskrcnn_resnet50_fpn"
save_checkpoint(sys.argv[1], build_model(name), architecture=name, categories=coco_categories(name))
"""


def subprocess_factory(threads: int, workdir: Path):
    """The app's way: the model in a child process. Its random weights (the same as
    `random_maskrcnn_factory`'s) are written to a checkpoint by another process first, so this process
    never imports torch."""
    from annotator.inference.subprocess_predictor import SubprocessPredictor

    checkpoint = workdir / "random-maskrcnn.pt"
    subprocess.run([sys.executable, "-c", RANDOM_CHECKPOINT, str(checkpoint)], check=True)

    def factory(spec):
        return SubprocessPredictor.from_spec(replace(spec, weights=checkpoint), threads=threads or None)

    return factory


def wait_for(app: QApplication, condition, timeout: float) -> None:
    """Run the real event loop (not processEvents in a sleep loop) until `condition()` holds."""
    loop = QEventLoop()
    poll = QTimer(interval=5)
    poll.timeout.connect(lambda: condition() and loop.quit())
    deadline = QTimer(singleShot=True, interval=int(timeout * 1000))
    deadline.timeout.connect(loop.quit)
    poll.start()
    deadline.start()
    if not condition():
        loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("the run did not finish in time")


def summary(values: list[float], unit: str = "ticks") -> str:
    if not values:
        return f"no {unit}"
    array = np.asarray(values)
    return f"max {array.max():6.1f} ms   p99 {np.percentile(array, 99):6.1f} ms   ({len(array)} {unit})"


def time_gui_thread_applies(controller) -> list[float]:
    """Wrap the controller's result handler to time it (it runs on the GUI thread)."""
    durations: list[float] = []
    apply = controller._apply

    def timed(outcome, run):
        started = time.perf_counter()
        apply(outcome, run)
        durations.append((time.perf_counter() - started) * 1000)

    controller._apply = timed
    return durations


def paused_screenshot(app: QApplication, window, prelabelling, path: Path) -> None:
    """Run again over every image, pause after the first, grab the window, cancel."""
    controller = prelabelling.controller
    done: list[int] = []
    controller.image_done.connect(done.append)
    settings = PrelabelSettings.load(window.settings)
    controller.start(sorted(window.document.dataset.images), settings)
    wait_for(app, lambda: bool(done), 600)
    controller.pause()
    wait_for(app, lambda: controller.run is None or controller.run.control.waiting, 600)
    window.grab().save(str(path))
    controller.cancel()
    wait_for(app, lambda: controller.run is None, 600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads in the worker (0: torch's default)"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="load the model in the worker thread, not a child process"
    )
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle baseline")
    parser.add_argument(
        "--automatic-gc",
        action="store_true",
        help="Python collects in any thread, as before decision 0024 (the app collects on the GUI thread)",
    )
    parser.add_argument(
        "--screenshot", type=Path, default=Path(tempfile.gettempdir()) / "annotator_prelabel.png"
    )
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if not args.automatic_gc:
        collector_of(app).start()  # as `annotator.app.application()` does
    workdir = Path(tempfile.mkdtemp(prefix="gui_stall_"))
    try:
        photos = list_images(PHOTOS)
        if not photos:
            print(f"no photos in {PHOTOS}", file=sys.stderr)
            return 1
        folder = workdir / "photos"
        folder.mkdir()
        for index in range(args.images):
            source = photos[index % len(photos)]
            shutil.copy(source, folder / f"{index:02d}_{source.name}")
        (folder / "zz_truncated.jpg").write_bytes(photos[0].read_bytes()[:4000])  # listed, not fatal
        settings = QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat)
        PrelabelSettings(input_size=args.input_size, score_threshold=0.5, max_detections=100).save(settings)
        window = MainWindow(settings)
        if args.in_process:
            factory = random_maskrcnn_factory(args.threads)
        else:
            factory = subprocess_factory(args.threads, workdir)
        prelabelling = install_prelabelling(window, factory)
        window.open_path(folder)
        window.resize(1400, 900)
        window.show()
        recorder = LatenessRecorder()
        wait_for(app, lambda: window.canvas.has_pixels, 30)

        recorder.start("idle")
        end = time.monotonic() + args.idle
        wait_for(app, lambda: time.monotonic() > end, args.idle + 5)

        controller = prelabelling.controller
        apply_ms = time_gui_thread_applies(controller)
        loaded: list[object] = []
        controller.model_loaded.connect(lambda info: (loaded.append(info), recorder.start("pre-labelling")))
        finished: list[object] = []
        controller.run_finished.connect(finished.append)
        recorder.start("model load")
        started = time.monotonic()
        prelabelling.all_action.trigger()
        prelabelling.dialog.accept()
        wait_for(app, lambda: bool(finished), 1800)
        seconds = time.monotonic() - started
        recorder.timer.stop()

        progress = finished[0]
        print(
            f"{progress.done}/{progress.total} images ({progress.failed} failed), {progress.detections} "
            f"predictions in {seconds:.1f} s, {progress.rate or 0:.2f} images/s after loading; "
            f"torch threads in the worker: {args.threads or 'default'}; precision {loaded[0].precision if loaded else '?'}"
        )
        where = "the worker thread" if args.in_process else "a child process"
        print(f"model in {where}; torch imported by the GUI process: {'torch' in sys.modules}")
        print("garbage collected:", "by any thread" if args.automatic_gc else "on the GUI thread only")
        print(
            f"GUI-thread time applying one image's results (store, lists, canvas): {summary(apply_ms, 'applies')}"
        )
        print(f"GUI-thread timer lateness (tick {TICK_MS} ms):")
        for phase, values in recorder.phases.items():
            print(f"  {phase:<14} {summary(values)}")
        window.canvas.fit()
        window.grab().save(str(args.screenshot))
        during = args.screenshot.with_name(args.screenshot.stem + "_paused" + args.screenshot.suffix)
        paused_screenshot(app, window, prelabelling, during)
        print(f"screenshots: {args.screenshot} (after the run), {during} (a second run, paused)")
        window.close()
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
