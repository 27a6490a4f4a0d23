"""Keras's HDF5 files read safely: Keras 3 `.weights.h5` (and an archive's
`model.weights.h5`), Keras 2 `save_weights` `.h5`, and a legacy full-model `.h5`.

h5py is imported only here, when HDF5 is read. Every group and dataset is reached
link by link, and anything but a hard link (a soft link, an external link into
another file) is refused before it is followed. A dataset is read only after its
declared shape is the one the layer needs and its storage is inside the file
(no external storage, no virtual dataset, not declaring far more than it stores).
"""

from __future__ import annotations

import io
import os
import re

from seqcli.errors import SeqcliError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_FILE_BYTES = 4 * 2**30  # read into memory: a model's weights, not a data set
MAX_ATTRIBUTE_BYTES = 64 * 2**20  # model_config and name lists are text
MAX_STORAGE_RATIO = 1000  # declared bytes / stored bytes (Keras's bound, CVE-2026-0897)


class File:
    """An HDF5 file opened read-only from memory: bytes (an archive member) or a path."""

    def __init__(self, source, name: str):
        self.source, self.name = source, name

    def __enter__(self):
        try:
            import h5py
        except ImportError:  # a core dependency; say so rather than fail obscurely
            raise SeqcliError("reading HDF5 needs h5py: pip install h5py", self.name) from None
        data = self.source if isinstance(self.source, bytes) else _read_file(self.source)
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except (OSError, ValueError) as exc:
            raise SeqcliError(f"not a readable HDF5 file ({exc})", self.name) from None
        return self.file

    def __exit__(self, *exc):
        self.file.close()


def _read_file(path: str) -> bytes:
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            raise SeqcliError(f"larger than {MAX_FILE_BYTES:,} bytes", path)
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise SeqcliError(exc.strerror or str(exc), path) from None


# ---------------------------------------------------------------- safe access

def node(group, path: str, name: str):
    """The group or dataset at `path` under `group`, or None; links other than hard
    links (soft, external) are refused before they are followed."""
    import h5py

    current = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(current, h5py.Group):
            return None
        link = current.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            kind = "an external link (into another file)" if isinstance(
                link, h5py.ExternalLink) else "a soft link"
            raise SeqcliError(f"{kind} at {_join(current.name, part)}; seqcli follows no link "
                              "in a weights file", name)
        current = current[part]
    return current


def read(dataset, shape, name: str, key: str):
    """A dataset's values (weight `key`), once its shape and storage are what the
    layer needs."""
    import h5py

    where = f"{name}:{dataset.name}"
    if not isinstance(dataset, h5py.Dataset):
        raise SeqcliError("a group where a weight (a dataset) should be", where)
    if dataset.is_virtual:
        raise SeqcliError("a virtual dataset (its data lives in other files); seqcli reads "
                          "only data stored inside the file", where)
    if dataset.external:
        raise SeqcliError("a dataset with external storage (its data lives in another "
                          "file); seqcli reads only data stored inside the file", where)
    if tuple(dataset.shape) != tuple(shape):
        layer, _, weight = key.rpartition("/")
        raise SeqcliError(f"weight {key!r} (layer {layer!r}, weight {weight!r}) declares "
                          f"shape {tuple(dataset.shape)}; the layer needs {tuple(shape)}", where)
    if dataset.dtype.kind not in "fiu":
        raise SeqcliError(f"holds {dataset.dtype}, not numbers", where)
    declared = dataset.size * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared > MAX_STORAGE_RATIO * stored + 4096:
        raise SeqcliError(f"declares {declared:,} bytes but stores {stored:,}; refused "
                          "before reading", where)
    return dataset[()]


def text_attribute(obj, key: str, name: str) -> str | None:
    """A string attribute (model_config), size-checked before it is read."""
    import h5py

    if key not in obj.attrs:
        return None
    if h5py.h5a.open(obj.id, key.encode()).get_storage_size() > MAX_ATTRIBUTE_BYTES:
        raise SeqcliError(f"the attribute {key!r} is larger than {MAX_ATTRIBUTE_BYTES:,} "
                          "bytes", name)
    value = obj.attrs[key]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def name_list(attrs, key: str) -> list[str]:
    """A list-of-names attribute, chunked as key0, key1, ... when large (as Keras writes)."""
    if key in attrs:
        values = list(attrs[key])
    else:
        values, chunk = [], 0
        while f"{key}{chunk}" in attrs:
            values += list(attrs[f"{key}{chunk}"])
            chunk += 1
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _join(base: str, part: str) -> str:
    return f"{base.rstrip('/')}/{part}"


# ---------------------------------------------------------------- which layout

def read_weights(source, name: str, model) -> dict:
    """Flat `layer/weight` arrays for the model from any Keras HDF5 weights layout."""
    with File(source, name) as h5:
        if "layers" in h5 and "layer_names" not in h5.attrs:
            return keras3_weights(h5, model, name)
        root = h5
        if "model_weights" in h5:
            root = node(h5, "model_weights", name)
        if "layer_names" not in root.attrs and "layer_names0" not in root.attrs:
            raise SeqcliError("an HDF5 file with no Keras weights (neither Keras 3's "
                              "`layers` group nor Keras 2's `layer_names`)", name)
        return keras2_weights(root, model, name)


def model_config(path: str) -> str:
    """The `model_config` JSON text of a legacy full-model `.h5`."""
    with File(path, path) as h5:
        text = text_attribute(h5, "model_config", path)
    if text is None:
        raise SeqcliError("an HDF5 file without `model_config`: a weights file, not a model; "
                          "give the model (a spec or Keras file) and pass this as --weights",
                          path)
    return text


# ---------------------------------------------------------------- Keras 3

def keras3_weights(h5, model, name) -> dict:
    """Keras 3's layout (saving_lib): children named by class, not by layer
    (`layers/dense_1/vars/0`), variables numbered in creation order."""
    weights = {}
    _walk(h5, "layers", model.plan, "", weights, name)
    return weights


def _walk(h5, base, plan, prefix, weights, name):
    used: dict = {}
    visited = set()
    for step in plan.steps:
        slot = _unique(snake_case(type(step.layer).__name__), used)
        visited.add(slot)
        path = f"{base}/{slot}"
        key = f"{prefix}{step.layer.name}/"
        if step.inner is not None:
            _walk(h5, f"{path}/layers", step.inner, key, weights, name)
            continue
        for group, specs in variable_groups(step.layer, path, step.weights):
            _read_vars(h5, group, specs, step.layer.name, key, weights, name)
    _no_extra_layers(node(h5, base, name), visited, base, name)


def _no_extra_layers(group, visited, base, name):
    """A weights file for a bigger model is refused, not silently cut short."""
    extra = sorted(set(group.keys()) - visited) if group is not None else []
    for slot in extra:
        if _holds_data(node(group, slot, name), name):
            raise SeqcliError(f"unexpected weights at {base}/{slot}: the model has no such "
                              "layer (the file is for a different model)", name)


def _holds_data(obj, name) -> bool:
    import h5py

    if isinstance(obj, h5py.Dataset):
        return True
    return isinstance(obj, h5py.Group) and any(
        _holds_data(node(obj, key, name), name) for key in obj.keys())


def _read_vars(h5, group, specs, layer_name, key, weights, name):
    variables = node(h5, f"{group}/vars", name)
    if variables is None:
        if specs:
            raise SeqcliError(f"missing weights of layer {layer_name!r}: no group "
                              f"{group}/vars (is this the same model?)", name)
        return
    stored = len(variables.keys())
    if stored != len(specs):
        raise SeqcliError(f"layer {layer_name!r} has {len(specs)} weights "
                          f"({', '.join(s.name for s in specs) or 'none'}); {group}/vars "
                          f"holds {stored}", name)
    for index, spec in enumerate(specs):
        dataset = node(variables, str(index), name)
        if dataset is None:
            raise SeqcliError(f"missing weight {spec.name!r} of layer {layer_name!r} "
                              f"({group}/vars/{index})", name)
        weights[key + spec.name] = read(dataset, spec.shape, name, key + spec.name)


def variable_groups(layer, path: str, specs) -> list:
    """(HDF5 group, the layer's weight specs stored there, in order) for a layer,
    following Keras's attributes: an RNN's `cell`, a wrapper's `layer`,
    Bidirectional's `forward_layer` and `backward_layer`."""
    from seqcli.layers.wrappers import Bidirectional, TimeDistributed

    if isinstance(layer, Bidirectional):
        groups = []
        for side, inner in (("forward", layer.layer), ("backward", layer.backward_layer)):
            side_specs = [s for s in specs if s.name.startswith(f"{side}/")]
            groups += variable_groups(inner or layer.layer, f"{path}/{side}_layer", side_specs)
        return groups
    if isinstance(layer, TimeDistributed):
        return variable_groups(layer.layer, f"{path}/layer", specs)
    if _is_rnn(layer):
        return [(f"{path}/cell", list(specs))]
    return [(path, list(specs))]


def _is_rnn(layer) -> bool:
    return type(layer).__name__ in ("SimpleRNN", "LSTM", "GRU")


def snake_case(name: str) -> str:
    """Keras 3's to_snake_case (naming.py), which names the weight groups."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique(name: str, used: dict) -> str:
    """saving_lib's _get_unique_name: dense, dense_1, dense_2, ..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


# ---------------------------------------------------------------- Keras 2

def keras2_weights(root, model, name) -> dict:
    """Keras 2's layout, loaded as Keras 2 loads it: the layers that have weights, in
    order; each layer's weights in `weight_names` order, trainable ones first."""
    groups = []
    for layer_name in name_list(root.attrs, "layer_names"):
        group = node(root, layer_name, name)
        stored = name_list(group.attrs, "weight_names") if group is not None else []
        if stored:
            groups.append((group, stored))
    steps = [step for step in model.plan.steps if step.weights]
    if len(groups) != len(steps):
        raise SeqcliError(f"the file has weights for {len(groups)} layers; the model has "
                          f"{len(steps)} layers with weights "
                          f"({', '.join(s.layer.name for s in steps) or 'none'})", name)
    weights = {}
    for step, (group, stored) in zip(steps, groups):
        specs = legacy_order(step.weights)
        if len(stored) != len(specs):
            raise SeqcliError(f"layer {step.layer.name!r} has {len(specs)} weights "
                              f"({', '.join(s.name for s in specs)}); the file's {group.name} "
                              f"has {len(stored)}", name)
        for spec, weight_name in zip(specs, stored):
            dataset = node(group, weight_name, name)
            if dataset is None:
                raise SeqcliError(f"{group.name} lists {weight_name!r}, which it lacks", name)
            key = f"{step.layer.name}/{spec.name}"
            weights[key] = read(dataset, spec.shape, name, key)
    return weights


def legacy_order(specs) -> list:
    """Keras 2's `layer.weights` order: trainable weights first, then the others."""
    return [s for s in specs if s.trainable] + [s for s in specs if not s.trainable]
