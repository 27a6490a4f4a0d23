"""A seqcli model written as Keras 3 writes it: a `.keras` archive (config.json,
metadata.json, model.weights.h5) that `keras.models.load_model(path)` loads with
safe_mode on, and a `.weights.h5` that `model.load_weights` takes.

The config holds only Keras's own classes, each argument seqcli keeps (Keras's
defaults fill the rest on load); frozen layers stay frozen and a nested model stays
nested. Weights follow saving_lib's layout (keras_h5.variable_groups): groups named
by class with a per-class counter, variables numbered in creation order.
"""

from __future__ import annotations

import io
import json
import zipfile

from seqcli import keras_h5
from seqcli.model import Sequential

KERAS_VERSION = "3.15.1"  # the Keras whose layout this follows (checked by the fixtures)
OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                     "adagrad": "Adagrad"}


def write_keras(path: str, model: Sequential, weights: dict, compile_settings=None) -> None:
    """A `.keras` archive, written atomically; members stored, as Keras stores them."""
    from seqcli.files import atomic_writer

    config = model_config(model, top=True)
    if compile_settings:
        config["compile_config"] = compile_config(compile_settings)
    metadata = {"keras_version": KERAS_VERSION, "saved_by": "seqcli"}
    with atomic_writer(path, binary=True) as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(_member("metadata.json"), json.dumps(metadata))
            archive.writestr(_member("config.json"), json.dumps(config))
            archive.writestr(_member("model.weights.h5"), weights_h5(model, weights))


def write_weights(path: str, model: Sequential, weights: dict) -> None:
    """A Keras 3 `.weights.h5`, written atomically."""
    from seqcli.files import atomic_writer

    with atomic_writer(path, binary=True) as handle:
        handle.write(weights_h5(model, weights))


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible bytes
    info.compress_type = zipfile.ZIP_STORED
    return info


# ---------------------------------------------------------------- config.json

def _object(module: str, class_name: str, config, **extra) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None, **extra}


def model_config(model: Sequential, top: bool = False) -> dict:
    layers = []
    if model.input_shape is not None:
        layers.append(_object("keras.layers", "InputLayer", {
            "batch_shape": [model.batch_size, *model.input_shape], "dtype": "float32",
            "name": f"{model.name}_input"}))
    layers += [layer_config(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "dtype": "float32",
              "layers": layers}
    return _object("keras", "Sequential", config)


def layer_config(layer) -> dict:
    if isinstance(layer, Sequential):
        return model_config(layer)
    config = {}
    for key, value in layer.config().items():
        if key in getattr(type(layer), "wraps", ()):
            value = layer_config(getattr(layer, key))
        elif key.endswith("_initializer"):
            value = _setting("keras.initializers", value)
        elif key.endswith("_regularizer"):
            value = _setting("keras.regularizers", value)
        elif key.endswith("_constraint"):
            value = _setting("keras.constraints", value)
        config[key] = _plain(value)
    config["trainable"] = layer.trainable
    config["dtype"] = "float32"
    return _object("keras.layers", type(layer).__name__, config)


def _setting(module: str, value):
    """seqcli's `name` or `{name: {args}}` as Keras's serialized object."""
    if value is None or isinstance(value, str):
        return value
    (name, args), = value.items()
    return _object(module, _class_name(name), _plain(args or {}))


def _class_name(name: str) -> str:
    """random_normal -> RandomNormal; class names stay as they are."""
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(part.capitalize() for part in name.split("_"))


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def compile_config(settings: dict) -> dict:
    """The spec's `compile:` as Keras's compile_config (strings where Keras takes them)."""
    optimizer = settings.get("optimizer")
    if isinstance(optimizer, dict):
        (name, args), = optimizer.items()
        args = dict(args or {})
        if isinstance(args.get("learning_rate"), dict):
            args["learning_rate"] = _setting("keras.optimizers.schedules", args["learning_rate"])
        optimizer = _object("keras.optimizers", OPTIMIZER_CLASSES.get(name.lower(), name), args)
    loss = settings.get("loss")
    if isinstance(loss, dict):
        (name, args), = loss.items()
        loss = _object("keras.losses", _class_name(name), _plain(args or {}))
    return {"optimizer": optimizer, "loss": loss, "metrics": settings.get("metrics"),
            "loss_weights": None, "weighted_metrics": None, "run_eagerly": False,
            "steps_per_execution": 1, "jit_compile": False}


# ---------------------------------------------------------------- model.weights.h5

def weights_h5(model: Sequential, weights: dict) -> bytes:
    """The bytes of a Keras 3 weights file for the model."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars").attrs["name"] = model.name
        _write(h5, "layers", model.plan, "", weights)
    return buffer.getvalue()


def _write(h5, base, plan, prefix, weights):
    import numpy as np

    used: dict = {}
    for step in plan.steps:
        path = f"{base}/{keras_h5._unique(keras_h5.snake_case(type(step.layer).__name__), used)}"
        key = f"{prefix}{step.layer.name}/"
        if step.inner is not None:
            h5.create_group(f"{path}/vars").attrs["name"] = step.layer.name
            _write(h5, f"{path}/layers", step.inner, key, weights)
            continue
        groups = keras_h5.variable_groups(step.layer, path, step.weights)
        if not any(group == path for group, _ in groups):
            h5.create_group(f"{path}/vars").attrs["name"] = step.layer.name
        for group, specs in groups:
            variables = h5.create_group(f"{group}/vars")
            variables.attrs["name"] = step.layer.name
            for index, spec in enumerate(specs):
                variables.create_dataset(str(index), data=np.asarray(weights[key + spec.name]))
