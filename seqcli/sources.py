"""Any model file to a loaded Spec, chosen by content, not by extension.

    zip magic                     a Keras 3 `.keras` archive (config.json, model.weights.h5)
    HDF5 signature                a legacy full-model `.h5` (model_config, model_weights)
    a JSON object with class_name Keras JSON (`to_json()`, an archive's config.json)
    anything else                 a seqcli spec (YAML or JSON)

A Keras file that carries weights records itself as the model's own weights file
(`model.weights`), so `run`, `extract`, `evaluate`, `fit` and `weights` use them
unless `--weights` is given; `read_weights` reads any weights file for a model.
Reading a `.keras` for a summary touches only its config.json: no numpy, no h5py.
"""

from __future__ import annotations

import dataclasses
import json

from seqcli.errors import SeqcliError

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def sniff(path: str) -> str | None:
    """'keras' (an archive), 'hdf5', or None (text) from a file's first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None  # the spec reader says what is wrong with the path
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head == HDF5_MAGIC:
        return "hdf5"
    return None


def load(path: str, stdin=None):
    """The Spec of a model file (or '-'); Keras files carry their weights with them."""
    from seqcli import spec as spec_module

    kind = sniff(path) if path != "-" else None
    if kind == "keras":
        from seqcli import keras_archive

        name = f"{path}:{keras_archive.CONFIG}"
        return from_keras_json(keras_archive.read_member(path, keras_archive.CONFIG), name,
                               weights=path)
    if kind == "hdf5":
        from seqcli import keras_h5

        return from_keras_json(keras_h5.model_config(path), f"{path}:model_config",
                               weights=path)
    name, text = spec_module.read_text(path, stdin)
    if is_keras_json(text):
        return from_keras_json(text, name)
    return spec_module.load_text(text, name)


def is_keras_json(text: str) -> bool:
    """Keras's model JSON: an object with `class_name` (a spec never has that key)."""
    if not text.lstrip().startswith("{") or '"class_name"' not in text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False  # the spec reader reports the syntax error with its place
    return isinstance(data, dict) and "class_name" in data


def from_keras_json(text, name: str, weights: str | None = None):
    """A Spec from Keras JSON text; `weights` names the file that holds its weights."""
    from seqcli import keras_config
    from seqcli.builder import build, collector_paused
    from seqcli.spec import Spec

    config = _json(text, name)
    data, places = keras_config.translate(config, name)
    with collector_paused():
        model, compile_settings = build(keras_config.KerasSource(name, data, places))
    if weights is not None:
        model = dataclasses.replace(model, weights=weights)
    return Spec(model=model, compile=compile_settings, name=name)


def _json(text, name):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SeqcliError(f"not UTF-8 JSON (byte {exc.start})", name) from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SeqcliError(f"invalid JSON: {exc}", name) from None


def _no_constant(token):
    raise ValueError(f"{token} is not valid JSON")


# ---------------------------------------------------------------- weights

def read_weights(path: str, model) -> dict:
    """Flat `layer/weight` arrays from a weights file of any kind, unchecked:
    .npz, a .keras archive's weights, Keras 3 `.weights.h5`, Keras 2 `.h5`."""
    kind = sniff(path)
    if kind == "hdf5":
        from seqcli import keras_h5

        return keras_h5.read_weights(path, path, model)
    if kind == "keras" and not _is_npz(path):
        from seqcli import keras_archive, keras_h5

        data = keras_archive.read_member(path, keras_archive.WEIGHTS)
        return keras_h5.read_weights(data, f"{path}:{keras_archive.WEIGHTS}", model)
    from seqcli.arrays import read_npz

    return read_npz(path)


def _is_npz(path: str) -> bool:
    """An .npz is a zip too; a .keras archive has a config.json and no .npy members."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return True  # the .npz reader says what is wrong
    return "config.json" not in names
