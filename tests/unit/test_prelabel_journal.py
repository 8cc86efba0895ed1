"""The pre-labelling journal and the outputs written from it: what a killed run leaves is enough to go
on, a line cut by a kill is ignored, finished work is never overwritten, and the COCO file is the same
whatever order the results came in."""

from __future__ import annotations

import base64
import os
import resource
import signal
from dataclasses import replace

import numpy as np
import orjson
import pytest

from annotator.core.geometry import Mask
from annotator.core.model import Category, ImageStatus
from annotator.core.predictor import Detection
from annotator.io.errors import DatasetError
from annotator.io.prelabel_journal import PrelabelJournal, PrelabelRecord, decode_record, encode_record
from annotator.io.prelabel_output import CocoOutput, ProjectOutput, check_output_path, dataset_from_records
from annotator.io.project import open_project

SETTINGS = {"images": "/data", "model": "maskrcnn_resnet50_fpn", "score_thr": 0.5}
CATEGORIES = (Category(3, "car"), Category(7, "train"))


def record(
    name: str, *, boxes: int = 2, h: int = 30, w: int = 40, error: str | None = None
) -> PrelabelRecord:
    if error is not None:
        return PrelabelRecord(name, 0, 0, (), error)
    detections = []
    for index in range(boxes):
        mask = np.zeros((h, w), np.uint8)
        mask[2 + index : 12 + 3 * index, 5 : 15 + index] = 1
        detections.append(
            Detection(3 if index % 2 else 7, 0.9 - index / 10, (5.0, 2.0, 15.5, 12.25), Mask.from_array(mask))
        )
    return PrelabelRecord(name, w, h, tuple(detections))


def test_a_record_round_trips_exactly():
    original = record("a/b.png", boxes=3)
    back = decode_record(encode_record(original))
    assert back.file_name == "a/b.png" and (back.width, back.height) == (40, 30)
    assert [(d.category_id, d.score, d.box, d.mask.rle) for d in back.detections] == [
        (d.category_id, d.score, d.box, d.mask.rle) for d in original.detections
    ]
    failed = decode_record(encode_record(record("c.png", error="c.png: broken")))
    assert not failed.ok and failed.error == "c.png: broken"


def test_an_images_embedding_round_trips_exactly_and_a_damaged_one_is_done_again(tmp_path):
    vector = np.random.default_rng(0).normal(size=1280).astype(np.float32)
    vector[0] = np.float32(1e-40)  # a subnormal survives too
    original = replace(record("a.png"), embedding=vector)
    back = decode_record(encode_record(original))
    np.testing.assert_array_equal(back.embedding, vector)
    assert (
        back.embedding.dtype == np.float32 and decode_record(encode_record(record("b.png"))).embedding is None
    )
    kept = decode_record(encode_record(original, detections=False))  # a project target: only the count
    np.testing.assert_array_equal(kept.embedding, vector)

    path = tmp_path / "j"
    journal = PrelabelJournal.open(path, settings=SETTINGS, resume=False)
    journal.append(original)
    journal.close()
    row = orjson.loads(encode_record(replace(record("c.png"), embedding=vector)))
    nan = base64.b64encode(np.float32([np.nan]).tobytes()).decode()
    with open(path, "ab") as handle:
        for bad in ("AAAA", "AAA", [1, 2], "////", nan):  # 3 bytes, bad base64, a list, 3 bytes, NaN
            handle.write(orjson.dumps({**row, "embedding": bad}) + b"\n")
    again = PrelabelJournal.open(path, settings=SETTINGS, resume=True)
    assert again.done() == {"a.png"} and again.skipped_lines == 5
    np.testing.assert_array_equal(again.records["a.png"].embedding, vector)


def test_resume_reads_what_finished_and_ignores_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / "out.json.journal"
    journal = PrelabelJournal.open(path, settings=SETTINGS, resume=False)
    journal.set_model("m", CATEGORIES)
    for name in ("a.png", "b.png"):
        journal.append(record(name))
    journal.append(record("bad.png", error="bad.png: broken"))
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole + encode_record(record("c.png"))[:50])  # killed in the middle of a line

    again = PrelabelJournal.open(path, settings=SETTINGS, resume=True)
    assert again.done() == {"a.png", "b.png", "bad.png"}  # a failed image is done too: reported, not rerun
    assert not again.records["bad.png"].ok and again.model == ("m", CATEGORIES)
    again.append(record("c.png"))
    again.close()
    assert path.read_bytes().startswith(whole) and path.read_bytes().count(b"\n") == whole.count(b"\n") + 1
    assert PrelabelJournal.open(path, settings=SETTINGS, resume=True).done() == {
        "a.png",
        "b.png",
        "bad.png",
        "c.png",
    }


def test_a_damaged_line_is_counted_and_its_image_done_again(tmp_path):
    path = tmp_path / "j"
    journal = PrelabelJournal.open(path, settings=SETTINGS, resume=False)
    journal.append(record("a.png"))
    journal.close()
    with open(path, "ab") as handle:
        handle.write(b'{"file": "x.png", "width": -3}\n' + encode_record(record("b.png")))
    again = PrelabelJournal.open(path, settings=SETTINGS, resume=True)
    assert again.done() == {"a.png", "b.png"} and again.skipped_lines == 1


def _hostile_line(change: dict) -> bytes:
    row = orjson.loads(encode_record(record("x.png", boxes=1)))
    row.update({k: v for k, v in change.items() if k != "detection"})
    row["detections"][0].update(change.get("detection", {}))
    return orjson.dumps(row) + b"\n"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (_hostile_line({"detection": {"counts": "\u00ff0"}}), "non-ASCII counts (an internal error)"),
        (_hostile_line({"detection": {"counts": "0"}}), "runs covering nothing"),
        (_hostile_line({"width": 10**9, "height": 10**9}), "an image of 10^18 pixels"),
        (_hostile_line({"detection": {"category_id": 2**64 - 1}}), "a class id past 64 bits"),
        (_hostile_line({"detection": {"score": True}}), "a score that is a boolean"),
        (b'{"model": {"name": "m", "categories": [{"id": 1.5, "name": {"a": 1}}]}}\n', "a class of 1.5"),
        (b'{"model": {"name": "m", "categories": [{"id": 18446744073709551615, "name": "x"}]}}\n', "64 bits"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_hostile_line_is_damaged_and_its_image_done_again(tmp_path, line, what):
    """A journal is read back as data: one can be left beside an output name by anyone."""
    path = tmp_path / "j"
    journal = PrelabelJournal.open(path, settings=SETTINGS, resume=False)
    journal.set_model("m", CATEGORIES)
    journal.append(record("a.png"))
    journal.close()
    with open(path, "ab") as handle:
        handle.write(line)
    again = PrelabelJournal.open(path, settings=SETTINGS, resume=True)
    assert again.done() == {"a.png"} and again.skipped_lines == 1, what
    assert again.model == ("m", CATEGORIES)
    again.close()


def test_a_mask_whose_runs_overrun_its_image_is_damaged(tmp_path):
    """A 500x500 mask's runs on a 40x30 image went into the output as they were (decoding them writes
    past pycocotools' buffer)."""
    big = Mask.from_array(np.ones((500, 500), np.uint8)).rle.counts.decode()
    path = tmp_path / "j"
    PrelabelJournal.open(path, settings=SETTINGS, resume=False).close()
    with open(path, "ab") as handle:
        handle.write(encode_record(record("a.png")) + _hostile_line({"detection": {"counts": big}}))
    again = PrelabelJournal.open(path, settings=SETTINGS, resume=True)
    assert again.done() == {"a.png"} and again.skipped_lines == 1
    again.close()


def test_finished_work_is_never_overwritten_without_resume(tmp_path):
    path = tmp_path / "out.json.journal"
    PrelabelJournal.open(path, settings=SETTINGS, resume=False).append(record("a.png"))
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="--resume"):
        PrelabelJournal.open(path, settings=SETTINGS, resume=False)
    with pytest.raises(DatasetError, match="score_thr 0.5 then, 0.7 now"):
        PrelabelJournal.open(path, settings=dict(SETTINGS, score_thr=0.7), resume=True)
    assert path.read_bytes() == before


def test_a_journal_killed_before_its_first_image_does_not_block_the_next_run(tmp_path):
    path = tmp_path / "out.json.journal"
    PrelabelJournal.open(path, settings=SETTINGS, resume=False).close()  # killed before any image finished
    again = PrelabelJournal.open(path, settings=dict(SETTINGS, score_thr=0.7), resume=False)
    again.append(record("a.png"))
    again.close()
    assert PrelabelJournal.open(path, settings=dict(SETTINGS, score_thr=0.7), resume=True).done() == {"a.png"}


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path):
    first = PrelabelJournal.open(tmp_path / "j", settings=SETTINGS, resume=False)
    first.append(record("a.png"))
    with pytest.raises(DatasetError, match="another annotator prelabel"):
        PrelabelJournal.open(tmp_path / "j", settings=SETTINGS, resume=True)
    first.close()
    assert PrelabelJournal.open(tmp_path / "j", settings=SETTINGS, resume=True).done() == {"a.png"}


def test_a_symlink_at_the_journal_name_is_refused_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "out.json.journal").symlink_to(victim)
    for resume in (False, True):
        with pytest.raises(DatasetError):
            PrelabelJournal.open(tmp_path / "out.json.journal", settings=SETTINGS, resume=resume)
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("victim_holds", ["nothing", "a journal with a finished image"])
def test_a_hard_link_at_the_journal_name_is_refused_not_written_into(tmp_path, victim_holds):
    """A hard link cannot be told from the file by its name: an empty file outside, hard-linked at
    `OUT.journal`, got our header and every image's predictions written into it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    if victim_holds == "nothing":
        victim.write_bytes(b"")
    else:
        journal = PrelabelJournal.open(victim, settings=SETTINGS, resume=False)
        journal.append(record("a.png"))
        journal.close()
    before = victim.read_bytes()
    os.link(victim, tmp_path / "out.json.journal")
    for resume in (False, True):
        with pytest.raises(DatasetError) as refused:  # (a finished image, no --resume: refused as such)
            PrelabelJournal.open(tmp_path / "out.json.journal", settings=SETTINGS, resume=resume)
        assert "hard links" in str(refused.value) or "finished images" in str(refused.value)
    assert victim.read_bytes() == before


def test_a_named_pipe_at_the_journal_name_is_refused_without_blocking(tmp_path):
    """Reading the journal opened a FIFO planted at `OUT.journal` and waited forever for a writer."""
    os.mkfifo(tmp_path / "out.json.journal")
    for resume in (False, True):
        with pytest.raises(DatasetError, match="named pipe"):
            PrelabelJournal.open(tmp_path / "out.json.journal", settings=SETTINGS, resume=resume)


def test_a_full_disk_is_found_before_the_run(tmp_path):
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, old_limit[1]))
    try:
        with pytest.raises(DatasetError, match="cannot write"):
            PrelabelJournal.open(tmp_path / "j", settings=SETTINGS, resume=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


def test_an_output_that_is_a_folder_or_has_no_folder_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="is a folder"):
        check_output_path(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "out.json")


def test_the_coco_file_follows_the_listing_whatever_order_results_came_in(tmp_path):
    names = ["a.png", "b.png", "broken.png", "c.png"]
    records = {
        n: record(n, error="broken") if n.startswith("broken") else record(n, boxes=len(n)) for n in names
    }
    shuffled = {n: records[n] for n in reversed(names)}
    one = dataset_from_records(records, names, model_name="m", categories=CATEGORIES)
    two = dataset_from_records(shuffled, names, model_name="m", categories=CATEGORIES)
    assert [(i.id, i.file_name) for i in one.images.values()] == [(1, "a.png"), (2, "b.png"), (3, "c.png")]
    assert one.instances == two.instances and len(one.instances) == 15
    assert all(i.source.model == "m" for i in one.instances.values())
    out = tmp_path / "pred.json"
    summary = CocoOutput(out, results=False).finish(shuffled, names, model_name="m", categories=CATEGORIES)
    assert (summary.images, summary.predictions) == (3, 15) and out.stat().st_size > 0


def test_a_project_gets_each_image_in_one_transaction(tmp_path):
    from PIL import Image as PilImage

    for name in ("a.png", "b.png"):
        PilImage.new("RGB", (40, 30)).save(tmp_path / name)
    out = tmp_path / "preds.annotator"
    project = ProjectOutput.open(out, tmp_path, [tmp_path / "a.png", tmp_path / "b.png"])
    target = ProjectOutput(project, model_name="m", categories=CATEGORIES)
    writes = []
    project.store._conn.set_trace_callback(
        lambda sql: writes.append(sql) if sql.startswith("BEGIN") else None
    )
    assert target.put(record("a.png", boxes=3)) is None
    assert len(writes) == 1  # the image's category, instances and status: one transaction
    problem = target.put(record("b.png", h=31))  # decoded at another size than the project recorded
    assert problem is not None and "b.png" in problem and "31x40" in problem
    project.close()
    with open_project(out) as reopened:
        (a,) = [i for i in reopened.dataset.images.values() if i.file_name == "a.png"]
        assert a.status is ImageStatus.PRELABELED and len(reopened.dataset.instances_of(a.id)) == 3
        assert {c.id for c in reopened.dataset.categories.values()} == {3, 7}


def test_images_outside_the_project_folder_are_refused(tmp_path):
    from PIL import Image as PilImage

    (tmp_path / "inside").mkdir()
    PilImage.new("RGB", (8, 8)).save(tmp_path / "inside" / "a.png")
    PilImage.new("RGB", (8, 8)).save(tmp_path / "b.png")
    out = tmp_path / "inside" / "p.annotator"
    with pytest.raises(DatasetError, match="b.png.*not in the folder"):
        ProjectOutput.open(out, tmp_path / "inside", [tmp_path / "inside" / "a.png", tmp_path / "b.png"])
    assert os.path.exists(out)  # made from its folder, then released: it can be opened again
    open_project(out).close()
