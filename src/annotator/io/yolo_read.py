"""YOLO segmentation labels read back: one `.txt` per image, lines `class x1 y1 x2 y2 ...` (normalised).

The coordinates are fractions of the image's size, so labels are read against images whose size is
known: the project's. A label file finds its image by its path without suffix (`train/a.txt` is
`train/a.jpg`, or `images/train/a.jpg` in ultralytics' images/labels layout and our own export), else by
a stem only one image has. Class names come from `data.yaml` (`names`, a list or a mapping) or
`classes.txt`, beside the labels or up to two folders above them; without either a class is named by its
index. A name must be one value (text, a number), never a list or a mapping: YAML aliases let a 1 KB
file describe a list of billions of items, which `str()` would spell out ("billion laughs"). A line with
an odd number of coordinates carries a confidence at its end (ultralytics' `save_conf`) and is a model's prediction with that score; `class cx cy w h` is a box (YOLO detection)
and becomes its rectangle. Every line that cannot be read is reported, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from annotator.core.geometry import Polygons
from annotator.core.model import Category, Dataset, Image, Instance, Source
from annotator.io.coco import with_default_z_order
from annotator.io.errors import DatasetError
from annotator.io.problems import Problems
from annotator.io.values import clean_name

NAME_FILES = ("data.yaml", "dataset.yaml", "classes.txt")
MAX_LABEL_BYTES = 64 * 1024 * 1024  # a label file larger than this is not a label file
MAX_NAMES_BYTES = 16 * 1024 * 1024  # nor a data.yaml or classes.txt larger than this
_CONTAINERS = (list, dict, set, tuple)  # a class name in a data.yaml is one value (text, a number, a date)


@dataclass
class YoloImport:
    """Labels on the images they matched (the images as given), and what could not be placed."""

    dataset: Dataset
    problems: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # label files that found no image
    root: Path = Path(".")


def load_yolo(
    path: str | Path,
    images: Iterable[Image],
    *,
    model_name: str | None = None,
    known_classes: Sequence[str] = (),
) -> YoloImport:
    """Read a labels folder, one label file, or a `data.yaml`/`classes.txt` (the labels beside it).
    Without either, class index i is `known_classes[i]` (the project's classes in the order its YOLO
    export numbers them), or else named by its index."""
    path = Path(path)
    labels_dir, files, names_file = _layout(path)
    reader = _Reader(list(images), None, model_name or labels_dir.name)
    if names_file is not None and names_file != path and names_file.is_symlink():
        # found by searching up to two folders above the labels, where a link could lead anywhere
        reader.problems.add(names_file.name, f"{names_file} is a symbolic link; not read")
        names_file = None
    reader.names = _read_names(names_file) if names_file is not None else None
    scanned = path.is_dir() or path.name in NAME_FILES
    for file in files:
        reader.read_file(file, file.relative_to(labels_dir).with_suffix("").as_posix(), scanned=scanned)
    if names_file is None and reader.instances and known_classes:
        reader.names = {i: name for i, name in enumerate(known_classes) if i in reader.used}
        reader.problems.add(
            None,
            "no data.yaml or classes.txt found: class index i taken as the project's i-th class in id "
            f"order, as its YOLO export numbers them (0 = {known_classes[0]})",
        )
    elif names_file is None and reader.instances:
        reader.problems.add(None, "no data.yaml or classes.txt found: classes are named by their index")
    return YoloImport(reader.build(), reader.problems.lines(), reader.unmatched, labels_dir)


def is_yolo_labels(folder: Path) -> bool:
    """Whether `folder` holds YOLO label files (a `.txt` other than classes.txt, below it)."""
    return any(_label_files(folder))


def _layout(path: Path) -> tuple[Path, list[Path], Path | None]:
    """The labels folder, its label files and the file naming the classes."""
    if path.is_dir():
        files = sorted(_label_files(path))
        if not files:
            raise DatasetError(path, "no YOLO label files (.txt) in this folder")
        return path, files, _find_names(path)
    if not path.is_file():
        raise DatasetError(path, "no such file or folder")
    if path.name in NAME_FILES:
        folder = path.parent / "labels" if (path.parent / "labels").is_dir() else path.parent
        files = sorted(_label_files(folder))
        if not files:
            raise DatasetError(path, f"no YOLO label files (.txt) in {folder}")
        return folder, files, path
    if path.suffix.lower() != ".txt":
        raise DatasetError(path, "not a YOLO label file (.txt), labels folder or data.yaml")
    return path.parent, [path], _find_names(path.parent)


def _label_files(folder: Path) -> Iterable[Path]:
    for file in folder.rglob("*.txt"):
        hidden = any(part.startswith(".") for part in file.relative_to(folder).parts)
        if file.is_file() and file.name not in NAME_FILES and not hidden:
            yield file


def _find_names(folder: Path) -> Path | None:
    for candidate_folder in (folder, folder.parent, folder.parent.parent):
        for name in NAME_FILES:
            if (candidate_folder / name).is_file():
                return candidate_folder / name
    return None


def _read_names(path: Path) -> dict[int, str]:
    """Class index -> name from `classes.txt` (one per line) or a YOLO `data.yaml` (`names`)."""
    try:
        if path.stat().st_size > MAX_NAMES_BYTES:
            raise DatasetError(path, f"larger than {MAX_NAMES_BYTES >> 20} MiB: not a list of class names")
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark, as Windows tools write
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read the class names: {exc}") from None
    if path.suffix == ".txt":
        return {i: line.strip() for i, line in enumerate(text.splitlines()) if line.strip()}
    import yaml  # PyYAML: only a data.yaml needs it

    try:
        names = (yaml.safe_load(text) or {}).get("names")
    except (yaml.YAMLError, AttributeError) as exc:
        raise DatasetError(path, f"not a YOLO data.yaml: {exc}") from None
    except RecursionError:  # PyYAML composes nested lists recursively: `[[[[...` 100,000 deep
        raise DatasetError(path, "not a YOLO data.yaml: nested too deeply") from None
    if isinstance(names, list):
        pairs = list(enumerate(names))
    elif isinstance(names, dict) and all(isinstance(k, int) for k in names):
        pairs = list(names.items())
    else:
        raise DatasetError(path, "not a YOLO data.yaml: no 'names' list or mapping of class index to name")
    for index, name in pairs:
        if isinstance(name, _CONTAINERS):
            raise DatasetError(
                path, f"the name is {type(name).__name__}, not text", item=f"class {int(index)}"
            )
    return {int(index): str(name) for index, name in pairs}


class _Reader:
    def __init__(self, images: list[Image], names: dict[int, str] | None, model_name: str) -> None:
        self.names = names
        self.model_name = model_name
        self.by_stem = {_stem(i.file_name): i for i in images}
        self.by_ending: dict[str, list[Image]] = {}  # every trailing part of each path without suffix
        for image in images:
            parts = _stem(image.file_name).split("/")
            for start in range(len(parts)):
                self.by_ending.setdefault("/".join(parts[start:]), []).append(image)
        self.images: dict[int, Image] = {}
        self.instances: list[Instance] = []
        self.used: set[int] = set()
        self.unmatched: list[str] = []
        self.problems = Problems()

    def read_file(self, file: Path, stem: str, *, scanned: bool = False) -> None:
        """`scanned`: found in a folder scan, where a link is not followed (it could lead anywhere)."""
        item = f"{stem}.txt"
        if scanned and file.is_symlink():
            self.problems.add(item, "is a symbolic link; not read")
            return
        image = self._image_for(stem)
        if image is None:
            self.unmatched.append(item)
            return
        if image.id in self.images:
            self.problems.add(item, f"a second label file for {image.file_name}; skipped")
            return
        try:
            if file.stat().st_size > MAX_LABEL_BYTES:
                raise DatasetError(file, "too large for a label file")
            lines = file.read_text(encoding="utf-8-sig").splitlines()  # a byte order mark is skipped
        except (OSError, UnicodeDecodeError, DatasetError) as exc:
            self.problems.add(item, f"cannot read: {exc}; skipped")
            return
        self.images[image.id] = image
        for number, line in enumerate(lines, start=1):
            if line.strip():
                self._read_line(line.split(), image, f"{item} line {number}")

    def _image_for(self, stem: str) -> Image | None:
        """The image at the label's path, else the one image whose path ends with it, else the one image
        with its base name."""
        found = self.by_stem.get(stem)
        if found is not None:
            return found
        for key in (stem, PurePosixPath(stem).name):
            candidates = self.by_ending.get(key, [])
            if len(candidates) == 1:
                return candidates[0]
        return None

    def _read_line(self, values: list[str], image: Image, item: str) -> None:
        try:
            index = int(values[0])
            numbers = np.array([float(v) for v in values[1:]], dtype=np.float64)
        except ValueError:
            self.problems.add(item, "not a class index followed by numbers; skipped")
            return
        if index < 0 or not np.isfinite(numbers).all():
            self.problems.add(item, "a negative class index or a non-finite number; skipped")
            return
        score = None
        if len(numbers) >= 7 and len(numbers) % 2:
            score, numbers = float(numbers[-1]), numbers[:-1]
        if len(numbers) == 4:
            cx, cy, w, h = numbers
            with np.errstate(over="ignore"):  # 1e308 and more: infinite, refused below
                numbers = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2,
                                    cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2])  # fmt: skip
            self.problems.add(item, "a box (YOLO detection), not a polygon: kept as its rectangle")
        elif len(numbers) < 6 or len(numbers) % 2:
            self.problems.add(
                item, f"{len(numbers)} coordinates: a polygon needs an even count >= 6; skipped"
            )
            return
        with np.errstate(over="ignore"):  # 1e308 of the width: infinite, refused below
            ring = numbers.reshape(-1, 2) * np.array([image.width, image.height], dtype=np.float64)
        if not np.isfinite(ring).all():
            self.problems.add(item, "a coordinate too large for the image's size; skipped")
            return
        self.used.add(index)
        source = Source() if score is None else Source.from_model(self.model_name, score)
        self.instances.append(
            Instance(len(self.instances) + 1, image.id, index + 1, Polygons((ring,)), source=source)
        )

    def build(self) -> Dataset:
        dataset = Dataset()
        dataset.put_images(self.images.values(), notify=False)
        names = {  # a `"\ud800"` escape in a data.yaml: never stored as it is (SQLite would refuse it)
            i: clean_name(name, item=f"class {i}", what="name", problems=self.problems)
            for i, name in (self.names or {}).items()
        }
        unnamed = sorted(i for i in self.used if i not in names)
        if self.names is not None and unnamed:
            self.problems.add(None, f"class index(es) {unnamed} have no name: named by their index")
        dataset.put_categories(
            (Category(i + 1, names.get(i, str(i))) for i in sorted(set(names) | self.used)), notify=False
        )
        dataset.put_instances(with_default_z_order(self.instances, self.images), notify=False)
        return dataset


def _stem(file_name: str) -> str:
    return str(PurePosixPath(file_name).with_suffix(""))
