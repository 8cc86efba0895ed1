"""Keep `file_name` values from imported files inside the dataset root."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

from annotator.core.wording import counted
from annotator.io.errors import DatasetError
from annotator.io.values import is_valid_text

MAX_NAME_BYTES = 255  # the longest file or folder name the usual file systems allow


def normalise_file_name(file_name: object, *, source: Path, item: str) -> str:
    """A relative POSIX path with no `..`; refuses absolute paths, drive letters and parent steps."""
    if not isinstance(file_name, str) or not file_name.strip():
        raise DatasetError(source, "file_name must be a non-empty string", item=item)
    if "\x00" in file_name:
        raise DatasetError(source, "file_name contains a NUL character", item=item)
    if not is_valid_text(file_name):
        raise DatasetError(source, "file_name is not valid Unicode (a lone surrogate)", item=item)
    unified = file_name.replace("\\", "/")
    windows = PureWindowsPath(file_name)
    if unified.startswith("/") or windows.drive or windows.root:
        raise DatasetError(
            source,
            f"file_name {file_name!r} is absolute; it must be relative to the images folder",
            item=item,
        )
    parts = [part for part in PurePosixPath(unified).parts if part not in ("", ".")]
    if ".." in parts:
        raise DatasetError(source, f"file_name {file_name!r} reaches outside the images folder", item=item)
    if not parts:
        raise DatasetError(source, f"file_name {file_name!r} names no file", item=item)
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        raise DatasetError(
            source,
            f"file_name has a part longer than {MAX_NAME_BYTES} bytes, which no file can have",
            item=item,
        )
    return "/".join(parts)


def resolve_inside(root: Path, file_name: str) -> Path:
    """The file's path under `root`; raises if a symlink or odd name would lead outside it."""
    root = root.resolve()
    candidate = (root / file_name).resolve()
    if candidate != root and root not in candidate.parents:
        raise DatasetError(root / file_name, "resolves outside the images folder")
    return candidate


def make_export_folder(out_dir: Path) -> None:
    """The folder an export writes in, made if missing. A symbolic link at its name is refused, never
    followed: a dataset can ship the folder an export goes to (`lm`, `<name>_yolo`) linked anywhere."""
    try:
        linked = stat.S_ISLNK(os.lstat(out_dir).st_mode)
    except FileNotFoundError:
        linked = False
    except OSError as exc:
        raise DatasetError(out_dir, f"cannot use the folder: {exc.strerror or exc}") from None
    if linked:
        raise DatasetError(out_dir, "is a symbolic link; an export never writes through links")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DatasetError(out_dir, "is not a folder") from None
    except OSError as exc:
        raise DatasetError(out_dir, f"cannot make the folder: {exc.strerror or exc}") from None


def export_target(out_dir: Path, relative: str) -> Path:
    """Where an export writes `relative` under `out_dir`, its folders made as needed. A folder on the way
    that is a symlink is refused rather than followed (a dataset can ship `labels` linked anywhere); the
    file itself is replaced by an atomic rename, which replaces a link instead of writing through it."""
    parts = [part for part in PurePosixPath(relative).parts if part not in ("", ".")]
    if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
        raise DatasetError(out_dir / relative, "is not a plain path inside the export folder")
    folder = out_dir
    for part in parts[:-1]:
        folder = folder / part
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            try:
                os.mkdir(folder)
            except OSError as exc:
                raise DatasetError(folder, f"cannot make the folder: {exc.strerror or exc}") from None
            continue
        except OSError as exc:
            raise DatasetError(folder, f"cannot use the folder: {exc.strerror or exc}") from None
        if stat.S_ISLNK(info.st_mode):
            raise DatasetError(folder, "is a symbolic link; an export never writes through links")
        if not stat.S_ISDIR(info.st_mode):
            raise DatasetError(folder, "is not a folder")
    return folder / parts[-1]


def left_from_before(base: Path, written: Iterable[Path], suffix: str) -> str | None:
    """A note on the files ending in `suffix` under `base` that this export did not write, or None.
    Left from an earlier export (of other images, other classes), they would be read with the new ones:
    YOLO labels of 80 classes beside a data.yaml of 3. Never deleted: they may be someone's work."""
    if not base.is_dir() or base.is_symlink():
        return None
    mine = {os.path.normcase(os.path.abspath(path)) for path in written}
    stale = sorted(
        os.path.join(folder, name)
        for folder, _dirs, names in os.walk(base)  # links to folders are not followed
        for name in names
        if name.endswith(suffix) and os.path.normcase(os.path.abspath(os.path.join(folder, name))) not in mine
    )
    if not stale:
        return None
    first, one = os.path.relpath(stale[0], base), len(stale) == 1
    return (
        f"{counted(len(stale), suffix + ' file')} under {base} {'was' if one else 'were'} there before and "
        f"{'is' if one else 'are'} not from this export ({'' if one else 'such as '}{first}): left as "
        f"{'it was' if one else 'they were'}, and read with the new ones; export to an empty folder to have "
        "only these"
    )
