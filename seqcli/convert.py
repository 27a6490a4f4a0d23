"""`seqcli convert`: a model (and its weights) to the format the destination's name asks
for. One table of writers; each writes atomically (a temporary name, then a rename)."""

from __future__ import annotations

from seqcli.errors import SeqcliError

# destination ending -> (writer, whether it needs the weights)
FORMATS = {}


def writer(*endings: str, needs_weights: bool = True):
    def register(function):
        for ending in endings:
            FORMATS[ending] = (function, needs_weights)
        return function
    return register


def format_of(path: str) -> str:
    """The ending that picks the writer (the longest that matches: .weights.h5 first)."""
    lowered = path.lower()
    for ending in sorted(FORMATS, key=len, reverse=True):
        if lowered.endswith(ending):
            return ending
    if path == "-":  # every other command's `-o -` is standard output; this one needs a name
        raise SeqcliError("convert picks the format from the file name's ending, and standard "
                          f"output has none; give a file name ending in one of "
                          f"{', '.join(sorted(FORMATS))}", "-o -")
    raise SeqcliError(f"cannot tell the format from the name; end it with one of "
                      f"{', '.join(sorted(FORMATS))}", path)


def needs_weights(path: str) -> bool:
    return FORMATS[format_of(path)][1]


def write(path: str, loaded, model, weights: dict | None) -> None:
    FORMATS[format_of(path)][0](path, loaded, model, weights)


# ---------------------------------------------------------------- the writers

@writer(".yaml", ".yml", ".json", needs_weights=False)
def write_spec(path, loaded, model, weights):
    """A readable seqcli spec: Keras's defaults left out."""
    from seqcli import files

    files.write_text(path, spec_text(loaded, model, json_format=path.lower().endswith(".json")))


def spec_text(loaded, model, json_format: bool = False) -> str:
    import json

    config = _plain(model.config())
    data = {"name": config["name"]}
    for key in ("input_shape", "batch_size"):
        if config.get(key) is not None:
            data[key] = config[key]
    if loaded.compile:
        data["compile"] = _plain(loaded.compile)
    data["layers"] = config["layers"]
    if json_format:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100,
                          allow_unicode=True)


def _plain(value):
    """Tuples as lists, for YAML and JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@writer(".keras")
def write_keras(path, loaded, model, weights):
    from seqcli import files, keras_writer

    data = keras_writer.archive_bytes(model, weights, _compiled(loaded))
    with files.atomic_writer(path, binary=True) as handle:
        handle.write(data)


def _compiled(loaded):
    """The source's compile settings, when it has a loss to compile with."""
    if not loaded.compile or loaded.compile.get("loss") is None:
        return None
    from seqcli import training

    return training.compile_settings(loaded.compile, where=loaded.name)


@writer(".weights.h5")
def write_weights_h5(path, loaded, model, weights):
    from seqcli import files, keras_writer

    data = keras_writer.weights_bytes(model, weights)
    with files.atomic_writer(path, binary=True) as handle:
        handle.write(data)


@writer(".npz")
def write_npz(path, loaded, model, weights):
    from seqcli.arrays import write_npz as write

    write(path, weights)


@writer(".onnx")
def write_onnx(path, loaded, model, weights):
    """An ONNX model (opset 17) that ONNX Runtime and other ONNX runtimes run."""
    from seqcli import onnx_export

    onnx_export.write(model, weights, path)
