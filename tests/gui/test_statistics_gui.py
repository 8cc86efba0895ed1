"""The Statistics dock on real COCO photos with reviewed predictions: every chart shows what
`core.statistics` counts, the bars are painted in the class colours, it follows edits while shown, and
"Export CSV" writes the same table as `annotator info --stats --csv` (or one row per image)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from review_helpers import add_own_predictions, open_tiny, perturbed_results, run_and_wait
from window_helpers import shown_main_window

from annotator.core import operations, review
from annotator.core.rules import is_accepted
from annotator.core.statistics import Origin, dataset_stats, image_csv_rows, to_csv_rows
from annotator.gui.canvas.items import instance_color
from annotator.gui.review.statistics_dock import ORIGIN_LABELS, histogram_bars


@pytest.fixture
def window(qtbot, tmp_path):
    win = shown_main_window(qtbot, tmp_path, width=1400, height=900)
    yield win
    win.assisted.wait()
    win.loader.wait()


@pytest.fixture
def dock(window, tmp_path, testdata, qtbot):
    """Ground truth as labels; of the predictions, five accepted, three rejected, one edited."""
    open_tiny(window, tmp_path, testdata)
    dataset = window.document.dataset
    predictions = add_own_predictions(dataset, perturbed_results(tmp_path / "isat" / "coco_tiny.json"))
    window.editor.push(review.accept(dataset, predictions[:5]))
    window.editor.push(review.reject(dataset, predictions[5:8]))
    window.editor.push(operations.change_class([predictions[8]], predictions[0].category_id))  # edited
    dock = window.assisted.statistics
    run_and_wait(qtbot, dock.job, lambda: (dock.show(), dock.raise_()))
    return dock


def _bars(chart) -> list[tuple[str, int]]:
    return [(bar.label, bar.value) for bar in chart.bars]


def test_the_charts_show_what_core_counts(window, dock):
    dataset = window.document.dataset
    stats = dataset_stats(dataset)
    assert _bars(dock.class_chart) == [(c.name, c.instances) for c in stats.classes if c.instances]
    assert _bars(dock.size_chart) == [(size.value, n) for size, n in stats.sizes.items()]
    assert _bars(dock.origin_chart) == [(ORIGIN_LABELS[origin], n) for origin, n in stats.origins.items()]
    assert sum(bar.value for bar in dock.per_image_chart.bars) == stats.images == 5
    assert [stats.origins[o] for o in (Origin.REJECTED, Origin.EDITED)] == [3, 1]
    assert (dock.review_bar.value(), dock.review_bar.maximum()) == (stats.review.reviewed, stats.review.total)
    assert f"{stats.review.reviewed} of {stats.review.total} predictions reviewed" in dock.review_bar.text()
    assert f"<b>{stats.instances}</b> instances" in dock.summary.text()


def test_bars_are_painted_in_the_class_colours(window, dock):
    chart = dock.class_chart
    first = window.document.dataset.categories[dataset_stats(window.document.dataset).classes[0].category_id]
    assert chart.bars[0].color == instance_color(first, first.id)
    image = chart.grab().toImage()
    largest = chart.bar_rect(0)  # the most used class fills its row
    for share in (0.05, 0.5, 0.95):
        pixel = image.pixelColor(int(largest.left() + share * largest.width()), int(largest.center().y()))
        assert pixel.rgb() == chart.bars[0].color.rgb()
    last = chart.bar_rect(len(chart.bars) - 1)
    short = chart.bars[-1].value / chart.bars[0].value
    beyond = image.pixelColor(
        int(last.left() + min(short + 0.2, 0.99) * last.width()), int(last.center().y())
    )
    assert beyond.rgb() != chart.bars[-1].color.rgb()  # a smaller count is a shorter bar


def test_it_follows_edits_while_shown(window, dock, qtbot):
    dataset = window.document.dataset
    name, count = _bars(dock.class_chart)[0]
    victim = next(
        i
        for i in dataset.instances.values()
        if dataset.categories[i.category_id].name == name and is_accepted(i)
    )
    with qtbot.waitSignal(dock.job.finished, timeout=20000):
        window.editor.push(operations.delete([victim]))
    assert dict(_bars(dock.class_chart)).get(name, 0) == count - 1


def test_csv_export_per_class_and_per_image(window, dock, tmp_path):
    stats = dataset_stats(window.document.dataset)
    out = tmp_path / "stats.csv"
    assert dock.export_csv(out)
    with out.open(newline="") as handle:
        assert list(csv.reader(handle)) == [[str(v) for v in row] for row in to_csv_rows(stats)]
    assert dock.export_csv(out, per_image=True)
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [[str(v) for v in row] for row in image_csv_rows(window.document.dataset, stats)]
    assert not dock.export_csv(tmp_path / "no such folder" / "stats.csv")
    assert "no such folder" in window.statusBar().currentMessage()


def test_the_export_dialogs_file_name_follows_the_kind_chosen(window, dock, tmp_path):
    """One name for both kinds: choosing "Per image" offered to replace the per-class file."""
    from annotator.gui.review.statistics_dock import PER_CLASS_FILTER, PER_IMAGE_FILTER

    dialog = dock.csv_dialog()
    dialog.setOption(dialog.Option.DontUseNativeDialog)
    assert Path(dialog.selectedFiles()[0]).name == "coco_tiny_statistics.csv"
    dialog.selectNameFilter(PER_IMAGE_FILTER)
    dialog.filterSelected.emit(PER_IMAGE_FILTER)  # as choosing it in the dialog's list does
    assert Path(dialog.selectedFiles()[0]).name == "coco_tiny_per_image.csv"
    dialog.selectFile(str(tmp_path / "mine.csv"))  # a name the person typed stays
    dialog.filterSelected.emit(PER_CLASS_FILTER)
    assert Path(dialog.selectedFiles()[0]).name == "mine.csv"
    dialog.deleteLater()


def test_many_different_counts_are_binned():
    bars = histogram_bars({0: 2, 1: 3, **{n: 1 for n in range(2, 40)}})
    assert [bar.label for bar in bars] == [
        "0 instances", "1 instance", "2–3 instances", "4–7 instances", "8–15 instances", "16–31 instances",
        "32–63 instances",
    ]  # fmt: skip
    assert [bar.label for bar in histogram_bars({0: 4, 1: 2, 7: 1})] == [
        "0 instances",
        "1 instance",
        "7 instances",
    ]
    assert [bar.value for bar in bars] == [2, 3, 2, 4, 8, 16, 8]
