"""Security promises checked over the source (SPEC section 8): nothing from an input file is executed.

An AST scan, so comments and strings do not count: every torch.load passes weights_only=True; no pickle,
marshal, shelve, eval or exec of data; no SQL built from strings at run time (values go in as parameters).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "annotator"
FILES = sorted(SOURCE.rglob("*.py"))
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "joblib"}


def _calls(tree: ast.AST):
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    return func.id if isinstance(func, ast.Name) else ""


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_unsafe_loading_or_dynamic_code(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not {m.split(".")[0] for m in modules} & FORBIDDEN_MODULES, f"{path}:{node.lineno}"
    for call in _calls(tree):
        name = _name(call.func)
        where = f"{path.relative_to(SOURCE)}:{call.lineno}"
        assert name not in ("eval", "exec", "compile", "__import__"), f"dynamic code at {where}"
        if name.endswith("torch.load") or name == "torch.load":
            flags = {k.arg: k.value for k in call.keywords}
            assert (
                isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True
            ), f"torch.load without weights_only=True at {where}"
        if name.endswith((".execute", ".executemany", ".executescript")) and call.args:
            sql = call.args[0]
            literal = isinstance(sql, ast.Constant) or (isinstance(sql, ast.Name) and sql.id.isupper())
            assert literal, f"SQL built at run time at {where}: use a literal statement and parameters"
