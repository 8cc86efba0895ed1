"""What a JSON file the person opens becomes: a COCO dataset, a LabelMe file (its image with its shapes)
or a COCO results list (predictions on the images of the dataset it belongs to). The file is parsed
once and recognised by its content, not its name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotator.core.model import Dataset
from annotator.core.rules import is_unreviewed_prediction
from annotator.core.wording import counted
from annotator.io.coco import coco_from_dict
from annotator.io.gc_pause import gc_paused
from annotator.io.images_root import guess_images_root
from annotator.io.jsonfile import read_json
from annotator.io.labelme import is_labelme, load_labelme
from annotator.io.results_file import is_results_list, load_results, needs_dataset


@dataclass
class JsonDataset:
    """A JSON file read as a dataset: where its images are, what was skipped, and a line saying what
    was read (for the status bar; empty for a plain dataset)."""

    dataset: Dataset
    root: Path
    problems: list[str] = field(default_factory=list)
    summary: str = ""


def dataset_from_json(
    json_path: Path, *, images_root: Path | None = None, reference: Path | None = None
) -> JsonDataset:
    """`reference`: the dataset (COCO file or image folder) a results list belongs to."""
    with gc_paused():
        data = read_json(json_path)
        if is_labelme(data):
            labelme = load_labelme(json_path, data=data)
            summary = "; ".join(
                filter(None, [f"{counted(len(labelme.dataset.instances), 'shape')} read", labelme.root_note])
            )
            return JsonDataset(labelme.dataset, labelme.root, labelme.problems, summary)
        if is_results_list(data):
            if reference is None:
                raise needs_dataset(json_path)
            results = load_results(json_path, data, reference=reference)
            dataset = results.dataset
            summary = (
                f"{counted(len(dataset.instances), 'prediction')} on {counted(len(dataset.images), 'image')} "
                f"of {reference.name}, to review"
            )
            return JsonDataset(dataset, images_root or results.root, results.problems, summary)
        root = images_root or guess_images_root(json_path, data)
        coco = coco_from_dict(data, source=json_path, images_root=root)
    predictions = sum(1 for i in coco.dataset.instances.values() if is_unreviewed_prediction(i))
    summary = f"{counted(predictions, 'prediction')} with scores, to review" if predictions else ""
    return JsonDataset(coco.dataset, root, coco.problems, summary)
