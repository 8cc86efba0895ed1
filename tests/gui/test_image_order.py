"""The image list shows a dataset's images in one order, by image id: the first opening of a COCO file
listed them as the file did and every later one (from the project) by id, so the rows moved between
two sessions."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image as PilImage
from window_helpers import shown_main_window


def listed_ids(window) -> list[int]:
    dock = window.images_dock
    return [
        dock.model.image_id(dock.proxy.mapToSource(dock.proxy.index(row, 0)).row())
        for row in range(dock.proxy.rowCount())
    ]


def test_a_coco_files_images_are_listed_by_id_on_the_first_opening_and_after(qtbot, tmp_path):
    images = [
        {"id": image_id, "file_name": f"{name}.png", "width": 40, "height": 30}
        for image_id, name in ((3, "c"), (1, "a"), (2, "b"))
    ]
    for image in images:
        PilImage.fromarray(np.full((30, 40, 3), 60 * image["id"], np.uint8)).save(
            tmp_path / image["file_name"]
        )
    coco = tmp_path / "coco.json"
    coco.write_text(
        json.dumps({"images": images, "annotations": [], "categories": [{"id": 1, "name": "car"}]})
    )
    first = shown_main_window(qtbot, tmp_path)
    assert first.open_path(coco)
    assert listed_ids(first) == [1, 2, 3]
    assert first.session.image_id == 1  # the top row is the image shown
    first.close()

    again = shown_main_window(qtbot, tmp_path)
    assert again.open_path(coco)  # now from the project made beside it
    assert listed_ids(again) == [1, 2, 3]
    again.close()
