"""`annotator train DATA --out MODEL.pt [--base NAME] [--weights FILE|coco] [--epochs N | --minutes M] ...`.

DATA is a project, a COCO file or a LabelMe folder; only accepted, edited and hand-drawn instances
train. The best model (by validation mask AP) is written to MODEL.pt, a resumable one to MODEL.last.pt.
The first Ctrl+C saves both and stops after the current step (exit 130); `--resume MODEL.last.pt`
continues. Bad input exits 2 with one line naming the file and the problem.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from annotator.core.wording import counted

_BASES = ("maskrcnn_resnet18_fpn", "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train Mask R-CNN on a dataset's accepted instances")
    parser.add_argument("data", metavar="DATA", help="a project, a COCO file or a LabelMe folder")
    parser.add_argument("--out", required=True, metavar="MODEL.pt", help="the model to write")
    parser.add_argument("--images", metavar="DIR", type=Path, help="where the images are, if not beside DATA")
    parser.add_argument(
        "--base",
        choices=_BASES,
        help=f"architecture (default: that of --weights, else {_BASES[0]}, the fast CPU one)",
    )
    parser.add_argument(
        "--weights", metavar="FILE", help="start from this checkpoint, or 'coco' for torchvision's COCO weights; "
        "none: from scratch",
    )  # fmt: skip
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the training images")
    length.add_argument("--minutes", type=float, metavar="M", help="train for this long instead")
    parser.add_argument(
        "--val-split", type=float, default=0.2, help="share of images held out for validation"
    )
    parser.add_argument("--input-size", type=int, metavar="N", help="long side of the network input, pixels")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--resume", metavar="CKPT", type=Path, help="continue a run from its .last.pt file")
    parser.add_argument("--batch-size", type=int, metavar="N", help="images per step (default: the recipe's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, order and augmentation")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="advanced: override one model setting (annotator.inference.architectures.ModelSettings): an "
        "integer, integers separated by commas, or a word, e.g. --set box_batch_size_per_image=64, "
        "--set anchor_sizes=16,32,64,128, --set head_norm=none",
    )  # fmt: skip
    parser.add_argument(
        "--recipe", action="append", default=[], metavar="KEY=VALUE",
        help="advanced: override one training setting (annotator.inference.train_config.Recipe): a number, "
        "true or false, or LOW,HIGH, e.g. --recipe rot90=true --recipe vflip=true for images with no up "
        "(aerial, microscopy), --recipe copy_paste=0.5, --recipe crop=0.5,1, --recipe ema=0.998",
    )  # fmt: skip
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from annotator.cli.main import UsageError
    from annotator.inference.train_config import ConfigError

    try:
        config = _config(args)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    _check_output(config.out)
    from annotator.io.output_target import check_output

    data = config.data
    inputs = list(data.rglob("*.json")) if data.is_dir() else [data]
    for written in (config.out, config.val_predictions_path):
        check_output(written, inputs=inputs)
    from annotator.cli.project_note import note_window_edits

    note_window_edits("train", data)
    from annotator.inference.openmp import prefer_sleeping_threads

    prefer_sleeping_threads()  # before torch loads
    from annotator.core.predictor import CancelToken
    from annotator.inference.training import TrainingDiverged, train

    cancel = CancelToken()
    bar = _TrainingBar(sys.stderr)
    previous = signal.signal(signal.SIGINT, _first_interrupt(cancel, bar))
    try:
        finished = train(config, on_event=bar.show, cancel=cancel)
    except TrainingDiverged as exc:
        bar.close()
        print(f"annotator train: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    print(_summary(finished, config))
    if finished.reason == "cancelled":
        raise KeyboardInterrupt  # what was done is saved; main reports the interruption (exit 130)
    return 0


def _config(args: argparse.Namespace):
    from dataclasses import replace

    from annotator.inference.train_config import DEFAULT_BASE, Recipe, TrainConfig

    recipe = recipe_with(Recipe(), args.recipe)
    if args.batch_size is not None:
        recipe = replace(recipe, batch_size=args.batch_size)
    if args.lr is not None:
        recipe = replace(recipe, lr=args.lr)
    base = args.base or (_checkpoint_base(args.weights) if args.weights not in (None, "coco") else None)
    return TrainConfig(
        data=Path(args.data), out=Path(args.out), images_root=args.images, base=base or DEFAULT_BASE,
        weights=args.weights, epochs=args.epochs, minutes=args.minutes, val_split=args.val_split,
        input_size=args.input_size, device=args.device, resume=args.resume, seed=args.seed, recipe=recipe,
        model=_model_settings(args.set),
    )  # fmt: skip


def _model_settings(items: list[str]) -> dict[str, int | str | tuple[int, ...]]:
    """--set values as ModelSettings takes them; the settings themselves check the ranges and words."""
    from annotator.inference.train_config import ConfigError

    settings: dict[str, int | str | tuple[int, ...]] = {}
    for item in items:
        key, _, value = (part.strip() for part in item.partition("="))
        try:
            if "," in value:
                settings[key] = tuple(int(v) for v in value.split(","))
            else:
                settings[key] = value if value.isidentifier() else int(value)
        except ValueError:
            raise ConfigError(f"--set {item}: expected KEY=INTEGER, KEY=N,N,... or KEY=WORD") from None
    return settings


def recipe_with(recipe, items: list[str]):
    """`recipe` with --recipe KEY=VALUE overrides, each value read as its field's type; the recipe checks
    the ranges. ConfigError names an unknown key or a value of the wrong kind."""
    import dataclasses

    from annotator.inference.train_config import ConfigError

    kinds = {field.name: field.type for field in dataclasses.fields(recipe)}
    changes: dict[str, object] = {}
    for item in items:
        key, _, text = (part.strip() for part in item.partition("="))
        kind = kinds.get(key)
        if kind is None:
            raise ConfigError(f"--recipe {item}: no such setting; known: {', '.join(kinds)}")
        try:
            changes[key] = _recipe_value(str(kind), text)
        except ValueError:
            raise ConfigError(f"--recipe {item}: expected {_recipe_hint(str(kind))}") from None
    return dataclasses.replace(recipe, **changes)


def _recipe_value(kind: str, text: str) -> object:
    if kind == "bool":
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    if kind.startswith("tuple"):
        low, high = (float(v) for v in text.split(","))
        return (low, high)
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _recipe_hint(kind: str) -> str:
    return {"bool": "true or false", "int": "an integer", "float": "a number"}.get(
        kind, "LOW,HIGH" if kind.startswith("tuple") else "a word"
    )


def _checkpoint_base(weights: str) -> str | None:
    """The architecture a checkpoint names (read without building it); None if it names none."""
    from annotator.inference.models import read_checkpoint

    return read_checkpoint(Path(weights)).settings.architecture


def _check_output(out: Path) -> None:
    from annotator.io.errors import DatasetError

    if out.is_dir():
        raise DatasetError(out, "is a folder; --out names the model file to write")
    if not out.parent.is_dir():
        raise DatasetError(out, f"the folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise DatasetError(out, f"cannot write in {out.parent}")


def _first_interrupt(cancel, bar: _TrainingBar):
    def handler(signum, frame) -> None:
        bar.message("annotator train: stopping after this step and saving (Ctrl+C again to abort)")
        cancel.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    return handler


def _summary(finished, config) -> str:
    ap = ""
    if finished.best_val_ap is not None:
        ap = f", best validation mask AP {finished.best_val_ap:.3f} (AP50 {finished.best_val_ap50:.3f})"
    where = f"wrote {finished.model_path}" if finished.model_path else f"no model written to {config.out}"
    if finished.best_val_ap is not None and config.val_predictions_path.is_file():
        ap += f"; its detections on the validation images in {config.val_predictions_path} (for `audit`)"
    return (
        f"{where}: {finished.epochs} epochs, {finished.steps} steps in {finished.elapsed_s / 60:.1f} min{ap}; "
        f"resumable state in {finished.last_path}"
    )


class _TrainingBar:
    """One updating line on a terminal (step, loss, images/s, ETA); plain lines every few seconds on a
    pipe. Epoch results and notices are printed as lines of their own."""

    def __init__(self, stream: TextIO, *, every: float = 10.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self._last = 0.0
        self._drawn = False
        self._total: int | None = None

    def show(self, event) -> None:
        kind = event.kind
        if kind == "step":
            self._step(event)
        elif kind == "started":
            self._total = event.total_steps
            self.message(
                f"training {event.architecture} on {counted(event.train_images, 'image')} "
                f"({event.val_images} for validation), {counted(len(event.classes), 'class', 'classes')}, "
                f"input {event.input_size} px, {event.device} {event.precision}"
                + (f", from step {event.start_step}" if event.start_step else "")
            )
        elif kind == "epoch":
            ap = "" if event.val_ap is None else f", val mask AP {event.val_ap:.3f} AP50 {event.val_ap50:.3f}"
            self.message(
                f"epoch {event.epoch}: loss {event.mean_loss:.3f}{ap}" + (" (best)" if event.best else "")
            )
        elif kind == "notice":
            self.message(f"annotator train: note: {event.message}")
        elif kind == "paused":
            self.message("paused" if event.paused else "resumed")

    def _step(self, event) -> None:
        eta = "--:--" if event.eta_s is None else f"{int(event.eta_s) // 60:02d}:{int(event.eta_s) % 60:02d}"
        total = f"/{self._total}" if self._total else ""
        text = (
            f"step {event.step}{total} epoch {event.epoch} loss {event.loss:.3f} "
            f"{event.images_per_s:.2f} img/s ETA {eta}"
        )
        if self.tty:
            width = 24
            filled = int(width * event.progress)
            self.stream.write(f"\r\033[K[{'#' * filled}{'.' * (width - filled)}] {text}")
            self.stream.flush()
            self._drawn = True
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(text, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\033[K")
            self._drawn = False
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
