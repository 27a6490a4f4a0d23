"""Hostile Keras files, one per kind of attack Keras has had to fix (the CVE in each
docstring): each ends in one clean error line naming the place, with nothing run,
nothing read from outside the file, and nothing written."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import h5py
import numpy as np
import pytest

from tests.conftest import FIXTURES

KERAS = os.path.join(FIXTURES, "kerasfiles")
SOURCE = os.path.join(KERAS, "mnist_convnet.keras")


def members(path=SOURCE) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_archive(path, entries, compression=zipfile.ZIP_STORED):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return str(path)


def with_config(tmp_path, change) -> str:
    """mnist_convnet.keras with its config.json changed by `change(config)`."""
    files = members()
    config = json.loads(files["config.json"])
    change(config)
    files["config.json"] = json.dumps(config).encode()
    return write_archive(tmp_path / "model.keras", files.items())


def layer(config, index):
    return config["config"]["layers"][index]


def refused(cli, tmp_path, source, *needles):
    """Run the source through `run -o`; one error line holding every needle, no output."""
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), "float32"))
    before = sorted(os.listdir(tmp_path))
    result = cli("run", source, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcli: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no temporary left
    return lines[0]


# ---------------------------------------------------------------- the zip archive

def test_zip_traversal_name(cli, tmp_path):
    """Zip-slip: a member named ../x would land outside an extraction folder (the
    archive hardening Keras added with CVE-2025-1550's fixes); seqcli extracts nothing
    and refuses the name."""
    files = members()
    entries = [*files.items(), ("../../.bashrc", b"echo pwned")]
    source = write_archive(tmp_path / "model.keras", entries)
    refused(cli, tmp_path, source, "model.keras", "'../../.bashrc'", "outside the archive")


def test_zip_duplicate_member(cli, tmp_path):
    """Two config.json members: which one a reader takes differs between tools, so a
    checked config could be swapped for another (archive hardening, CVE-2025-1550)."""
    files = members()
    evil = json.dumps({"class_name": "Lambda"}).encode()
    source = write_archive(tmp_path / "model.keras", [*files.items(), ("config.json", evil)])
    refused(cli, tmp_path, source, "'config.json' appears twice")


def test_zip_bomb_by_ratio(cli, tmp_path):
    """A member that inflates far beyond its compressed size (Keras refuses members
    over 100x, the zip hardening after CVE-2026-0897): refused before inflating."""
    files = members()
    files["model.weights.h5"] = bytes(64 * 2**20)  # 64 MiB of zeros deflate to ~64 KiB
    source = write_archive(tmp_path / "model.keras", files.items(), zipfile.ZIP_DEFLATED)
    refused(cli, tmp_path, source, "model.keras:model.weights.h5", "zip bomb")


def _patch_sizes(path, member, size):
    """Rewrite the uncompressed size the central directory declares for `member`."""
    data = bytearray(open(path, "rb").read())
    start = data.find(b"PK\x01\x02")
    while start >= 0:
        name_len = struct.unpack_from("<H", data, start + 28)[0]
        name = bytes(data[start + 46:start + 46 + name_len]).decode()
        if name == member:
            struct.pack_into("<I", data, start + 24, size)
        start = data.find(b"PK\x01\x02", start + 4)
    open(path, "wb").write(bytes(data))


def test_zip_declared_size_over_the_bound(cli, tmp_path):
    """A member declaring a huge size, to exhaust memory (CVE-2026-0897's zip side):
    refused from the directory, before any byte is inflated."""
    files = members()
    source = write_archive(tmp_path / "model.keras", files.items(), zipfile.ZIP_DEFLATED)
    _patch_sizes(source, "config.json", 3 * 2**30)
    refused(cli, tmp_path, source, "model.keras:config.json", "over the")


def test_zip_declared_size_lies(cli, tmp_path):
    """A member inflating to more than it declares (a reader that trusts the header
    overruns its buffer): refused after at most one byte past the declaration."""
    files = members()
    source = write_archive(tmp_path / "model.keras", files.items(), zipfile.ZIP_DEFLATED)
    _patch_sizes(source, "config.json", 100)
    refused(cli, tmp_path, source, "model.keras:config.json", "does not match")


def test_truncated_archive(cli, tmp_path):
    """A half-written archive (a download cut short): not a complete zip."""
    data = open(SOURCE, "rb").read()
    source = tmp_path / "model.keras"
    source.write_bytes(data[:len(data) // 2])
    refused(cli, tmp_path, str(source), "model.keras", "not a complete zip archive")


# ---------------------------------------------------------------- HDF5

def _weights_file(tmp_path, change) -> str:
    """mnist_convnet.weights.h5 copied, then changed by `change(h5file)`."""
    target = tmp_path / "w.weights.h5"
    target.write_bytes(open(os.path.join(KERAS, "mnist_convnet.weights.h5"), "rb").read())
    with h5py.File(target, "r+") as h5:
        change(h5)
    return str(target)


KERNEL = "layers/dense/vars/0"  # (200, 10)


def refused_weights(cli, tmp_path, weights, *needles):
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), "float32"))
    before = sorted(os.listdir(tmp_path))
    result = cli("run", os.path.join(KERAS, "mnist_convnet.json"), "--input",
                 tmp_path / "x.npy", "--weights", weights, "-o", tmp_path / "y.npy")
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcli: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert sorted(os.listdir(tmp_path)) == before


def _secret(tmp_path):
    """A file outside the weights file holding exactly the values a kernel needs: if
    seqcli followed a link or external storage into it, the load would succeed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    with h5py.File(outside / "secret.h5", "w") as h5:
        h5["kernel"] = np.ones((200, 10), "float32")
    return outside / "secret.h5"


def test_hdf5_external_link(cli, tmp_path):
    """An external link pointing a weight into another file: arbitrary file read
    (CVE-2026-1669); refused before the link is followed."""
    secret = _secret(tmp_path)

    def change(h5):
        del h5[KERNEL]
        h5[KERNEL] = h5py.ExternalLink(str(secret), "kernel")

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "external link",
                    "/layers/dense/vars/0")


def test_hdf5_soft_link(cli, tmp_path):
    """A soft link (CVE-2026-1669's fix refuses SoftLink too): a path that resolves
    elsewhere, in or out of the file; refused."""
    def change(h5):
        del h5[KERNEL]
        h5[KERNEL] = h5py.SoftLink("/layers/conv2d/vars/0")

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "soft link")


def test_hdf5_external_storage(cli, tmp_path):
    """A dataset whose bytes live in an outside raw file (`dataset.external`,
    CVE-2026-1669): refused before any data is read."""
    raw = tmp_path / "outside.bin"
    raw.write_bytes(np.ones((200, 10), "float32").tobytes())

    def change(h5):
        del h5[KERNEL]
        h5.create_dataset(KERNEL, (200, 10), "float32", external=[(str(raw), 0, 8000)])

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "external storage")


def test_hdf5_virtual_dataset(cli, tmp_path):
    """A virtual dataset mapping another file's data (CVE-2026-1669): refused."""
    secret = _secret(tmp_path)

    def change(h5):
        del h5[KERNEL]
        layout = h5py.VirtualLayout((200, 10), "float32")
        layout[:] = h5py.VirtualSource(str(secret), "kernel", (200, 10))
        h5.create_virtual_dataset(KERNEL, layout)

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "virtual dataset")


def test_hdf5_oversized_declared_dataset(cli, tmp_path):
    """A dataset declaring a huge shape with almost nothing stored, to exhaust memory
    on read (CVE-2026-0897): refused from its declared shape, before reading."""
    def change(h5):
        del h5[KERNEL]
        h5.create_dataset(KERNEL, (2**20, 2**20), "float32", chunks=(1, 1024))

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "declares shape",
                    "(200, 10)")


def test_hdf5_declares_more_than_it_stores(cli, tmp_path):
    """The right shape, but no bytes behind it (CVE-2026-0897's bound: declared over
    1000x stored): refused before reading."""
    def change(h5):
        del h5[KERNEL]
        h5.create_dataset(KERNEL, (200, 10), "float32", chunks=(10, 10))

    refused_weights(cli, tmp_path, _weights_file(tmp_path, change), "stores 0")


# ---------------------------------------------------------------- the config

def test_lambda_layer(cli, tmp_path):
    """A Lambda layer carries Python bytecode that Keras ran on load (CVE-2024-3660)."""
    def change(config):
        layer(config, 2)["class_name"] = "Lambda"
        layer(config, 2)["config"] = {"name": "lambda", "function": {
            "class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None}}}

    refused(cli, tmp_path, with_config(tmp_path, change), "model.keras:config.json",
            "config.layers[2]", "Lambda", "never runs code")


def test_custom_module(cli, tmp_path):
    """A config naming any module and class, which Keras imported (CVE-2025-1550)."""
    def change(config):
        layer(config, 1)["module"] = "os"
        layer(config, 1)["class_name"] = "system"

    refused(cli, tmp_path, with_config(tmp_path, change), "config.layers[1]",
            "module 'os'", "never imports")


def test_custom_registered_object(cli, tmp_path):
    """A custom class registered from a package (`registered_name: pkg>Name`): code
    outside Keras (CVE-2025-1550's class of attack)."""
    def change(config):
        layer(config, 1)["registered_name"] = "evil_pkg>Conv2D"

    refused(cli, tmp_path, with_config(tmp_path, change), "config.layers[1]",
            "custom object", "evil_pkg>Conv2D")


def test_get_file_gadget(cli, tmp_path):
    """keras.utils.get_file as a gadget: it downloads to disk during load
    (CVE-2025-8747)."""
    def change(config):
        layer(config, 1)["config"]["kernel_initializer"] = {
            "module": "keras.utils", "class_name": "function", "config": "get_file",
            "registered_name": "get_file"}

    refused(cli, tmp_path, with_config(tmp_path, change), "keras.utils.get_file",
            "config.layers[1]")


def test_enable_unsafe_deserialization_gadget(cli, tmp_path):
    """A config calling keras.config.enable_unsafe_deserialization() mid-load, turning
    safe_mode off for what follows (CVE-2025-9906)."""
    def change(config):
        config["config"]["layers"].insert(1, {
            "module": "keras.config", "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": "enable_unsafe_deserialization"})

    refused(cli, tmp_path, with_config(tmp_path, change), "enable_unsafe_deserialization",
            "config.layers[1]")


def test_vocabulary_path(cli, tmp_path):
    """A lookup layer's vocabulary given as a file path: Keras read the local file or
    fetched the URL (CVE-2025-12058)."""
    def change(config):
        layer(config, 1)["class_name"] = "StringLookup"
        layer(config, 1)["config"] = {"name": "lookup", "vocabulary": "/etc/passwd"}

    refused(cli, tmp_path, with_config(tmp_path, change), "config.layers[1]",
            "`vocabulary`", "'/etc/passwd'")


def test_legacy_h5_config_is_checked_as_strictly(cli, tmp_path):
    """safe_mode was not applied to legacy .h5 files (CVE-2025-9905): seqcli reads a
    legacy model_config with the same rules."""
    target = tmp_path / "model.h5"
    target.write_bytes(open(os.path.join(KERAS, "mnist_convnet.h5"), "rb").read())
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        layer(config, 1)["class_name"] = "Lambda"
        h5.attrs["model_config"] = json.dumps(config)
    refused(cli, tmp_path, str(target), "model.h5:model_config", "Lambda")


def test_summary_of_an_archive_reads_only_its_config(cli, tmp_path):
    """summary takes config.json only: a broken weights member does not matter."""
    files = members()
    files["model.weights.h5"] = b"not hdf5"
    source = write_archive(tmp_path / "model.keras", files.items())
    result = cli("summary", source)
    assert result.exit_code == 0 and "mnist_convnet" in result.stdout
