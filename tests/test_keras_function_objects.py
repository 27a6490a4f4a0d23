"""Functions serialized as Keras objects (`class_name: "function"`, the form Keras
itself writes for a function) are refused by name, never looked up or called."""

from __future__ import annotations

import json
import os
import zipfile

import pytest

from tests.conftest import FIXTURES

SOURCE = os.path.join(FIXTURES, "keras_files", "mnist_convnet.keras")


def archive_with(tmp_path, function_object):
    with zipfile.ZipFile(SOURCE) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1]["config"]["kernel_initializer"] = function_object
    files["config.json"] = json.dumps(config).encode()
    target = tmp_path / "model.keras"
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return target


@pytest.mark.parametrize("module,function", [
    ("keras.utils", "get_file"),  # CVE-2025-8747: a download to disk during load
    ("keras.config", "enable_unsafe_deserialization"),  # CVE-2025-9906
    ("keras.initializers", "glorot_uniform"),  # even a harmless one: no function is called
])
def test_a_function_object_is_refused_by_name(cli, tmp_path, module, function):
    source = archive_with(tmp_path, {"module": module, "class_name": "function",
                                     "config": function, "registered_name": function})
    before = sorted(os.listdir(tmp_path))
    result = cli("summary", source)
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert f"model.keras:config.json: layers[1] (Conv2D 'conv2d')" in lines[0]
    assert f"`{module}.{function}` is a function, not a model object" in lines[0]
    assert sorted(os.listdir(tmp_path)) == before
