"""The training engine: fine-tune or train Mask R-CNN on a dataset's trainable instances.

`train(config, on_event=..., cancel=...)` is the one entry point; the CLI (`annotator train`, a progress
bar) and the GUI's training process (`train_worker`, JSON lines) both drive it. It reports through small
plain events (`train_events`), checks `cancel` between steps (pause blocks there, cancel saves and
stops), validates after each epoch (COCOeval segm AP), keeps the best model at `config.out` (with its
detections on the validation images at `config.val_predictions_path`, for the label audit) and a
resumable one at `config.last_path`, written atomically at each epoch end and at least every
`config.save_every_s` seconds, so killing the process loses at most that much work.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import torch

from annotator.core.model import Category
from annotator.core.predictor import CancelToken
from annotator.core.training_set import TrainingSet, TrainingSetError, select_training_set
from annotator.inference.models import save_checkpoint
from annotator.inference.predictor import configure_threads
from annotator.inference.train_config import DEFAULT_EPOCHS, TrainConfig
from annotator.inference.train_data import TrainingImages, augmentation, jitter_factor
from annotator.inference.train_device import Precision, pick_device, precision_for
from annotator.inference.train_ema import WeightAverage
from annotator.inference.train_eval import Validation, validation_ap
from annotator.inference.train_events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    Finished,
    Notice,
    Paused,
    Started,
    Step,
)
from annotator.inference.train_resume import read_resume_state, resume_payload
from annotator.inference.train_setup import StartingPoint, starting_point
from annotator.io.atomic import write_bytes_atomic
from annotator.io.dataset_files import load_dataset_file
from annotator.io.errors import DatasetError
from annotator.io.paths import resolve_inside

MAX_BAD_STEPS = 10  # consecutive non-finite losses before the run is declared diverged
# Validation may take at most about this share of the training time: on a small set an epoch can be as
# short as one validation pass (measured: 20 validation images cost a fifth of an 80-image epoch), so
# epochs between two validations are then reported without a score. The first and last are scored.
VALIDATION_SHARE = 0.1


class TrainingDiverged(RuntimeError):
    """The loss stayed NaN or infinite: the learning rate is too high for this data."""


@dataclass
class _Run:
    """The state of one run, changed as it goes."""

    config: TrainConfig
    training_set: TrainingSet
    start: StartingPoint
    images: TrainingImages
    val_images: TrainingImages
    optimizer: torch.optim.Optimizer
    precision: Precision
    device: torch.device
    input_size: int
    steps_per_epoch: int
    total_steps: int | None
    budget_s: float | None
    epoch: int = 0
    position: int = 0  # images of this epoch already trained on
    step: int = 0
    elapsed_before: float = 0.0  # seconds spent before a resume
    best: tuple[float, float] | None = None  # (AP, AP50) of the model at config.out
    best_is_start: bool = False  # config.out holds the model the round started from (a tie replaces it)
    model_saved: bool = False
    epoch_losses: list[float] = field(default_factory=list)
    bad_steps: int = 0
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))  # (images, s)
    last_saved: tuple[int, int, int] | None = None  # (step, epoch, position) of the last "last" save
    validated_step: int = -1  # the step the last validation scored
    validated_at: float = 0.0  # training time at the end of the last validation
    validation_s: float | None = None  # what the last validation cost
    average: WeightAverage | None = None  # the weights validated and kept (Recipe.ema), None: the model's

    @property
    def model(self) -> torch.nn.Module:
        return self.start.model

    @property
    def categories(self) -> tuple[Category, ...]:
        return self.training_set.categories

    def averaged(self) -> contextlib.AbstractContextManager:
        """The model holds the weights to validate and keep inside this block."""
        return contextlib.nullcontext() if self.average is None else self.average.swapped_in(self.model)


def train(
    config: TrainConfig,
    *,
    on_event: Callable[[Event], None] | None = None,
    cancel: CancelToken | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Finished:
    """Run `config` to its end (epochs, minutes or cancel); returns the Finished event it also emits.

    Bad input raises DatasetError (one line, naming the file and the problem) before any training.
    `clock` measures the training time that `config.minutes` bounds (a benchmark on shared cores may
    pass process CPU time per core instead of the wall clock).
    """
    emit = on_event or (lambda event: None)
    cancel = cancel or CancelToken()
    run = _prepare(config, emit)
    timer = _Clock(run.elapsed_before, clock)
    if config.resume is None and run.start.kept_classes and run.start.source not in ("scratch", "coco"):
        _keep_the_start(run, timer, emit)
    return _loop(run, emit, cancel, timer)


# -- preparation --------------------------------------------------------------------------------------
def _prepare(config: TrainConfig, emit: Callable[[Event], None]) -> _Run:
    configure_threads()
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    resume = read_resume_state(config.resume) if config.resume is not None else None
    if resume is not None:
        config = resume.config_for(config)
    training_set, root = _training_set(config, emit)
    if resume is not None:
        resume.check_classes(training_set.label_to_category)
        start = resume.starting_point()
    else:
        start = starting_point(config, training_set.categories, input_size=config.input_size,
                               items=training_set.train)  # fmt: skip
    start.model.to(device)
    input_size = start.settings.max_size
    precision = precision_for(config.recipe.precision, device)
    if config.recipe.channels_last:
        start.model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(start.model, config)
    label_of = {c.id: label for label, c in enumerate(training_set.categories, start=1)}
    max_side = int(math.ceil(input_size * config.recipe.scale_jitter[1]))
    images = TrainingImages(training_set.train, root, label_of, max_side=max_side,
                            augment=augmentation(config.recipe), seed=config.seed)  # fmt: skip
    val_images = TrainingImages(training_set.validation, root, label_of, max_side=max_side)
    steps_per_epoch = -(-len(images) // config.recipe.batch_size)
    epochs = config.epochs if config.epochs is not None or config.minutes is not None else DEFAULT_EPOCHS
    run = _Run(
        config, training_set, start, images, val_images, optimizer, precision, device, input_size,
        steps_per_epoch, None if epochs is None else epochs * steps_per_epoch,
        None if config.minutes is None else config.minutes * 60.0,
    )  # fmt: skip
    if config.recipe.ema:
        run.average = WeightAverage(start.model, config.recipe.ema)
    if resume is not None:
        resume.restore(run_state=run, optimizer=optimizer)
    emit(_started(run))
    return run


def _keep_the_start(run: _Run, clock: _Clock, emit: Callable[[Event], None]) -> None:
    """A round that continues from one of our models keeps that model unless training beats it on this
    round's validation images: a new round (its warm-up at the full learning rate, other images) can
    start worse than it began, and the model it leaves must never be worse than the one it started
    from."""
    validation = _validate(run, CancelToken())
    if validation is None:
        return
    _save_model(run, validation, clock, emit)
    run.best_is_start = True
    emit(Notice(f"the starting model scores AP50 {validation.ap50:.3f} on this round's validation images; "
                f"it is kept unless training does better"))  # fmt: skip


def _training_set(config: TrainConfig, emit: Callable[[Event], None]) -> tuple[TrainingSet, Path]:
    loaded = load_dataset_file(config.data)  # missing images are the training set's to report, once
    root = config.images_root or loaded.root or (config.data if config.data.is_dir() else config.data.parent)
    if loaded.problems:
        more = f" (and {len(loaded.problems) - 3} more)" if len(loaded.problems) > 3 else ""
        emit(Notice(f"{config.data}: {len(loaded.problems)} items skipped on reading: "
                    f"{'; '.join(str(p) for p in loaded.problems[:3])}{more}"))  # fmt: skip
    try:
        training_set = select_training_set(
            loaded.dataset, val_split=config.val_split, seed=config.seed,
            image_available=lambda image: _unreadable(root, image.file_name),
        )  # fmt: skip
    except TrainingSetError as exc:
        raise DatasetError(config.data, str(exc)) from None
    for message in training_set.notices:
        emit(Notice(message))
    return training_set, root


def _unreadable(root: Path, file_name: str) -> str | None:
    try:
        path = resolve_inside(root, file_name)
    except DatasetError as exc:
        return exc.reason
    return None if path.is_file() else f"not found under {root}"


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    recipe = config.recipe
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def _started(run: _Run) -> Started:
    return Started(
        architecture=run.start.settings.architecture,
        device=run.device.type,
        precision=run.precision.describe(),
        input_size=run.input_size,
        train_images=len(run.images),
        val_images=len(run.val_images),
        classes=[{"id": c.id, "name": c.name} for c in run.categories],
        total_steps=run.total_steps,
        start_step=run.step,
    )


# -- the loop -----------------------------------------------------------------------------------------
def _loop(run: _Run, emit: Callable[[Event], None], cancel: CancelToken, clock: _Clock) -> Finished:
    last_save = clock.elapsed()
    reason = "done"
    while reason == "done" and not _steps_done(run):
        order = np.random.default_rng((run.config.seed, run.epoch)).permutation(len(run.images))
        while run.position < len(order):
            if _wait_if_paused(cancel, clock, emit):
                reason = "cancelled"
                break
            if run.budget_s is not None and clock.elapsed() >= run.budget_s:
                reason = "time"
                break
            batch = order[run.position : run.position + run.config.recipe.batch_size]
            _train_step(run, batch, clock, emit)
            run.position += len(batch)
            if _steps_done(run):
                break
            if clock.elapsed() - last_save >= run.config.save_every_s:
                _save_last(run, clock, emit)
                last_save = clock.elapsed()
        if run.position >= len(order):
            run.epoch, run.position = run.epoch + 1, 0
            _end_of_epoch(run, clock, emit, cancel)
            last_save = clock.elapsed()
        elif reason != "done":
            break
    return _finish(run, reason, clock, emit)


def _train_step(run: _Run, batch: np.ndarray, clock: _Clock, emit: Callable[[Event], None]) -> None:
    model, recipe = run.model, run.config.recipe
    model.train()
    samples = [run.images.sample(int(i), run.epoch) for i in batch]
    _set_input_size(
        run, jitter_factor(np.random.default_rng((run.config.seed, run.step, 7)), recipe.scale_jitter)
    )
    lr = _learning_rate(run, clock)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    started = time.perf_counter()
    images = [s.image.to(run.device) for s in samples]
    targets = [{k: v.to(run.device) for k, v in s.target.items()} for s in samples]
    with run.precision.autocast():
        losses = model(images, targets)
    loss = sum(value.float() for value in losses.values())
    if not torch.isfinite(loss):
        _skip_bad_step(run, emit)
        return
    run.bad_steps = 0
    run.precision.backward_and_step(loss, run.optimizer, recipe.grad_clip)
    run.step += 1
    if run.average is not None:
        run.average.update(model, run.step)
    run.epoch_losses.append(loss.item())
    seconds = time.perf_counter() - started
    parts = {k.removeprefix("loss_"): round(v.detach().item(), 4) for k, v in losses.items()}
    run.recent.append((len(samples), seconds))
    rate = sum(n for n, _ in run.recent) / sum(t for _, t in run.recent)
    emit(Step(step=run.step, epoch=run.epoch + 1, images=len(samples), seconds=round(seconds, 4),
              loss=round(run.epoch_losses[-1], 4), losses=parts, lr=lr, images_per_s=round(rate, 3),
              elapsed_s=round(clock.elapsed(), 1), eta_s=_eta(run, clock),
              progress=round(_progress(run, clock), 4)))  # fmt: skip


def _set_input_size(run: _Run, factor: float) -> None:
    """The model's own resize rule (short side, long side cap) scaled by `factor`, multiples of 32."""
    settings = run.start.settings
    run.model.transform.min_size = (max(32, round(settings.min_size * factor / 32) * 32),)
    run.model.transform.max_size = max(32, round(settings.max_size * factor / 32) * 32)


def _skip_bad_step(run: _Run, emit: Callable[[Event], None]) -> None:
    run.optimizer.zero_grad(set_to_none=True)
    run.bad_steps += 1
    emit(Notice(f"step {run.step + 1}: the loss is not finite; that batch was skipped"))
    if run.bad_steps >= MAX_BAD_STEPS:
        raise TrainingDiverged(
            f"the loss was not finite {MAX_BAD_STEPS} steps in a row; try a lower learning rate"
        )


def _learning_rate(run: _Run, clock: _Clock) -> float:
    """Linear warm-up from 0.1% of the peak, then cosine decay to `final_lr_fraction` of it."""
    recipe = run.config.recipe
    warm = min(1.0, (run.step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
    warm = 0.001 + 0.999 * warm
    progress = _progress(run, clock)
    cosine = recipe.final_lr_fraction + (1 - recipe.final_lr_fraction) * 0.5 * (
        1 + math.cos(math.pi * progress)
    )
    return recipe.lr * warm * cosine


def _progress(run: _Run, clock: _Clock) -> float:
    parts = []
    if run.total_steps:
        parts.append(run.step / run.total_steps)
    if run.budget_s:
        parts.append(clock.elapsed() / run.budget_s)
    return min(1.0, max(parts)) if parts else 0.0


def _eta(run: _Run, clock: _Clock) -> float | None:
    elapsed = clock.elapsed()
    progress = _progress(run, clock)
    if progress <= 0:
        return None
    done_here = elapsed - run.elapsed_before
    progress_here = progress - (run.elapsed_before / elapsed if elapsed else 0.0) * progress
    if progress_here <= 0:
        return None
    return round(max(0.0, done_here / progress_here * (1 - progress)), 1)


def _steps_done(run: _Run) -> bool:
    return run.total_steps is not None and run.step >= run.total_steps


def _wait_if_paused(cancel: CancelToken, clock: _Clock, emit: Callable[[Event], None]) -> bool:
    """Block while paused (the clock stops); True once cancelled."""
    if cancel.paused and not cancel.cancelled:
        emit(Paused(True))
        with clock.stopped():
            cancelled = cancel.checkpoint()
        emit(Paused(False))
        return cancelled
    return cancel.cancelled


def _end_of_epoch(run: _Run, clock: _Clock, emit: Callable[[Event], None], cancel: CancelToken) -> None:
    mean_loss = round(float(np.mean(run.epoch_losses)), 4) if run.epoch_losses else None
    run.epoch_losses = []
    validation = _validate(run, cancel, clock, emit) if _validation_due(run, clock) else None
    scores = None if validation is None else validation.scores
    better = scores is not None and _beats(scores, run)
    if better or (scores is None and not len(run.val_images)):
        _save_model(run, validation, clock, emit)
    emit(EpochEnd(epoch=run.epoch, step=run.step, mean_loss=mean_loss,
                  val_ap=None if scores is None else round(scores[0], 4),
                  val_ap50=None if scores is None else round(scores[1], 4), best=better))  # fmt: skip
    _save_last(run, clock, emit)


def _beats(scores: tuple[float, float], run: _Run) -> bool:
    """Better than the model kept so far (AP, then AP50); a trained model also wins a tie with the start."""
    if run.best is None:
        return True
    if run.best_is_start and scores >= run.best:
        return True
    return scores[0] > run.best[0] or (scores[0] == run.best[0] and scores[1] > run.best[1])


def _validation_due(run: _Run, clock: _Clock) -> bool:
    """Score this epoch: the first, the last of a run of epochs, and then whenever the training since the
    last validation is long enough for that validation's cost to be at most VALIDATION_SHARE of it."""
    if run.validation_s is None or _steps_done(run):
        return True
    return run.validation_s <= VALIDATION_SHARE * (clock.elapsed() - run.validated_at)


def _validate(
    run: _Run, cancel: CancelToken, clock: _Clock | None = None, emit: Callable[[Event], None] | None = None
) -> Validation | None:
    """The model scored on the validation images; a pause takes effect between two of them (with `emit`)."""
    if not len(run.val_images):
        return None
    model = run.model
    _set_input_size(run, 1.0)
    began = None if clock is None else clock.elapsed()
    if clock is not None and emit is not None:
        stop = lambda: _wait_if_paused(cancel, clock, emit)  # noqa: E731
    else:
        stop = lambda: cancel.cancelled  # noqa: E731
    try:
        with run.averaged():
            validation = validation_ap(model, run.val_images, run.training_set.label_to_category,
                                       device=run.device, autocast=run.precision.autocast, cancelled=stop)  # fmt: skip
    finally:
        model.train()
    if validation is not None and clock is not None and began is not None:
        run.validated_at = clock.elapsed()
        run.validation_s = run.validated_at - began
        run.validated_step = run.step
    return validation


def _finish(run: _Run, reason: str, clock: _Clock, emit: Callable[[Event], None]) -> Finished:
    """Validate a partly done epoch, keep the better model, save the resumable state, report."""
    if run.step > 0:  # stopped before any training: nothing worth a file
        if reason == "time" and run.validated_step != run.step:
            validation = _validate(run, CancelToken(), clock)
            if validation is not None and _beats(validation.scores, run):
                _save_model(run, validation, clock, emit)
        if not run.model_saved or (not len(run.val_images) and run.position > 0):
            _save_model(run, None, clock, emit)  # without validation, the latest model is the one
        if run.last_saved != (run.step, run.epoch, run.position):
            _save_last(run, clock, emit)
    finished = _finished(run, reason, clock)
    emit(finished)
    return finished


def _finished(run: _Run, reason: str, clock: _Clock) -> Finished:
    best = run.best
    return Finished(
        reason=reason,
        model_path=str(run.config.out) if run.model_saved else None,
        last_path=None if run.last_saved is None else str(run.config.last_path),
        steps=run.step,
        epochs=run.epoch,
        best_val_ap=None if best is None else round(best[0], 4),
        best_val_ap50=None if best is None else round(best[1], 4),
        elapsed_s=round(clock.elapsed(), 1),
    )


# -- saving -------------------------------------------------------------------------------------------
def _save_model(
    run: _Run, validation: Validation | None, clock: _Clock, emit: Callable[[Event], None]
) -> None:
    """The model to use, at `config.out`, and with a `validation` its detections on the validation
    images beside it (`config.val_predictions_path`); both atomic, so a failed write keeps the
    previous ones."""
    if validation is not None:
        run.best, run.best_is_start = validation.scores, False
    if _save(run, run.config.out, clock, training=False, emit=emit):
        run.model_saved = True
        emit(CheckpointSaved(path=str(run.config.out), role="best", step=run.step))
        if validation is not None:
            _save_val_predictions(run, validation, emit)
        else:  # a model not validated: detections left there by an earlier model are not its own
            with contextlib.suppress(FileNotFoundError):
                os.unlink(run.config.val_predictions_path)  # a link there is removed, never followed


def _save_val_predictions(run: _Run, validation: Validation, emit: Callable[[Event], None]) -> None:
    """The kept model's detections on the validation images: out-of-fold predictions for `annotator
    audit DATA MODEL.val-predictions.json` (a COCO results list, ids those of DATA)."""
    path = run.config.val_predictions_path
    try:
        write_bytes_atomic(path, orjson.dumps(validation.predictions))
    except DatasetError as exc:
        emit(Notice(f"could not save {path}: {exc.reason}; the previous file is unchanged"))


def _save_last(run: _Run, clock: _Clock, emit: Callable[[Event], None]) -> None:
    if _save(run, run.config.last_path, clock, training=True, emit=emit):
        run.last_saved = (run.step, run.epoch, run.position)
        emit(CheckpointSaved(path=str(run.config.last_path), role="last", step=run.step))


def _save(run: _Run, path: Path, clock: _Clock, *, training: bool, emit: Callable[[Event], None]) -> bool:
    model = run.model
    history = [*run.start.history, _history_record(run, clock)]
    state = resume_payload(run, clock.elapsed()) if training else None
    try:
        with contextlib.nullcontext() if training else run.averaged():  # resuming needs the raw weights
            save_checkpoint(path, model, architecture=run.start.settings.architecture,
                            categories=run.categories, label_to_category=run.training_set.label_to_category,
                            settings=run.start.settings, history=history, training=state)  # fmt: skip
    except DatasetError as exc:
        emit(Notice(f"could not save {path}: {exc.reason}; the previous file is unchanged"))
        return False
    return True


def _history_record(run: _Run, clock: _Clock) -> dict:
    best = run.best
    return {
        "round": len(run.start.history) + 1,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "started_from": run.start.source,
        "train_images": len(run.images),
        "val_images": len(run.val_images),
        "epochs": run.epoch,
        "steps": run.step,
        "minutes": round(clock.elapsed() / 60, 2),
        "input_size": run.input_size,
        "val_ap": None if best is None else round(best[0], 4),
        "val_ap50": None if best is None else round(best[1], 4),
    }


class _Clock:
    """Training time: wall time since the start plus time before a resume, less paused time."""

    def __init__(self, before: float, source: Callable[[], float] = time.perf_counter) -> None:
        self._source = source
        self._start = source() - before
        self._paused = 0.0

    def elapsed(self) -> float:
        return self._source() - self._start - self._paused

    @contextlib.contextmanager
    def stopped(self):
        began = self._source()
        try:
            yield
        finally:
            self._paused += self._source() - began
