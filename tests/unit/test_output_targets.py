"""What the command line writes: never over one of its own inputs, never by replacing a pipe or a device
node, and hostile `.npz` vectors (a rank `--embeddings` file or a sidecar a dataset ships) refused with
one line, never read into memory they merely declare.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PilImage

from annotator.cli.main import main
from annotator.core.ranking import _principal_axes
from hostile_files import BASE, PRED

WRITERS = {
    "info": lambda d, out: ["info", d / "coco.json", "--csv", out],
    "rank": lambda d, out: ["rank", d / "coco.json", "--out", out, "--no-cache"],
    "audit": lambda d, out: ["audit", d / "coco.json", d / "pred.json", "--out", out],
    "segment-boxes": lambda d, out: ["segment-boxes", d / "coco.json", "--grabcut", "--out", out],
    "convert": lambda d, out: ["convert", d / "coco.json", "--to", "coco", "--out", out],
}


def _run(*args) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue().splitlines()


def _dataset(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    PilImage.new("RGB", (40, 30), (90, 20, 200)).save(folder / "a.png")
    PilImage.new("RGB", (20, 20), (9, 200, 20)).save(folder / "b.png")
    (folder / "coco.json").write_text(json.dumps(BASE))
    (folder / "pred.json").write_text(json.dumps(PRED))
    return folder


@pytest.mark.parametrize("command", list(WRITERS))
@pytest.mark.parametrize("victim", ["coco.json", "pred.json", "a.png", "link to the input"])
def test_out_naming_an_input_is_refused_and_the_input_kept(tmp_path, command, victim):
    folder = _dataset(tmp_path)
    if victim == "link to the input":
        (folder / "link.json").symlink_to(folder / "coco.json")
        victim = "link.json"
    if victim == "pred.json" and command != "audit":
        return  # not an input of the others: writing there is what --out asks for
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    code, lines = _run(*WRITERS[command](folder, folder / victim))
    assert code == 2 and len(lines) == 1 and "is an input file" in lines[0], lines
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("command", list(WRITERS))
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_out_naming_a_pipe_or_a_device_is_refused_and_left_in_place(tmp_path, command, kind):
    folder = _dataset(tmp_path)
    target = folder / kind
    if kind == "fifo":
        os.mkfifo(target)
    else:
        try:
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private /dev/null
        except PermissionError:
            pytest.skip("making a device node needs root")
    code, lines = _run(*WRITERS[command](folder, target))
    assert code == 2 and len(lines) == 1 and "not a file" in lines[0], lines
    assert stat.S_IFMT(os.lstat(target).st_mode) != stat.S_IFREG


@pytest.mark.parametrize("to", ["labelme", "yolo", "panoptic", "coco"])
@pytest.mark.parametrize("out", ["dangling link", "name too long"])
def test_convert_to_a_dangling_link_or_a_long_name_is_one_line(tmp_path, to, out):
    folder = _dataset(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    if out == "dangling link":
        target = folder / "out"
        target.symlink_to(outside / "missing")
    else:
        target = folder / ("x" * 300)
    code, lines = _run("convert", folder / "coco.json", "--to", to, "--out", target)
    assert code in (0, 2) and all(line.startswith("annotator convert: ") for line in lines), lines
    if code == 2:
        assert len(lines) == 1
    assert list(outside.iterdir()) == []


def _npy_header(shape, dtype="<f4") -> bytes:
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    data = header.encode() + b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(data)) + data


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)
    return buffer.getvalue()


NAMES = _npy(np.array(["a.png", "b.png"]))
HOSTILE_NPZ = {
    "empty": b"",
    "truncated zip": _npz({"file_names": NAMES, "vectors": _npy(np.ones((2, 4)))})[:60],
    "zip magic only": b"PK\x03\x04" + b"\0" * 40,
    "a plain .npy": _npy(np.ones((2, 4))),
    "a pickle": b"\x80\x04\x95" + b"\x01" * 30,
    "objects": _npz({"file_names": NAMES, "vectors": _npy(np.array([{}, []], dtype=object))}),
    "terabytes declared": _npz({"file_names": NAMES, "vectors": _npy_header((2, 10**11))}),
    "terabytes of names": _npz({"file_names": _npy_header((10**11,), "<U100"), "vectors": _npy(np.ones((2, 4)))}),
    "names not a list": _npz({"file_names": _npy(np.array("a.png")), "vectors": _npy(np.ones((1, 4)))}),
    "a million columns": _npz({"file_names": NAMES, "vectors": _npy(np.ones((2, 10**6), np.float32))}),
    "nan": _npz({"file_names": NAMES, "vectors": _npy(np.full((2, 4), np.nan))}),
}  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.sampled_from(list(HOSTILE_NPZ.values())),
        st.binary(max_size=300),
        st.sampled_from(list(HOSTILE_NPZ.values())).flatmap(
            lambda data: st.integers(0, max(len(data) - 1, 0)).map(lambda n: data[:n])
        ),
    ),
    st.booleans(),
)
def test_hostile_npz_is_one_line_or_ranked_as_embeddings_and_ignored_as_a_sidecar(tmp_path, data, as_sidecar):
    folder = tmp_path / "data"
    if not folder.exists():  # hypothesis runs every example in one tmp_path
        _dataset(tmp_path)
    npz = folder / ("coco.json.descriptors.npz" if as_sidecar else "vectors.npz")
    npz.write_bytes(data)
    extra = [] if as_sidecar else ["--embeddings", npz]
    code, lines = _run("rank", folder / "coco.json", "--out", tmp_path / "order.txt", *extra)
    assert code in (0, 2), lines
    if as_sidecar:
        assert code == 0, lines  # only a cache: a damaged one is described again
    if code == 2:
        assert len(lines) == 1 and "vectors.npz" in lines[0], lines


@pytest.mark.parametrize("kind", ["folder", "fifo", "/dev/zero"])
def test_embeddings_that_are_not_a_file_are_refused_without_blocking(tmp_path, kind):
    folder = _dataset(tmp_path)
    path = folder / "v.npz"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    code, lines = _run("rank", folder / "coco.json", "--out", tmp_path / "o.txt", "--embeddings", path)
    assert code == 2 and len(lines) == 1 and "not a file" in lines[0], lines


@given(st.integers(2, 6), st.integers(1, 40), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_principal_axes_of_wide_vectors_span_what_the_covariance_gives(rows, width, seed):
    """The Gram-matrix path (wider than tall) projects exactly as the covariance path would."""
    sample = np.random.default_rng(seed).normal(size=(rows, width))
    sample -= sample.mean(axis=0)
    dims = min(rows, width, 3)
    axes = _principal_axes(sample, dims)
    _, full = np.linalg.eigh(sample.T @ sample)
    expected = full[:, ::-1][:, :dims]
    values = np.linalg.svd(sample, compute_uv=False)
    for k in range(dims):
        if values[k] > 1e-6 and (k + 1 >= len(values) or values[k] - values[k + 1] > 1e-3):
            assert abs(abs(float(axes[:, k] @ expected[:, k])) - 1) < 1e-6


@pytest.mark.parametrize(
    "argv",
    [
        lambda d: ["train", d / "coco.json", "--out", d / "coco.json", "--epochs", "1"],
        lambda d: ["prelabel", d, "--out", d / "a.png", "--weights", d / "none.pt"],
        lambda d: ["prelabel", d / "a.png", "--out", d / "a.png", "--weights", d / "none.pt"],
    ],
    ids=["train over its data", "prelabel over an image of the folder", "prelabel over its image"],
)
def test_train_and_prelabel_refuse_to_write_over_their_input(tmp_path, argv):
    """`train DATA --out DATA` trained and then wrote the model over the dataset."""
    folder = _dataset(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, lines = _run(*argv(folder))
    assert code == 2 and len(lines) == 1 and "is an input file" in lines[0], lines
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
