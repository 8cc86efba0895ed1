"""The layering rule of STYLE.md as a test: core and io never import Qt or torch; gui never imports torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import annotator

_BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'layering: {{name}} imported while loading {{sys.argv[1]}}')
sys.meta_path.insert(0, Blocker())
import importlib
importlib.import_module(sys.argv[1])
"""


def _modules(package: str) -> list[str]:
    module = __import__(package, fromlist=["_"])
    return [package] + [info.name for info in pkgutil.walk_packages(module.__path__, prefix=package + ".")]


def _import_with_blocked(module: str, blocked: set[str]) -> subprocess.CompletedProcess:
    code = _BLOCKER.format(blocked=sorted(blocked))
    return subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True)


def test_core_and_io_import_neither_qt_nor_torch():
    failures = []
    for module in _modules("annotator.core") + _modules("annotator.io"):
        result = _import_with_blocked(module, {"PySide6", "shiboken6", "torch", "torchvision"})
        if result.returncode:
            failures.append(f"{module}: {result.stderr.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_gui_never_imports_torch():
    assert annotator.__path__
    modules = _modules("annotator.gui") if _has_package("annotator.gui") else []
    failures = []
    for module in modules:
        result = _import_with_blocked(module, {"torch", "torchvision"})
        if result.returncode:
            failures.append(f"{module}: {result.stderr.strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def _has_package(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
