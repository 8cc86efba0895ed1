"""Training speed and quality: our recipe (`annotator train`) against torchvision's reference loop.

Both train from scratch, in this process, one after the other, for the same wall-clock budget, on the
same synthetic set (`textured_shapes.py`: textured ellipses, rectangles and triangles, 384x288, exact
masks): our recipe through `annotator.inference.training.train` exactly as `annotator train DATA --out
M --minutes N` runs it (its 20% validation split included), the reference as torchvision's
`references/detection/train.py` trains Mask R-CNN: `maskrcnn_resnet50_fpn` (weights=None, default
min_size 800 / max_size 1333), plain fp32, SGD with momentum 0.9, weight decay 1e-4, lr 0.02 * bs / 16,
linear warm-up over the first 1000 iterations (from 0.001), horizontal flips, batch 2, on the same 80
training images. Then both are scored on the same held-out images with the same evaluation (the
model's own `eval()` forward, COCOeval segm AP and AP50).

Printed: training images/s of each (wall clock, and CPU seconds per image, which shared cores disturb
less), their ratio, held-out mask AP/AP50, and the load average around each phase (other processes
share these cores: compare the two phases' loads before trusting a ratio).

Run: `PYTHONPATH=src .venv/bin/python bench/train.py --minutes 20` (about 45 minutes in all);
`--skip-reference` measures only ours; `--work DIR` keeps the generated set between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from annotator.inference.openmp import prefer_sleeping_threads

prefer_sleeping_threads()  # as `annotator train` does, before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from annotator.core.training_set import select_training_set  # noqa: E402
from annotator.inference.models import load_checkpoint  # noqa: E402
from annotator.inference.predictor import configure_threads  # noqa: E402
from annotator.inference.train_config import Recipe, TrainConfig  # noqa: E402
from annotator.inference.train_data import Augmentation, TrainingImages  # noqa: E402
from annotator.inference.train_device import Precision  # noqa: E402
from annotator.inference.train_eval import validation_ap  # noqa: E402
from annotator.inference.training import train  # noqa: E402
from annotator.io.dataset_files import load_dataset_file  # noqa: E402
from textured_shapes import write_set  # noqa: E402


def make_sets(work: Path, train_images: int, held_out: int, camouflage: bool = False) -> tuple[Path, Path]:
    """The training set (seed 0) and the held-out set (seed 1), generated once per work folder."""
    sets = []
    for name, count, seed in (("train", train_images, 0), ("heldout", held_out, 1)):
        folder = work / f"{name}_{count}{'_camouflage' if camouflage else ''}"
        path = folder / "annotations.json"
        if not path.is_file():
            write_set(folder, count, seed, camouflage=camouflage)
        sets.append(path)
    return sets[0], sets[1]


def run_ours(
    data: Path,
    out: Path,
    minutes: float,
    recipe: Recipe,
    model: dict,
    clock,
    input_size: int | None = None,
    resume: Path | None = None,
    seed: int = 0,
) -> dict:
    """`annotator train DATA --out OUT --minutes M [--resume LAST] [--seed S]`, timing the training steps only."""
    steps: list = []
    config = TrainConfig(
        data=data, out=out, minutes=minutes, recipe=recipe, model=model, input_size=input_size, resume=resume,
        seed=seed,
    )  # fmt: skip
    started, cpu = time.perf_counter(), time.process_time()
    finished = train(config, on_event=lambda e: _log_ours(e, steps), clock=clock)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    images = sum(s.images for s in steps)
    step_seconds = sum(s.seconds for s in steps)
    return {
        "images": images,
        "images_per_s": images / step_seconds,
        "cpu_s_per_image": cpu / max(images, 1),  # includes its validation passes: an upper bound
        "wall_s": wall,
        "best_val_ap50": finished.best_val_ap50,
        "model": load_checkpoint(out).model,
    }


def _log_ours(event, steps: list) -> None:
    if event.kind == "step":
        steps.append(event)
        if event.step % 25 == 0:
            parts = " ".join(f"{k} {v:.3f}" for k, v in event.losses.items())
            print(f"  ours step {event.step}: loss {event.loss:.3f} ({parts}), {event.images_per_s:.2f} img/s, "
                  f"{event.elapsed_s / 60:.1f} min", flush=True)  # fmt: skip
    elif event.kind == "epoch":
        minutes = steps[-1].elapsed_s / 60 if steps else 0.0
        print(f"  ours epoch {event.epoch} ({minutes:.1f} min): loss {event.mean_loss:.3f}, "
              f"val AP {event.val_ap} AP50 {event.val_ap50}", flush=True)  # fmt: skip
    elif event.kind in ("started", "notice", "finished"):
        print(f"  ours {event.kind}: {event.to_json()}", flush=True)


def run_reference(images: TrainingImages, minutes: float, clock, batch: int = 2) -> dict:
    """torchvision's references/detection training loop, as its train.py runs Mask R-CNN."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=len(images.label_of) + 1)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    lr = 0.02 * batch / 16
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    warmup = 1000
    budget, trained, step, step_seconds = minutes * 60, 0, 0, 0.0
    started, cpu, began = time.perf_counter(), time.process_time(), clock()
    rng = np.random.default_rng(0)
    while clock() - began < budget:
        order = rng.permutation(len(images))
        for first in range(0, len(order) - batch + 1, batch):
            if clock() - began >= budget:
                break
            t0 = time.perf_counter()
            samples = [images.sample(int(i), step) for i in order[first : first + batch]]
            factor = 0.001 + (1 - 0.001) * min(1.0, step / warmup)  # LinearLR(start_factor=0.001)
            for group in optimizer.param_groups:
                group["lr"] = lr * factor
            losses = model([s.image for s in samples], [s.target for s in samples])
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            trained += batch
            step_seconds += time.perf_counter() - t0
            print(f"  reference step {step}: loss {loss.item():.3f}, {batch / (time.perf_counter() - t0):.3f} img/s, "
                  f"{(time.perf_counter() - started) / 60:.1f} min", flush=True)  # fmt: skip
    cpu = time.process_time() - cpu
    return {
        "images": trained,
        "images_per_s": trained / max(step_seconds, 1e-9),
        "cpu_s_per_image": cpu / max(trained, 1),
        "wall_s": time.perf_counter() - started,
        "model": model.eval(),
    }


def held_out_ap(model: torch.nn.Module, heldout: Path) -> tuple[float, float]:
    loaded = load_dataset_file(heldout)
    held = select_training_set(loaded.dataset, val_split=0.0)
    label_of = {c.id: i for i, c in enumerate(held.categories, start=1)}
    images = TrainingImages(held.train, heldout.parent, label_of, max_side=10_000)
    validation = validation_ap(
        model,
        images,
        held.label_to_category,
        device=torch.device("cpu"),
        autocast=Precision("cpu", None).autocast,
    )
    assert validation is not None
    return validation.scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget of each, wall clock")
    parser.add_argument("--images", type=int, default=100, help="labelled training images (20%% validate)")
    parser.add_argument("--held-out", type=int, default=40, help="held-out images for the final AP")
    parser.add_argument("--work", type=Path, help="folder for the generated sets and models (default: temp)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--camouflage", action="store_true",
        help="objects in the ground's own texture and colours, turned (textured_shapes.py's hard variant)",
    )  # fmt: skip
    parser.add_argument("--reference-only", action="store_true", help="measure only the reference")
    parser.add_argument("--name", default="ours", help="our model is written to WORK/NAME.pt")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue our run from WORK/NAME.last.pt (its settings, time and budget so far)",
    )  # fmt: skip
    parser.add_argument("--norm", choices=("bn", "gn"), help="override our norm layers")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="what the budget counts: wall-clock seconds, or this process's CPU seconds per core (on cores "
        "shared with other work, what an idle machine would give in that wall time)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, help="override our recipe's batch size")
    parser.add_argument("--lr", type=float, help="override our recipe's learning rate")
    parser.add_argument("--input-size", type=int, help="override our input size")
    parser.add_argument(
        "--seed", type=int, default=0,
        help="our run's seed (validation split, image order, augmentation, initial weights): repeat a run with "
        "other seeds to see how much runs differ with nothing changed",
    )  # fmt: skip
    parser.add_argument(
        "--model", action="append", default=[], metavar="KEY=VALUE",
        help="model setting override (an int, or ints separated by commas for a tuple)",
    )  # fmt: skip
    parser.add_argument(
        "--recipe", action="append", default=[], metavar="KEY=VALUE",
        help="recipe override, the value as JSON (e.g. lr=0.003, scale_jitter=[0.8,1.2])",
    )  # fmt: skip
    args = parser.parse_args(argv)
    configure_threads()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    data, heldout = make_sets(work, args.images, args.held_out, args.camouflage)
    changes = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.recipe)}
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    if args.lr:
        changes["lr"] = args.lr
    recipe = Recipe(**{**Recipe().__dict__, **changes})
    model: dict = {k: _setting(v) for k, v in (item.split("=", 1) for item in args.model)}
    if args.norm:
        model["norm"] = args.norm
    print(f"recipe {recipe}, model overrides {model}, input size {args.input_size or 'auto'}")
    print(f"cores {len(os.sched_getaffinity(0))}, torch threads {torch.get_num_threads()}, work {work}")

    threads = torch.get_num_threads()
    clock = time.perf_counter if args.clock == "wall" else (lambda: time.process_time() / threads)
    if args.reference_only:
        _report("reference", _reference(data, heldout, args.minutes, clock))
        return 0
    load = os.getloadavg()[0]
    out = work / f"{args.name}.pt"
    resume = out.with_name(f"{out.stem}.last.pt") if args.resume else None
    ours = run_ours(data, out, args.minutes, recipe, model, clock, args.input_size, resume, args.seed)
    ours["load"] = (load, os.getloadavg()[0])
    ours["ap"] = held_out_ap(ours["model"], heldout)
    _report("ours", ours)
    if args.skip_reference:
        return 0
    reference = _reference(data, heldout, args.minutes, clock)
    _report("reference", reference)
    ratio = ours["images_per_s"] / reference["images_per_s"]
    cpu_ratio = reference["cpu_s_per_image"] / ours["cpu_s_per_image"]
    print(f"throughput ratio ours/reference: {ratio:.1f}x (wall), {cpu_ratio:.1f}x (CPU seconds per image)")
    print(f"held-out mask AP: ours {ours['ap'][0]:.3f} vs reference {reference['ap'][0]:.3f}; "
          f"AP50 ours {ours['ap'][1]:.3f} vs reference {reference['ap'][1]:.3f}")  # fmt: skip
    return 0


def _setting(value: str) -> int | str | tuple[int, ...]:
    if "," in value:
        return tuple(int(v) for v in value.split(",") if v)
    return int(value) if value.lstrip("-").isdigit() else value


def _reference(data: Path, heldout: Path, minutes: float, clock) -> dict:
    loaded = load_dataset_file(data)
    split = select_training_set(loaded.dataset, val_split=0.2)  # the images ours trains on
    label_of = {c.id: i for i, c in enumerate(split.categories, start=1)}
    images = TrainingImages(
        split.train, data.parent, label_of, max_side=10_000, augment=Augmentation(hflip=True)
    )
    load = os.getloadavg()[0]
    result = run_reference(images, minutes, clock)
    result["load"] = (load, os.getloadavg()[0])
    result["ap"] = held_out_ap(result["model"], heldout)
    return result


def _report(name: str, result: dict) -> None:
    ap, ap50 = result["ap"]
    print(
        f"{name}: {result['images']} images trained in {result['wall_s'] / 60:.1f} min, "
        f"{result['images_per_s']:.3f} images/s, {result['cpu_s_per_image']:.2f} CPU s/image, "
        f"held-out mask AP {ap:.3f} AP50 {ap50:.3f} (load average {result['load'][0]:.1f} -> {result['load'][1]:.1f})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
