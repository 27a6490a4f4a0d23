"""Hostile Keras files: each attack Keras itself had to fix (its CVE in the docstring)
ends in one clean line, with nothing run, read from outside the file, or written."""

import json
import os
import zipfile

import h5py
import numpy as np
import pytest

from tests.conftest import FIXTURES
from tests.test_cli import assert_clean_error

GOOD = os.path.join(FIXTURES, "keras_files", "mnist_convnet.keras")


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", np.zeros((1, 12, 12, 1), np.float32))
    return tmp_path


def members(path=GOOD) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def archive(path, parts, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as out:
        for name, data in parts:
            out.writestr(name, data)
    return str(path)


def with_config(tmp_path, edit) -> str:
    """The good archive with its config.json changed by `edit(config)`."""
    parts = members()
    config = json.loads(parts["config.json"])
    edit(config)
    parts["config.json"] = json.dumps(config).encode()
    return archive(tmp_path / "hostile.keras", parts.items())


def refused(cli, work, path, *words):
    before = sorted(os.listdir(work))
    for command in (["summary", path], ["run", path, "--input", "x.npy", "-o", "y.npy"]):
        assert_clean_error(cli(*command), 1, *words)
    assert sorted(os.listdir(work)) == before  # nothing written, nothing extracted


def layer(config, index=1):
    return config["config"]["layers"][index]


# ---------------------------------------------------------------- the archive

def test_a_member_name_outside_the_archive(cli, work):
    """Zip slip (the path traversal Keras's extraction guards against): refused, and
    seqcli never extracts anything anyway."""
    path = archive(work / "slip.keras", [*members().items(), ("../../evil.json", b"{}")])
    refused(cli, work, path, "points outside the archive")


def test_a_member_name_twice(cli, work):
    """Two config.json members: which one a reader takes is ambiguous; refused."""
    parts = members()
    with pytest.warns(UserWarning):
        path = archive(work / "twice.keras", [*parts.items(), ("config.json", b"{}")])
    refused(cli, work, path, "appears twice")


def test_a_zip_bomb(cli, work):
    """A member inflating far beyond its compressed size (Keras caps members at 100x):
    refused from the declared sizes, before inflating."""
    parts = members()
    parts["config.json"] = b" " * (20 * 2**20)  # 20 MiB of spaces deflate to ~20 KiB
    path = archive(work / "bomb.keras", parts.items(), zipfile.ZIP_DEFLATED)
    refused(cli, work, path, "zip bomb")


def test_a_member_that_lies_about_its_size(cli, work):
    """A central directory declaring fewer bytes than the member holds."""
    data = bytearray(open(GOOD, "rb").read())
    real = len(members()["config.json"])
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 11] == b"config.json":
                data[start + offset:start + offset + 4] = (real - 100).to_bytes(4, "little")
            start += 4
    (work / "lies.keras").write_bytes(bytes(data))
    refused(cli, work, str(work / "lies.keras"))


def test_a_truncated_archive(cli, work):
    (work / "cut.keras").write_bytes(open(GOOD, "rb").read()[:5000])
    refused(cli, work, str(work / "cut.keras"), "zip archive")


# ---------------------------------------------------------------- configs

def test_a_lambda_layer(cli, work):
    """CVE-2024-3660: Lambda bytecode ran on load. seqcli never runs code from a file."""
    def edit(config):
        config["config"]["layers"][1] = {"module": "keras.layers", "class_name": "Lambda",
                                         "config": {"name": "l", "function": "x"}}
    refused(cli, work, with_config(work, edit), "Lambda", "never runs code")


def test_a_class_from_another_module(cli, work):
    """CVE-2025-1550: config.json named any module and Keras imported it."""
    def edit(config):
        layer(config)["module"] = "os"
        layer(config)["class_name"] = "system"
    refused(cli, work, with_config(work, edit), "module 'os'", "never imports")


def test_a_keras_api_gadget(cli, work):
    """CVE-2025-8747: public Keras functions such as keras.utils.get_file as gadgets."""
    def edit(config):
        layer(config)["config"]["kernel_initializer"] = {
            "module": "keras.utils", "class_name": "get_file",
            "config": {"origin": "http://127.0.0.1/x", "fname": "/tmp/seqcli-gadget"}}
    refused(cli, work, with_config(work, edit), "keras.utils", "never imports")
    assert not os.path.exists("/tmp/seqcli-gadget")


def test_unsafe_deserialization_turned_on_by_the_file(cli, work):
    """CVE-2025-9906: a config calling enable_unsafe_deserialization() mid-load."""
    def edit(config):
        config["config"]["layers"].insert(1, {"module": "keras.config",
                                              "class_name": "enable_unsafe_deserialization",
                                              "config": {}})
    refused(cli, work, with_config(work, edit), "keras.config")


def test_a_custom_registered_object(cli, work):
    """Custom classes (`registered_name` package>Name) are code seqcli does not have."""
    def edit(config):
        layer(config)["registered_name"] = "evil_package>Conv2D"
    refused(cli, work, with_config(work, edit), "custom object")


@pytest.mark.parametrize("class_name", ["StringLookup", "IntegerLookup", "TFSMLayer"])
def test_layers_that_read_outside_files(cli, work, class_name):
    """CVE-2025-12058 (a lookup layer's vocabulary path: a local file read) and
    CVE-2026-1462 (TFSMLayer loads an outside SavedModel): refused, naming the layer."""
    def edit(config):
        config["config"]["layers"][1] = {"module": "keras.layers", "class_name": class_name,
                                         "config": {"name": "v", "vocabulary": "/etc/passwd",
                                                    "filepath": "/etc"}}
    refused(cli, work, with_config(work, edit), class_name)


def test_a_legacy_h5_model_is_held_to_the_same_rules(cli, work):
    """CVE-2025-9905: Keras ignored safe_mode for legacy .h5 files."""
    source = os.path.join(FIXTURES, "keras_files", "mnist_convnet.h5")
    target = work / "lambda.h5"
    target.write_bytes(open(source, "rb").read())
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][1] = {"class_name": "Lambda", "config": {"function": "x"}}
        h5.attrs["model_config"] = json.dumps(config)
    refused(cli, work, str(target), "Lambda")


# ---------------------------------------------------------------- HDF5 weights

def weights_with(work, build) -> str:
    """A copy of a good .weights.h5 changed by `build(h5)`."""
    source = os.path.join(FIXTURES, "keras_files", "mnist_convnet.weights.h5")
    target = work / "hostile.weights.h5"
    target.write_bytes(open(source, "rb").read())
    with h5py.File(target, "r+") as h5:
        build(h5)
    return str(target)


def run_with(cli, work, weights, *words):
    spec = os.path.join(FIXTURES, "keras_files", "mnist_convnet.json")
    assert_clean_error(cli("run", spec, "--input", "x.npy", "--weights", weights,
                           "-o", "y.npy"), 1, *words)
    assert not os.path.exists("y.npy")


def test_an_external_link(cli, work):
    """CVE-2026-1669: HDF5 external links read arbitrary files."""
    secret = work / "secret.h5"
    with h5py.File(secret, "w") as h5:
        h5["0"] = np.full((3, 3, 1, 4), 7, np.float32)

    def build(h5):
        del h5["layers/conv2d/vars"]
        h5["layers/conv2d/vars"] = h5py.ExternalLink(str(secret), "/")
    run_with(cli, work, weights_with(work, build), "external link")


def test_a_soft_link(cli, work):
    """Soft links can point anywhere in the file, or loop: refused."""
    def build(h5):
        del h5["layers/conv2d/vars/0"]
        h5["layers/conv2d/vars/0"] = h5py.SoftLink("/layers/dense/vars/0")
    run_with(cli, work, weights_with(work, build), "soft link")


def test_external_storage(cli, work):
    """CVE-2026-1669: a dataset whose data lives in another file (external storage)."""
    outside = work / "outside.bin"
    outside.write_bytes(np.full(36, 7, np.float32).tobytes())

    def build(h5):
        del h5["layers/conv2d/vars/0"]
        h5.create_dataset("layers/conv2d/vars/0", shape=(3, 3, 1, 4), dtype="f4",
                          external=[(str(outside), 0, 144)])
    run_with(cli, work, weights_with(work, build), "outside the file")


def test_a_virtual_dataset(cli, work):
    """Virtual datasets map other files' data in: refused."""
    with h5py.File(work / "elsewhere.h5", "w") as source:  # the data it would map in
        source["d"] = np.full((3, 3, 1, 4), 7, np.float32)

    def build(h5):
        del h5["layers/conv2d/vars/0"]
        layout = h5py.VirtualLayout(shape=(3, 3, 1, 4), dtype="f4")
        layout[...] = h5py.VirtualSource(str(work / "elsewhere.h5"), "d", shape=(3, 3, 1, 4))
        h5.create_virtual_dataset("layers/conv2d/vars/0", layout)
    run_with(cli, work, weights_with(work, build), "outside the file")


def test_a_dataset_declaring_a_huge_shape(cli, work):
    """CVE-2026-0897: a dataset declaring a huge shape that compresses to nothing ran
    Keras out of memory. seqcli reads a dataset only once its shape is the one needed."""
    def build(h5):
        del h5["layers/conv2d/vars/0"]
        h5.create_dataset("layers/conv2d/vars/0", shape=(2**31,), dtype="f4",
                          chunks=(2**20,), compression="gzip")
    run_with(cli, work, weights_with(work, build), "(2147483648,)", "expects (3, 3, 1, 4)")
