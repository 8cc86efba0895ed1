"""Random sequences of gestures and operations through the window's undo stack: every gesture is at most
one undo step, and undoing then redoing everything gives exactly the same instances, pixel for pixel."""

from __future__ import annotations

import pytest
from edit_helpers import click, drag, key, open_sample, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QSettings, Qt
from window_helpers import shown_main_window

from annotator.gui.main_window import MainWindow

X = st.floats(2, 198)
Y = st.floats(2, 148)
POINT = st.tuples(X, Y)
STEP = st.one_of(
    st.tuples(st.just("select"), POINT, st.booleans()),
    st.tuples(st.just("move"), st.lists(POINT, min_size=2, max_size=4), st.just(False)),
    st.tuples(st.just("rectangle"), st.lists(POINT, min_size=2, max_size=2), st.just(False)),
    st.tuples(st.just("polygon"), st.lists(POINT, min_size=3, max_size=5), st.just(False)),
    st.tuples(st.just("brush"), st.lists(POINT, min_size=1, max_size=4), st.booleans()),
    st.tuples(
        st.sampled_from(["delete", "merge", "split", "paste", "front", "fill", "class"]), POINT, st.booleans()
    ),
)


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path, width=1000, height=700)
    yield win
    win.loader.wait()


def perform(window, step) -> None:
    kind, arg, flag = step
    canvas, actions, editor = window.canvas, window.editing.actions, window.editor
    tool = {"brush": "tool_eraser" if flag else "tool_brush", "rectangle": "tool_rectangle"}.get(kind)
    actions[tool or ("tool_polygon" if kind == "polygon" else "tool_select")].trigger()
    if kind == "select":
        click(canvas, *arg, Qt.KeyboardModifier.ShiftModifier if flag else Qt.KeyboardModifier.NoModifier)
    elif kind in ("move", "rectangle", "brush"):
        drag(canvas, arg)
    elif kind == "polygon":
        for point in arg:
            click(canvas, *point)
        key(canvas, Qt.Key.Key_Return)
    elif kind == "paste":
        actions["copy"].trigger()
        actions["paste"].trigger()
    elif kind == "class":
        actions["class_2" if flag else "class_1"].trigger()
    else:
        {"delete": editor.delete_selected, "merge": editor.merge, "split": editor.split,
         "front": editor.bring_to_front, "fill": editor.fill_holes}[kind]()  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_undo_and_redo_of_random_gestures_is_exact(window, tmp_path, steps):
    dataset = open_sample(window, tmp_path)
    stack = window.editor.history.stack
    states = [snapshot(dataset)]
    for step in steps:
        count = stack.count()
        perform(window, step)
        assert stack.count() - count in (0, 1), f"{step[0]} made more than one undo step"
        if stack.count() > count:
            states.append(snapshot(dataset))
        else:
            assert snapshot(dataset) == states[-1], f"{step[0]} changed the document without an undo step"
    for state in reversed(states[:-1]):
        stack.undo()
        assert snapshot(dataset) == state
    for state in states[1:]:
        stack.redo()
        assert snapshot(dataset) == state
