"""Binary data as a spec on standard input is a clean one-line error: a Keras archive
or HDF5 file is pointed to its path, anything else is "not UTF-8 text" (it used to end
in an internal error when Python decoded the bytes first)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import FIXTURES

FILES = os.path.join(FIXTURES, "keras_files")


@pytest.mark.parametrize("data,message", [
    (open(os.path.join(FILES, "mnist_convnet.keras"), "rb").read(),
     "a Keras archive or HDF5 file on standard input; give its path instead"),
    (open(os.path.join(FILES, "mnist_convnet.h5"), "rb").read(),
     "a Keras archive or HDF5 file on standard input; give its path instead"),
    (bytes(range(128, 256)), "not UTF-8 text (byte 0)"),
])
def test_binary_standard_input(cli, data, message):
    result = cli("summary", "-", input=data)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"seqcli: error: <stdin>: {message}")
    assert len(result.stderr.splitlines()) == 1 and "internal error" not in result.stderr


def test_keras_json_on_standard_input(cli):
    with open(os.path.join(FILES, "mnist_convnet.json"), encoding="utf-8") as handle:
        result = cli("summary", "-", input=handle.read())
    assert result.exit_code == 0 and 'Model: "mnist_convnet"' in result.stdout
