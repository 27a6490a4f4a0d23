"""Models back to Keras: a Keras 3 `.keras` archive and `.weights.h5`, as Keras's own
saving_lib writes them, so that `keras.models.load_model` (safe_mode on) and
`model.load_weights` read them: the config names only Keras's own classes, and the
weights sit where Keras looks for them (by class, `layers/dense_1/vars/0`)."""

from __future__ import annotations

import io
import json
import zipfile

from seqcli.keras_config import snake_case
from seqcli.setting_tables import LOSS_CLASSES, OPTIMIZER_CLASSES

KERAS_VERSION = "3.15.1"  # the Keras these files were checked against


def archive_bytes(model, weights: dict, compiled=None) -> bytes:
    """A `.keras` archive: metadata.json, config.json, model.weights.h5 (stored)."""
    config = model_config(model, top=True)
    if compiled is not None:
        config["compile_config"] = compile_config(compiled)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": KERAS_VERSION,
                                                      "date_saved": "seqcli"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights_bytes(model, weights))
    return buffer.getvalue()


# ---------------------------------------------------------------- config.json

def _object(module: str, class_name: str, config) -> dict:
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


def model_config(model, top: bool = False, input_shape=None) -> dict:
    plan = model.plan if top else model.plan_for(input_shape)
    layers = []
    if top or model.input_shape is not None:  # a nested model's own declared input too
        batch_shape = list(plan.input_shape) if top else [model.batch_size, *model.input_shape]
        layers.append(_object("keras.layers", "InputLayer", {
            "batch_shape": batch_shape, "dtype": "float32", "sparse": False,
            "name": "input_layer" if top else f"{model.name}_input"}))
    for step in plan.steps:
        layers.append(layer_object(step.layer, step.input_shape))
    config = {"name": model.name, "trainable": model.trainable, "dtype": "float32",
              "layers": layers}
    result = _object("keras", "Sequential", config)
    result["build_config"] = {"input_shape": list(plan.input_shape)}
    return result


def layer_object(layer, input_shape) -> dict:
    from seqcli.model import Sequential

    if isinstance(layer, Sequential):
        return model_config(layer, input_shape=input_shape)
    config = {}
    for key, value in layer.config().items():
        inner = getattr(layer, key, None) if key in layer.wraps else None
        if isinstance(inner, tuple):  # StackedRNNCells' cells
            config[key] = [layer_object(cell, None) for cell in inner]
        elif key in layer.wraps:
            config[key] = None if value is None else layer_object(inner, None)
        else:
            config[key] = _setting(key, value)
    result = _object("keras.layers", type(layer).__name__, config)
    if input_shape is not None:  # Keras builds the layer, and its variables, from this
        result["build_config"] = {"input_shape": list(input_shape)}
    return result


def _setting(key: str, value):
    """An initializer, regularizer or constraint as a Keras object; anything else as JSON."""
    if isinstance(value, tuple):
        return [_setting(key, v) for v in value]
    if key.endswith("_initializer") and isinstance(value, dict):
        (name, args), = value.items()
        return _object("keras.initializers", _initializer_class(name), args)
    for suffix, module in (("_regularizer", "keras.regularizers"),
                           ("_constraint", "keras.constraints")):
        if key.endswith(suffix) and value is not None:
            name, args = (value, {}) if isinstance(value, str) else next(iter(value.items()))
            return _object(module, name, args)
    return value


def _initializer_class(name: str) -> str:
    from seqcli.initializers import ALIASES

    classes = {snake: camel for camel, snake in ALIASES.items() if camel[0].isupper()}
    return classes.get(name, name)


def compile_config(compiled) -> dict:
    (loss, loss_args), (optimizer, optimizer_args) = compiled.loss, compiled.optimizer
    args = dict(optimizer_args)
    if isinstance(args.get("learning_rate"), dict):
        (schedule, schedule_args), = args["learning_rate"].items()
        args["learning_rate"] = _object("keras.optimizers.schedules", schedule, schedule_args)
    return {"optimizer": _object("keras.optimizers", OPTIMIZER_CLASSES[optimizer], args),
            "loss": _object("keras.losses", LOSS_CLASSES[loss],
                            _loss_args(loss, loss_args)),
            "loss_weights": None, **_metrics(compiled),
            "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _metrics(compiled) -> dict:
    """metrics and weighted_metrics, each object named as Keras names it in a session."""
    from seqcli.metrics import session_names

    values = [*compiled.metrics, *compiled.weighted_metrics]
    written = [_metric(v, n) for v, n in zip(values, session_names(values))]
    plain = written[:len(compiled.metrics)]
    return {"metrics": plain or None, "weighted_metrics": written[len(plain):] or None}


def _metric(value, logged: str):
    """A metric as Keras's compile_config holds it: a name as written; one given with
    arguments as its Keras object, under the name Keras gives it (`logged`)."""
    from seqcli.metrics import get
    from seqcli.setting_tables import METRIC_CLASSES, METRICS

    if isinstance(value, str) and "(" not in value:
        return value
    name, args = get(value)
    if name == "accuracy":  # Keras's Accuracy class is another metric: the name picks
        return "accuracy"
    config = {k: v for k, v in args.items() if k != "name" and v != METRICS[name][k]}
    return _object("keras.metrics", METRIC_CLASSES[name], {"name": logged, **config})


def _loss_args(loss, args):
    """The loss's arguments, leaving out the reduction, axis, ... at Keras's defaults
    (Keras fills them in; a loss written before seqcli took them is unchanged)."""
    from seqcli.setting_tables import LOSSES as DEFAULTS

    optional = ("reduction", "name", "dtype", "axis", "label_smoothing", "ignore_class")
    return {k: v for k, v in args.items()
            if k not in optional or v != DEFAULTS[loss].get(k)}


# ---------------------------------------------------------------- model.weights.h5

def weights_bytes(model, weights: dict) -> bytes:
    buffer = io.BytesIO()
    write_weights(buffer, model, weights)
    return buffer.getvalue()


def write_weights(target, model, weights: dict) -> None:
    """Keras 3's weights layout, to a path or a binary stream."""
    import h5py

    with h5py.File(target, "w") as h5:
        h5.create_group("vars").attrs["name"] = model.name
        _write(h5, "layers", model.plan, "", weights)


def _write(h5, base, plan, prefix, weights):
    from seqcli.keras_files import _groups

    counts: dict = {}
    for step in plan.steps:
        slot = snake_case(type(step.layer).__name__)
        number = counts[slot] = counts.get(slot, -1) + 1
        path = f"{base}/{slot}" + (f"_{number}" if number else "")
        key = f"{prefix}{step.layer.name}/"
        h5.require_group(f"{path}/vars").attrs["name"] = step.layer.name
        if step.inner is not None:
            _write(h5, f"{path}/layers", step.inner, key, weights)
            continue
        for group, specs in _groups(step.layer, path, step.weights):
            node = h5.require_group(f"{group}/vars")
            for index, spec in enumerate(specs):
                node.create_dataset(str(index), data=weights[key + spec.name])
