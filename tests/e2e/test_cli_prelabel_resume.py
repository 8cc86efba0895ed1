"""`annotator prelabel` killed and resumed, as a user would see it: SIGKILL after half the images loses
nothing finished, `--resume` does only the rest, and the final file equals an uninterrupted run's; an
output that cannot be written at the end keeps the predictions; `--engine ray` does the same on a local
2-CPU Ray instance with the default pool, and without Ray installed says how to get it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest

HEIGHT, WIDTH = 96, 128
COUNT = 6
FAST = ["--max-size", str(WIDTH), "--max-dets", "5"]  # a small input and few masks: the test is about the run
RUN_LIMIT_S = 300  # a run that hangs fails the test instead of the suite


def _command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "annotator.cli.main", *map(str, args)]


def _env() -> dict:
    return dict(os.environ, ANNOTATOR_OFFLINE="1")


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=RUN_LIMIT_S, env=_env())


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume-images")
    rng = np.random.default_rng(11)
    for index in range(COUNT):
        path = folder / f"img_{index}.png"
        if index == 1:
            whole = cv2.imencode(".png", np.full((HEIGHT, WIDTH, 3), 128, np.uint8))[1].tobytes()
            path.write_bytes(whole[: len(whole) // 2])  # broken: reported and skipped
        else:
            small = rng.integers(0, 256, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
            cv2.imwrite(str(path), cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))
    return folder


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, images, checkpoint) -> dict:
    """The COCO file of one whole in-process run."""
    out = tmp_path_factory.mktemp("whole") / "pred.json"
    result = _run("prelabel", images, "--out", out, "--weights", checkpoint, *FAST)
    assert result.returncode == 0, result.stderr
    assert "img_1.png" in result.stderr and f"{COUNT - 1} images" in result.stdout
    assert not Path(f"{out}.journal").exists()  # done: the journal has gone into the file
    return orjson.loads(out.read_bytes())


def _kill_after_half(command: list[str], journal: Path) -> int:
    """Start `command`, SIGKILL it (and what it started) once half the images are journalled; the number
    of images finished by then."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    deadline = time.monotonic() + RUN_LIMIT_S
    while len(_records(journal)) < COUNT // 2:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no progress: the run hangs"
        time.sleep(0.05)
    family = _descendants(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    for pid in family:  # a local Ray instance's processes, orphaned by the kill
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(_records(journal))


def _records(journal: Path) -> list[bytes]:
    """The journal's image lines (whole ones: a kill can cut the last)."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return []
    return [line for line in data[: data.rfind(b"\n") + 1].splitlines() if line.startswith(b'{"file"')]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _assert_resumed_only_the_rest(result: subprocess.CompletedProcess, finished: int) -> None:
    assert result.returncode == 0, result.stderr
    rest = COUNT - finished
    assert f"{finished} of {COUNT} images done earlier, {rest} to do" in result.stderr
    if rest:  # Ray can hand back the last images in one burst, journalled before the kill lands
        assert f"{rest}/{rest} images" in result.stderr  # the progress counts only the rest


@pytest.mark.slow
def test_sigkill_after_half_then_resume_does_only_the_rest(tmp_path, images, checkpoint, uninterrupted):
    out = tmp_path / "pred.json"
    command = _command("prelabel", images, "--out", out, "--weights", checkpoint, *FAST)
    finished = _kill_after_half(command, Path(f"{out}.journal"))
    assert not out.exists() and 1 <= finished < COUNT
    refused = _run("prelabel", images, "--out", out, "--weights", checkpoint, *FAST)  # no --resume
    assert refused.returncode == 2 and "--resume" in refused.stderr and "Traceback" not in refused.stderr
    resumed = _run("prelabel", images, "--out", out, "--weights", checkpoint, *FAST, "--resume")
    _assert_resumed_only_the_rest(resumed, finished)
    assert orjson.loads(out.read_bytes()) == uninterrupted
    assert not Path(f"{out}.journal").exists()


@pytest.mark.slow
def test_an_output_that_cannot_be_written_at_the_end_keeps_the_predictions(tmp_path, images, checkpoint,
                                                                          uninterrupted):  # fmt: skip
    out = tmp_path / "pred.json"
    journal = Path(f"{out}.journal")
    process = subprocess.Popen(_command("prelabel", images, "--out", out, "--weights", checkpoint, *FAST),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())  # fmt: skip
    while not _records(journal) and process.poll() is None:
        time.sleep(0.05)
    out.mkdir()  # the name is taken while the model runs: the file cannot be put in place at the end
    _stdout, stderr = process.communicate(timeout=RUN_LIMIT_S)
    last = stderr.strip().splitlines()[-1]
    assert process.returncode == 2 and str(out) in last and f"kept in {journal}" in last, stderr
    assert "--resume" in last and "Traceback" not in stderr
    out.rmdir()
    resumed = _run("prelabel", images, "--out", out, "--weights", checkpoint, *FAST, "--resume")
    assert resumed.returncode == 0 and f"{COUNT} of {COUNT} images done earlier, 0 to do" in resumed.stderr
    assert "1 image skipped" in resumed.stdout  # the broken one, from the journal
    assert "all images done earlier" in resumed.stdout  # written without loading the model again
    assert orjson.loads(out.read_bytes()) == uninterrupted


def test_out_naming_a_folder_is_refused_before_the_model_runs(tmp_path, images):
    started = time.monotonic()
    result = _run("prelabel", images, "--out", tmp_path, "--weights", tmp_path / "never-loaded.pt")
    assert result.returncode == 2 and "is a folder" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 60
    assert list(tmp_path.iterdir()) == []


def test_without_ray_installed_one_clear_line(tmp_path, images):
    blocked = (
        "import importlib.abc, sys\n"
        "class NoRay(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ray': raise ImportError(name=name)\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "from annotator.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", blocked, "prelabel", str(images), "--out", str(tmp_path / "p.json"),
               "--engine", "ray"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "annotator[ray]" in result.stderr and not (tmp_path / "p.json.journal").exists()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_killed_after_half_then_resumed_equals_the_in_process_run(tmp_path, images, checkpoint,
                                                                      uninterrupted):  # fmt: skip
    """The default: a new local Ray instance with this machine's CPUs (2 here) and the default pool."""
    out = tmp_path / "pred.json"
    command = _command("prelabel", images, "--out", out, "--weights", checkpoint, *FAST, "--engine", "ray")
    finished = _kill_after_half(command, Path(f"{out}.journal"))
    resumed = _run(
        "prelabel", images, "--out", out, "--weights", checkpoint, *FAST, "--engine", "ray", "--resume"
    )
    _assert_resumed_only_the_rest(resumed, finished)
    assert "Traceback" not in resumed.stderr and "1 image skipped" in resumed.stdout  # the broken one
    assert orjson.loads(out.read_bytes()) == uninterrupted


@pytest.mark.slow
def test_prelabel_into_a_project_writes_each_image_as_it_comes(tmp_path, images, checkpoint, uninterrupted):
    from annotator.io.project import open_project

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("img_0.png", "img_1.png", "img_2.png"):  # img_1 is the broken one
        (folder / name).write_bytes((images / name).read_bytes())
    out = folder / "work.annotator"
    result = _run("prelabel", folder, "--out", out, "--weights", checkpoint, *FAST)
    assert result.returncode == 0, result.stderr
    assert "2 images" in result.stdout and "1 image skipped" in result.stdout
    assert not Path(f"{out}.journal").exists()
    expected = {image["file_name"]: image["id"] for image in uninterrupted["images"]}
    with open_project(out) as project:
        dataset = project.dataset
        by_name = {image.file_name: image for image in dataset.images.values()}
        for name in ("img_0.png", "img_2.png"):
            got = sorted((i.category_id, round(i.score, 6)) for i in dataset.instances_of(by_name[name].id))
            want = sorted(
                (a["category_id"], round(a["score"], 6))
                for a in uninterrupted["annotations"]
                if a["image_id"] == expected[name]
            )
            assert got == want and by_name[name].status.value == "prelabeled"
        assert by_name["img_1.png"].status.value == "new" and not dataset.instances_of(
            by_name["img_1.png"].id
        )


@pytest.mark.slow
def test_embeddings_are_kept_through_a_kill_and_rank_reads_them(tmp_path, images, checkpoint, uninterrupted):
    """`--embeddings`: each image's pooled features, journalled with its detections, so a killed run
    resumed writes the same file as a whole run; the detections do not change; `rank` reads it."""
    whole_out, whole_vectors = tmp_path / "whole.json", tmp_path / "whole.npz"
    whole = _run(
        "prelabel", images, "--out", whole_out, "--weights", checkpoint, *FAST, "--embeddings", whole_vectors
    )
    assert whole.returncode == 0, whole.stderr
    assert orjson.loads(whole_out.read_bytes()) == uninterrupted
    expected = np.load(whole_vectors)
    assert sorted(expected["file_names"].tolist()) == [f"img_{i}.png" for i in range(COUNT) if i != 1]
    assert expected["vectors"].shape[0] == COUNT - 1 and np.isfinite(expected["vectors"]).all()

    out, vectors = tmp_path / "pred.json", tmp_path / "vectors.npz"
    args = ("prelabel", images, "--out", out, "--weights", checkpoint, *FAST)
    finished = _kill_after_half(_command(*args, "--embeddings", vectors), Path(f"{out}.journal"))
    assert 1 <= finished < COUNT and not vectors.exists()
    without = _run(*args, "--resume")  # its images would have no vectors: refused, as other settings are
    assert without.returncode == 2 and "embeddings" in without.stderr and "Traceback" not in without.stderr
    resumed = _run(*args, "--embeddings", vectors, "--resume")
    _assert_resumed_only_the_rest(resumed, finished)
    got = np.load(vectors)
    assert got["file_names"].tolist() == expected["file_names"].tolist()
    np.testing.assert_array_equal(got["vectors"], expected["vectors"])

    order = tmp_path / "order.txt"
    ranked = _run("rank", out, "--images", images, "--embeddings", vectors, "--out", order)
    assert ranked.returncode == 0, ranked.stderr
    assert sorted(order.read_text().split()) == sorted(expected["file_names"].tolist())
