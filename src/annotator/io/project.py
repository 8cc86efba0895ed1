"""Open what a user points the tool at: a project file, a folder of images, or a JSON file (COCO
dataset, LabelMe file, or a COCO results list with the dataset it belongs to).

A folder or a JSON file gets a project file beside it (or, where that folder is read-only, in the user's
data folder) and reopens it next time. A folder's LabelMe files come into its new project; a project
made from the folder before they were read says so (`unread_labelme`), for the window to offer them.
One process at a time may have a project open: a lock file beside the project refuses a second one with
a clear message.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.annotation_merge import merge_edit
from annotator.core.model import Dataset, Image, fresh_ids
from annotator.core.wording import counted
from annotator.io.errors import DatasetError
from annotator.io.file_kind import require_regular_file
from annotator.io.images import image_size, list_images
from annotator.io.images_root import guess_images_root
from annotator.io.labelme import LabelmeImport, has_labelme_files, labelme_beside_images, load_labelme
from annotator.io.paths import resolve_inside
from annotator.io.project_file import check_project_file, check_sidecars
from annotator.io.project_lock import lock_project
from annotator.io.project_source import set_aside, source_changed, source_fingerprint
from annotator.io.store import ProjectStore
from annotator.io.values import clean_text, is_valid_text

__all__ = [
    "FOLDER_PROJECT_NAME",
    "PROJECT_SUFFIX",
    "Project",
    "guess_images_root",
    "open_project",
    "project_made_from",
]

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
    # the COCO file the project was made from, and a sentence when it has changed since (offer re-import)
    source: Path | None = None
    source_changed: str | None = None
    _closed: bool = field(default=False, repr=False)

    def image_path(self, image: Image) -> Path:
        return resolve_inside(self.root, image.file_name)

    def remember_labelme(self, *, imported: bool) -> None:
        """The folder's LabelMe files were imported, or the person declined: not offered again."""
        self.store.set_meta(LABELME_META, "imported" if imported else "declined")
        self.unread_labelme = False

    def close(self, *, discard: bool = False) -> None:
        """Detach and close the store and release the lock; safe to call twice. Raises DatasetError (and
        stays open) while edits cannot be saved, unless `discard`."""
        if self._closed:
            return
        self.store.close(discard=discard)
        if self._lock_fd is not None:  # a project opened for reading holds no lock
            os.close(self._lock_fd)
            self._lock_fd = None
        self._closed = True

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_project(
    path: str | Path,
    *,
    images_root: str | Path | None = None,
    dataset: str | Path | None = None,
    reimport: bool = False,
) -> Project:
    """Open a `.annotator` project, a folder of images, a LabelMe JSON or a COCO JSON (with
    `images_root`); a COCO results list needs `dataset`, the COCO file or image folder it belongs to
    (NeedsDatasetError otherwise), until its project exists.

    `reimport` (JSON only): set the existing project made from the file aside and import it afresh.
    """
    path = _absolute(Path(path).expanduser())
    if not os.path.lexists(path):
        raise DatasetError(path, "no such file or folder")
    if path.is_dir() and not path.is_symlink():
        return _open_folder(path.resolve())
    if path.suffix == PROJECT_SUFFIX:
        return _locked(path, lambda lock_fd: _open_existing(path, lock_fd))
    if path.suffix.lower() == ".json":
        require_regular_file(path)  # a FIFO would block the image-root guess and the fingerprint
        root = None if images_root is None else Path(images_root).resolve()
        reference = None if dataset is None else Path(dataset).expanduser().resolve()
        return _open_json(path, root, reference, reimport=reimport)
    if path.is_dir():  # a symlink to a folder: the person's choice, followed
        return _open_folder(path.resolve())
    raise DatasetError(
        path, f"cannot open this kind of file (expected a folder, a {PROJECT_SUFFIX} project or a .json)"
    )


def read_project(path: str | Path) -> Project:
    """A project opened for reading only (`info`, `convert`): no lock and no write, so it works on a
    read-only project and beside a window that has it open. Close it when done."""
    path = _absolute(Path(path).expanduser())
    store = ProjectStore(path, readonly=True)
    try:
        problems: list[str] = []
        dataset = store.read_all(problems)
        root = (path.parent / (store.meta("root") or ".")).resolve()
    except BaseException:
        store.close(discard=True)
        raise
    return Project(path, root, dataset, store, problems, None)


def open_samples_project() -> Project | None:
    """The bundled sample images as a project that saves like any other (in the user's data folder)."""
    from annotator.io.samples import samples_dir, samples_project_path

    folder = samples_dir()
    if folder is None:
        return None
    project_path = samples_project_path()
    project_path.parent.mkdir(parents=True, exist_ok=True)

    def open_locked(lock_fd: int) -> Project:
        if not os.path.lexists(project_path):
            dataset, problems = dataset_from_folder(folder)
            return _create(project_path, dataset, folder, problems, lock_fd)
        project = _open_existing(project_path, lock_fd)
        if project.root != folder:  # the checkout moved: follow it
            project.root = folder
            project.store.set_meta("root", _relative_root(project_path, folder))
        return project

    return _locked(project_path, open_locked)


def create_project(
    project_path: Path, dataset: Dataset, root: Path, problems: list[str] | None = None
) -> Project:
    """Write `dataset` into a new project file at `project_path` and open it; an existing file there
    is never replaced (DatasetError)."""
    project_path = _absolute(project_path)
    return _locked(project_path, lambda lock_fd: _create(project_path, dataset, root, problems, lock_fd))


def _locked(project_path: Path, open_with_lock: Callable[[int], Project]) -> Project:
    """Take the project's lock first, then look at what is there: a second process can neither open
    the project nor create it over the first one's. A file there that is not ours (another program's
    database, a symlink) is refused before the lock file is made beside it."""
    if os.path.lexists(project_path):
        check_project_file(project_path)
    else:  # a new project: its sidecars are checked before anything is made, so nothing is left half-made
        check_sidecars(project_path)
    lock_fd = lock_project(project_path)
    try:
        return open_with_lock(lock_fd)
    except BaseException:
        os.close(lock_fd)
        raise


def _create(
    project_path: Path, dataset: Dataset, root: Path, problems: list[str] | None, lock_fd: int, **meta: str
) -> Project:
    store = ProjectStore.create(
        project_path, dataset, meta={"root": _relative_root(project_path, root), **meta}
    )
    store.attach(dataset)
    return Project(project_path, root, dataset, store, list(problems or []), lock_fd)


def _open_existing(project_path: Path, lock_fd: int) -> Project:
    store = ProjectStore(project_path)
    try:
        problems: list[str] = []
        dataset = store.read_all(problems)
        stored_root = store.meta("root") or "."
        root = (project_path.parent / stored_root).resolve()
        store.attach(dataset)
    except BaseException:
        store.close(discard=True)
        raise
    return Project(project_path, root, dataset, store, problems, lock_fd)


def _open_folder(folder: Path) -> Project:
    project_path = _project_path_for(folder, folder / FOLDER_PROJECT_NAME)

    def scan() -> _Made:
        dataset, problems = dataset_from_folder(folder)
        if not dataset.images:  # labelme's annotations/ beside images/: its JSON files name the images
            found = _labelme_only(folder)
            if found is not None:
                summary = "; ".join(filter(None, [_labelme_summary(found.dataset), found.root_note]))
                return _Made(found.dataset, found.problems, found.root, {LABELME_META: "imported"}, summary)
        summary = _read_labelme(folder, dataset, problems)
        return _Made(dataset, problems, folder, {LABELME_META: "imported"} if summary else {}, summary)

    def reopened(project: Project) -> None:
        _add_new_images(project)
        if project.store.meta(LABELME_META) is None:
            names = (image.file_name for image in project.dataset.images.values())
            project.unread_labelme = has_labelme_files(folder, names)

    return _open_or_create(project_path, scan, reopened)


def _labelme_only(folder: Path) -> LabelmeImport | None:
    """A folder of LabelMe files and no image: read as `load_labelme` reads it, its images where their
    `imagePath` says (the project's root); None when no file there is LabelMe's."""
    try:
        return load_labelme(folder)
    except DatasetError:  # no JSON, or none LabelMe's: the folder opens empty, as any without images
        return None


def _labelme_summary(dataset: Dataset) -> str:
    return _read_from_labelme(len(dataset.instances), len({i.image_id for i in dataset.instances.values()}))


def _read_from_labelme(instances: int, images: int) -> str:
    return f"{counted(instances, 'instance')} on {counted(images, 'image')} read from LabelMe files"


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
    return _read_from_labelme(merge.report.instances, merge.report.images)


def _open_json(
    json_path: Path, images_root: Path | None, reference: Path | None, *, reimport: bool
) -> Project:
    project_path = _project_path_for(json_path.parent, json_path.with_suffix(PROJECT_SUFFIX))

    def read() -> _Made:
        from annotator.io.json_sources import dataset_from_json  # deferred: only JSON opening reads formats

        fingerprint = source_fingerprint(json_path)  # before reading: a change during it shows next time
        found = dataset_from_json(json_path, images_root=images_root, reference=reference)
        return _Made(found.dataset, found.problems, found.root, {"source": fingerprint}, found.summary)

    def reopened(project: Project) -> None:
        project.source_changed = source_changed(project.store, json_path)

    return _open_or_create(project_path, read, reopened, reimport=reimport, source=json_path)


@dataclass
class _Made:
    dataset: Dataset
    problems: list[str]
    root: Path
    meta: dict[str, str] = field(default_factory=dict)
    summary: str = ""  # what was read, for the status bar


def _open_or_create(
    project_path: Path,
    make: Callable[[], _Made],
    reopened: Callable[[Project], None],
    *,
    reimport: bool = False,
    source: Path | None = None,
) -> Project:
    """Open the project at `project_path`, or make one there (from `source`, a file it was read from:
    recorded on the project both times, so that no export writes over it). The slow part of making (a folder scan, a
    COCO import) runs before taking the lock, so a bad input leaves nothing behind; the lock is then
    taken and the path looked at again, and the file is linked into place only if nothing is there: of
    two processes opening a new folder at once, neither replaces the other's project."""
    made = None if os.path.lexists(project_path) and not reimport else make()

    def open_locked(lock_fd: int) -> Project:
        aside = set_aside(project_path) if reimport and os.path.lexists(project_path) else None
        if os.path.lexists(project_path):
            project = _open_existing(project_path, lock_fd)
            project.source = source
            reopened(project)
            return project
        done = made or make()
        project = _create(project_path, done.dataset, done.root, done.problems, lock_fd, **done.meta)
        project.source, project.summary = source, done.summary
        if aside is not None:  # the edits made before are there, and nowhere else: said, never silent
            kept = f"the project as it was, with its edits, is kept as {aside.name} (File ▸ Open…)"
            project.summary = "; ".join(filter(None, [project.summary, kept]))
        return project

    return _locked(project_path, open_locked)


def dataset_from_folder(folder: Path) -> tuple[Dataset, list[str]]:
    """One Image per readable image file below `folder`; unreadable ones are listed as problems."""
    dataset, problems, images = Dataset(), [], []
    for index, file in enumerate(list_images(folder), start=1):
        relative = file.relative_to(folder).as_posix()
        try:
            if not is_valid_text(relative):
                raise DatasetError(
                    clean_text(str(file)), "the file name is not valid UTF-8; rename the file to open it"
                )
            resolve_inside(folder, relative)  # a link to a file outside the folder is not read
            width, height = image_size(file)
        except DatasetError as exc:
            problems.append(str(exc))
            continue
        images.append(Image(index, relative, width, height))
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
    new = [image for image in fresh.images.values() if image.file_name not in known]
    ids = fresh_ids(project.dataset.images, len(new))
    added = [Image(i, image.file_name, image.width, image.height) for i, image in zip(ids, new, strict=True)]
    project.dataset.put_images(added)
    listed = set(project.problems)  # a refresh finds the same unreadable files again: list them once
    project.problems.extend(p for p in problems if p not in listed)


def _project_path_for(folder: Path, preferred: Path) -> Path:
    """`preferred`, unless its folder is read-only: then a stable place in the user's data folder."""
    if os.path.lexists(preferred) or os.access(folder, os.W_OK):
        return preferred
    target = _elsewhere(preferred)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _elsewhere(preferred: Path) -> Path:
    """Where the project of a file in a read-only folder lives: the user's data folder."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
    return data_home / "annotator" / "projects" / f"{preferred.stem}-{digest}{PROJECT_SUFFIX}"


def project_made_from(json_path: str | Path) -> Path | None:
    """The project the window keeps for a dataset file it opened (its edits are there, not in the
    file), if there is one; nothing is created."""
    json_path = _absolute(Path(json_path).expanduser())
    for candidate in (
        json_path.with_suffix(PROJECT_SUFFIX),
        _elsewhere(json_path.with_suffix(PROJECT_SUFFIX)),
    ):
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def _absolute(path: Path) -> Path:
    """The path with its folder resolved but not its last part: a project file that is a symlink is
    refused by the store, never followed to wherever it points."""
    path = path.absolute()
    return path.parent.resolve() / path.name


def _relative_root(project_path: Path, root: Path) -> str:
    try:
        return os.path.relpath(root, project_path.parent)
    except ValueError:
        return str(root)
