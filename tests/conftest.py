"""Shared test fixtures: where the third-party test data lives, offscreen Qt, a home of its own for every
test (settings, XDG folders), a random Mask R-CNN checkpoint. (One conftest only: tests import
`testdata_dir` from it by name.)"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Idle OpenMP threads sleep rather than spin, as in `annotator train`: on cores shared with other test
# runs, spinning made each step of the training tests 5-20x slower (annotator/inference/openmp.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]


def testdata_dir() -> Path:
    """`shared/testdata` beside the checkout (the checkout is X/main, shared is X/shared)."""
    return REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    path = testdata_dir()
    assert path.is_dir(), f"third-party test data missing: {path}"
    return path


REAL_HOME = Path.home()  # before any test moves HOME: what "the person's real home" means in tests


# Torch's model cache stays where it is (a cache of downloads, not settings): no test downloads again.
TORCH_HOME = os.environ.get("TORCH_HOME") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or REAL_HOME / ".cache") / "torch"
)


@pytest.fixture(scope="session", autouse=True)
def _private_session_home(tmp_path_factory):
    """A home for what session- and module-scoped fixtures make before any test's own home exists (a
    local Ray instance and its workers, a predictor whose converted OpenVINO graph is cached): set up
    before them, so they too never write under the person's real home."""
    with _home_in(tmp_path_factory.mktemp("session-home")):
        yield


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory):
    """Every test gets a home of its own: settings, recent files, projects kept in the data folder
    (samples, read-only folders) and caches never touch the person's real ones."""
    with _home_in(tmp_path_factory.mktemp("home")):
        yield


@contextlib.contextmanager
def _home_in(home: Path):
    """HOME and the XDG folders inside `home` (child processes inherit them), undone after. Qt's
    QSettings paths are set there too: Qt reads XDG_CONFIG_HOME only once per process, so the variable
    alone would not move a QSettings made after the first one."""
    folders = {name: home / name for name in ("config", "data", "cache")}
    for folder in folders.values():
        folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", TORCH_HOME)
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CONFIG_HOME", str(folders["config"]))
        patch.setenv("XDG_DATA_HOME", str(folders["data"]))
        patch.setenv("XDG_CACHE_HOME", str(folders["cache"]))
        try:
            from PySide6.QtCore import QCoreApplication, QSettings
        except ImportError:  # a run without Qt: nothing of Qt's to move
            yield
            return
        for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
            for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
                QSettings.setPath(settings_format, scope, str(folders["config"]))
        names = (QCoreApplication.organizationName(), QCoreApplication.applicationName())
        QCoreApplication.setOrganizationName("annotator-tests")
        QCoreApplication.setApplicationName("annotator-tests")
        try:
            yield
        finally:
            QCoreApplication.setOrganizationName(names[0])
            QCoreApplication.setApplicationName(names[1])


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread(request):
    """A test with Qt collects Python's garbage on the GUI thread only, as the application does
    (`annotator.gui.collector`): a worker thread freeing an earlier test's Qt objects hung CI. Stopped
    after every test (on this thread, collecting what is left), so tests without an event loop still
    collect by themselves, even after one that started the application's collector (`app.screenshot`)."""
    uses_qt = bool({"qtbot", "qapp"} & set(request.fixturenames))
    if uses_qt:
        from annotator.gui.collector import collector_of

        collector_of(request.getfixturevalue("qapp")).start()
    try:
        yield
    finally:
        if "PySide6.QtCore" in sys.modules:  # a QApplication may exist: its collector is stopped
            from annotator.gui.collector import stop_collecting

            stop_collecting()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """Our checkpoint format holding a randomly initialised Mask R-CNN with three classes (no download)."""
    torch = pytest.importorskip("torch")
    from annotator.core.model import Category
    from annotator.inference.models import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn", num_classes=4)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    categories = [Category(3, "car"), Category(7, "train"), Category(44, "bottle")]
    save_checkpoint(path, model, architecture="maskrcnn_resnet50_fpn", categories=categories,
                    label_to_category=(0, 3, 7, 44))  # fmt: skip
    return path
