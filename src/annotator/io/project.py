"""Open what a user points the tool at: a project file, a folder of images, or a JSON file (COCO
dataset, LabelMe file, or a COCO results list with the dataset it belongs to).

A folder or a JSON file gets a project file beside it (or, where that folder is read-only, in the user's
data folder) and reopens it next time. A folder's LabelMe files come into its new project; a project
made from the folder before they were read says so (`unread_labelme`), for the window to offer them.
One process at a time may have a project open: a lock file beside the project refuses a second one with
a clear message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.annotation_merge import merge_edit
from annotator.core.model import Dataset, Image
from annotator.io.errors import DatasetError, ProjectLockedError
from annotator.io.images import image_size, list_images
from annotator.io.images_root import guess_images_root
from annotator.io.labelme import has_labelme_files, labelme_beside_images
from annotator.io.paths import resolve_inside
from annotator.io.store import ProjectStore

__all__ = ["FOLDER_PROJECT_NAME", "PROJECT_SUFFIX", "Project", "guess_images_root", "open_project"]

PROJECT_SUFFIX = ".annotator"
FOLDER_PROJECT_NAME = "project" + PROJECT_SUFFIX
BACKGROUND_LABEL = "_background_"  # labels.txt's id 0 in labelme's convention
LABELME_META = "labelme"  # "imported" or "declined": the folder's LabelMe files were dealt with


@dataclass
class Project:
    """An open project: the dataset, where its images are, and the store that saves every change."""

    path: Path
    root: Path
    dataset: Dataset
    store: ProjectStore
    problems: list[str] = field(default_factory=list)
    _lock_fd: int | None = field(default=None, repr=False)
    summary: str = ""  # what was read into a new project, for the status bar
    unread_labelme: bool = False  # its folder has LabelMe files it was made without

    def image_path(self, image: Image) -> Path:
        return resolve_inside(self.root, image.file_name)

    def remember_labelme(self, *, imported: bool) -> None:
        """The folder's LabelMe files were imported, or the person declined: not offered again."""
        self.store.set_meta(LABELME_META, "imported" if imported else "declined")
        self.unread_labelme = False

    def close(self) -> None:
        """Detach and close the store and release the lock; safe to call twice."""
        if self._lock_fd is None:
            return
        self.store.close()
        os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_project(
    path: str | Path, *, images_root: str | Path | None = None, dataset: str | Path | None = None
) -> Project:
    """Open a `.annotator` project, a folder of images, a LabelMe JSON or a COCO JSON (with
    `images_root`); a COCO results list needs `dataset`, the COCO file or image folder it belongs to
    (NeedsDatasetError otherwise), until its project exists."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(path, "no such file or folder")
    if path.is_dir():
        return _open_folder(path.resolve())
    if path.suffix == PROJECT_SUFFIX:
        return _open_existing(path.resolve())
    if path.suffix.lower() == ".json":
        return _open_json(
            path.resolve(),
            None if images_root is None else Path(images_root).resolve(),
            None if dataset is None else Path(dataset).expanduser().resolve(),
        )
    raise DatasetError(
        path, f"cannot open this kind of file (expected a folder, a {PROJECT_SUFFIX} project or a .json)"
    )


def open_samples_project() -> Project | None:
    """The bundled sample images as a project that saves like any other (in the user's data folder)."""
    from annotator.io.samples import samples_dir, samples_project_path

    folder = samples_dir()
    if folder is None:
        return None
    project_path = samples_project_path()
    if project_path.exists():
        project = _open_existing(project_path)
        if project.root != folder:  # the checkout moved: follow it
            project.root = folder
            project.store.set_meta("root", _relative_root(project_path, folder))
        return project
    project_path.parent.mkdir(parents=True, exist_ok=True)
    dataset, problems = dataset_from_folder(folder)
    return create_project(project_path, dataset, folder, problems)


def create_project(
    project_path: Path, dataset: Dataset, root: Path, problems: list[str] | None = None
) -> Project:
    """Write `dataset` into a new project file at `project_path` and open it."""
    lock_fd = _lock(project_path)
    try:
        store = ProjectStore.create(project_path, dataset, meta={"root": _relative_root(project_path, root)})
        store.attach(dataset)
    except BaseException:
        os.close(lock_fd)
        raise
    return Project(project_path, root, dataset, store, list(problems or []), lock_fd)


def _open_existing(project_path: Path) -> Project:
    lock_fd = _lock(project_path)
    try:
        store = ProjectStore(project_path)
        dataset = store.read_all()
        stored_root = store.meta("root") or "."
        root = (project_path.parent / stored_root).resolve()
        store.attach(dataset)
    except BaseException:
        os.close(lock_fd)
        raise
    return Project(project_path, root, dataset, store, [], lock_fd)


def _open_folder(folder: Path) -> Project:
    project_path = _project_path_for(folder, folder / FOLDER_PROJECT_NAME)
    if project_path.exists():
        project = _open_existing(project_path)
        _add_new_images(project)
        if project.store.meta(LABELME_META) is None:
            names = (image.file_name for image in project.dataset.images.values())
            project.unread_labelme = has_labelme_files(folder, names)
        return project
    dataset, problems = dataset_from_folder(folder)
    summary = _read_labelme(folder, dataset, problems)
    project = create_project(project_path, dataset, folder, problems)
    if summary:
        project.store.set_meta(LABELME_META, "imported")
        project.summary = summary
    return project


def _read_labelme(folder: Path, dataset: Dataset, problems: list[str]) -> str:
    """Put the folder's LabelMe instances on its images (their class ids as labelme gives them, all of
    labels.txt's but labelme's `_background_`, which is no class to draw); a line saying what was read,
    or "" when the folder has no LabelMe file."""
    names = [image.file_name for image in dataset.images.values()]
    found = labelme_beside_images(folder, names)
    if found is None:
        return ""
    used = {i.category_id for i in found.dataset.instances.values()}
    dataset.put_categories(
        (c for c in found.dataset.categories.values() if c.name != BACKGROUND_LABEL or c.id in used),
        notify=False,
    )
    merge = merge_edit(dataset, found.dataset, text="Read LabelMe files")
    if merge.edit is not None:
        merge.edit.apply(dataset)
    problems.extend(found.problems)
    problems.extend(f"{u.file_name}: {u.reason}" for u in merge.report.unmatched)
    report = merge.report
    return f"{report.instances} instance(s) on {report.images} image(s) read from LabelMe files"


def _open_json(json_path: Path, images_root: Path | None, reference: Path | None) -> Project:
    project_path = _project_path_for(json_path.parent, json_path.with_suffix(PROJECT_SUFFIX))
    if project_path.exists():
        return _open_existing(project_path)
    from annotator.io.json_sources import dataset_from_json  # deferred: only JSON opening reads formats

    found = dataset_from_json(json_path, images_root=images_root, reference=reference)
    project = create_project(project_path, found.dataset, found.root, found.problems)
    project.summary = found.summary
    return project


def dataset_from_folder(folder: Path) -> tuple[Dataset, list[str]]:
    """One Image per readable image file below `folder`; unreadable ones are listed as problems."""
    dataset, problems, images = Dataset(), [], []
    for index, file in enumerate(list_images(folder), start=1):
        try:
            width, height = image_size(file)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        images.append(Image(index, file.relative_to(folder).as_posix(), width, height))
    dataset.put_images(images, notify=False)
    return dataset, problems


def refresh_images(project: Project) -> int:
    """Add the images that appeared in the project's folder since it was opened; how many were added."""
    before = len(project.dataset.images)
    _add_new_images(project)
    return len(project.dataset.images) - before


def _add_new_images(project: Project) -> None:
    known = {image.file_name for image in project.dataset.images.values()}
    fresh, problems = dataset_from_folder(project.root)
    next_id = max(project.dataset.images, default=0) + 1
    added = []
    for image in fresh.images.values():
        if image.file_name not in known:
            added.append(Image(next_id, image.file_name, image.width, image.height))
            next_id += 1
    project.dataset.put_images(added)
    project.problems.extend(problems)


def _project_path_for(folder: Path, preferred: Path) -> Path:
    """`preferred`, unless its folder is read-only: then a stable place in the user's data folder."""
    if preferred.exists() or os.access(folder, os.W_OK):
        return preferred
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
    target = data_home / "annotator" / "projects" / f"{preferred.stem}-{digest}{PROJECT_SUFFIX}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _relative_root(project_path: Path, root: Path) -> str:
    try:
        return os.path.relpath(root, project_path.parent)
    except ValueError:
        return str(root)


def _lock(project_path: Path) -> int:
    lock_path = project_path.with_name(project_path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatasetError(project_path, f"cannot open the project here: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ProjectLockedError(
            project_path, "this project is already open in another annotator window; close it there first"
        ) from None
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    return fd
