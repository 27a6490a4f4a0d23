"""`seqcli convert`: any model seqcli reads, written in the format the target's
extension names, through one table of writers.

A spec is written readable: Keras's defaults left out (each layer's `config()`),
Keras's automatic names left out where the builder would give the same ones.
"""

from __future__ import annotations

import json

from seqcli.builder import Namer, snake_case
from seqcli.errors import SeqcliError
from seqcli.model import Sequential


def _spec_yaml(path, loaded, weights):
    import yaml

    from seqcli.files import write_text

    write_text(path, yaml.safe_dump(spec_data(loaded.model, loaded.compile),
                                    sort_keys=False, default_flow_style=None, width=100))


def _spec_json(path, loaded, weights):
    from seqcli.files import write_text

    write_text(path, json.dumps(spec_data(loaded.model, loaded.compile), indent=2) + "\n")


def _keras(path, loaded, weights):
    from seqcli import keras_writer

    keras_writer.write_keras(path, loaded.model, weights, loaded.compile)


def _weights_h5(path, loaded, weights):
    from seqcli import keras_writer

    keras_writer.write_weights(path, loaded.model, weights)


def _npz(path, loaded, weights):
    from seqcli.arrays import write_npz

    write_npz(path, weights)


# extension -> (writer(path, loaded spec, weights or None), whether it needs weights);
# the longest matching extension wins (.weights.h5 before .h5)
WRITERS = {
    ".yaml": (_spec_yaml, False),
    ".yml": (_spec_yaml, False),
    ".json": (_spec_json, False),
    ".keras": (_keras, True),
    ".weights.h5": (_weights_h5, True),
    ".npz": (_npz, True),
}


def writer_for(path: str):
    """(writer, needs weights) for a target path, by its extension."""
    for extension in sorted(WRITERS, key=len, reverse=True):
        if path.lower().endswith(extension):
            return WRITERS[extension]
    raise SeqcliError(f"cannot tell the format from the extension; write one of: "
                      f"{', '.join(WRITERS)}", path)


# ---------------------------------------------------------------- readable spec data

def spec_data(model: Sequential, compile_settings=None) -> dict:
    """The plain data of a spec that builds the same model, without Keras's defaults."""
    namer = Namer()
    data = _model(model, namer)
    data.pop("weights", None)
    if compile_settings:
        data = {**{k: v for k, v in data.items() if k != "layers"},
                "compile": _compile(compile_settings), "layers": data["layers"]}
    return data


def _compile(settings: dict) -> dict:
    """The compile settings with the optimizer's default arguments left out."""
    from seqcli import optimizers

    optimizer = settings.get("optimizer")
    if not isinstance(optimizer, dict) or len(optimizer) != 1:
        return settings
    (name, args), = optimizer.items()
    key = optimizers.ALIASES.get(name, name)
    defaults = optimizers.OPTIMIZERS.get(key)
    if defaults is None or not isinstance(args, dict):
        return settings
    args = {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}
    return {**settings, "optimizer": {key: args} if args else key}


def _model(model: Sequential, namer: Namer, frozen_by_owner: bool = False) -> dict:
    config = {"name": model.name}
    if _automatic(model.name, "sequential", namer):
        del config["name"]
    if model.input_shape is not None:
        config["input_shape"] = list(model.input_shape)
    if model.batch_size is not None:
        config["batch_size"] = model.batch_size
    if not model.trainable and not frozen_by_owner:
        config["trainable"] = False
    frozen = not model.trainable or frozen_by_owner
    config["layers"] = [_entry(layer, namer, frozen) for layer in model.layers]
    return config


def _entry(layer, namer: Namer, frozen: bool) -> dict:
    if isinstance(layer, Sequential):
        inner = _model(layer, namer, frozen)
        return {"Sequential": inner}
    args = {}
    for key, value in layer.config().items():
        if key in type(layer).wraps:
            value = _entry(getattr(layer, key), namer, frozen)
        args[key] = _plain(value)
    if frozen:  # the owner's `trainable: false` freezes it again
        args.pop("trainable", None)
    if _automatic(layer.name, snake_case(type(layer).__name__), namer):
        del args["name"]
    return {type(layer).__name__: args}


def _automatic(name: str, base: str, namer: Namer) -> bool:
    """Whether the builder would give this unnamed layer the same name; if so the
    name is left out and the builder's count advances, as it will when it reads it."""
    count = namer.counts.get(base, 0)
    if name != (base if count == 0 else f"{base}_{count}"):
        return False
    namer(base)
    return True


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
