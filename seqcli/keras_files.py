"""Keras's own files, read safely: a `.keras` archive, Keras JSON, a legacy `.h5` model,
and weights files (Keras 3 `.weights.h5`, Keras 2 `.h5`).

Nothing is extracted to disk: an archive's members are read into memory, after their
names and declared sizes are checked. HDF5 files are opened with h5py (imported only
here, when weights are read); links and external or virtual storage are refused
before any data is read, and a dataset is read only once its declared shape is the one
the model needs.
"""

from __future__ import annotations

import dataclasses

from seqcli.errors import SeqcliError

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_CONFIG_BYTES = 64 * 2**20  # a config.json is text: tens of KB in practice
MAX_WEIGHTS_BYTES = 16 * 2**30
MAX_STORAGE_RATIO = 1000  # an HDF5 dataset's declared bytes / stored bytes
STORAGE_SLACK = 4096  # a tiny unwritten dataset (HDF5 fills it) is harmless
MAX_RATIO = 100  # inflated / compressed: Keras stores members uncompressed (ratio 1)


def sniff(path: str) -> str | None:
    """"archive", "hdf5", or None (text: a spec or Keras JSON) from a file's first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None  # the spec reader says what is wrong with the path
    if head.startswith(ZIP_MAGIC):
        return "archive"
    if head == HDF5_MAGIC:
        return "hdf5"
    return None


def is_keras_archive(path: str) -> bool:
    """A zip holding Keras's members (an .npz is a zip too)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def is_keras_json(text: str) -> bool:
    """Keras's model JSON (to_json(), config.json): an object with `class_name`."""
    if not text.lstrip().startswith("{") or '"class_name"' not in text:
        return False
    import json  # here: a YAML spec needs no json module (start-up)

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False  # the spec reader reports the syntax error, or its nesting bound
    return isinstance(data, dict) and "class_name" in data


# ---------------------------------------------------------------- models

def load(path: str, kind: str):
    """The Spec of a Keras file; its weights are read only when asked for."""
    if kind == "archive":
        name = f"{path}:config.json"
        config = _json(read_member(path, "config.json", MAX_CONFIG_BYTES), name)
        return _spec(config, name, lambda model: archive_weights(path, model))
    with _open_hdf5(path) as h5:  # a legacy full-model .h5
        if "model_config" not in h5.attrs:
            raise SeqcliError("an HDF5 file without `model_config`: a weights file, not a "
                              "model; give a spec and pass it as --weights", path)
        raw = h5.attrs["model_config"]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    name = f"{path}:model_config"
    return _spec(_json(text, name), name, lambda model: legacy_weights(path, model))


def load_json(text: str, name: str):
    return _spec(_json(text, name), name, None)


def _spec(config, name, weights):
    from seqcli import keras_config
    from seqcli.builder import build, collector_paused
    from seqcli.spec import Spec

    with collector_paused():
        model, compile_settings = build(keras_config.read(config, name))
    return Spec(model=model, compile=compile_settings, name=name, weights=weights)


def _json(text, name):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SeqcliError(f"not UTF-8 JSON (byte {exc.start})", name) from None
    import json

    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SeqcliError(f"invalid JSON: {exc}", name) from None


def _no_constant(token):
    raise ValueError(f"{token} is not valid JSON")


# ---------------------------------------------------------------- the zip archive

def read_member(path: str, member: str, limit: int) -> bytes:
    """One member of a zip archive, into memory, after the archive's names and the
    member's declared sizes are checked (nothing is ever extracted)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_names(path, [info.filename for info in infos])
            info = next((i for i in infos if i.filename == member), None)
            if info is None:
                raise SeqcliError(f"the archive has no {member}; a .keras archive holds "
                                  "config.json and model.weights.h5", path)
            where = f"{path}:{member}"
            if info.file_size > limit:
                raise SeqcliError(f"declares {info.file_size:,} bytes, over the "
                                  f"{limit:,}-byte bound", where)
            if info.file_size > MAX_RATIO * max(info.compress_size, 1024):
                raise SeqcliError(f"declares {info.file_size:,} bytes from "
                                  f"{info.compress_size:,} compressed (a zip bomb?)", where)
            with archive.open(info) as stream:
                data = stream.read(info.file_size + 1)  # a lying size shows as one more
            if len(data) != info.file_size:
                raise SeqcliError("the member's size is not what the archive declares", where)
            return data
    except zipfile.BadZipFile as exc:
        raise SeqcliError(f"not a complete zip archive ({exc})", path) from None
    except (OSError, EOFError, RuntimeError) as exc:  # truncated, encrypted, unreadable
        raise SeqcliError(f"cannot read the archive: {exc}", path) from None


def _check_names(path, names):
    seen = set()
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise SeqcliError(f"the member name {name!r} points outside the archive", path)
        if name in seen:
            raise SeqcliError(f"the member name {name!r} appears twice", path)
        seen.add(name)


# ---------------------------------------------------------------- HDF5

class _open_hdf5:
    """An HDF5 file (a path, or bytes from an archive), opened read-only."""

    def __init__(self, source, name: str | None = None):
        self.source, self.name = source, name or source

    def __enter__(self):
        import io

        try:
            import h5py
        except ImportError:  # a core dependency; say so rather than fail obscurely
            raise SeqcliError("reading HDF5 needs h5py: pip install h5py", self.name) from None
        try:
            target = io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source
            self.file = h5py.File(target, "r")
        except OSError as exc:
            raise SeqcliError(f"not a readable HDF5 file ({exc})", self.name) from None
        return self.file

    def __exit__(self, kind, error, trace):
        if trace is not None:
            # an error's frames would keep h5py objects alive past the file (and past
            # HDF5's own shutdown, where freeing them crashes the interpreter)
            import traceback

            traceback.clear_frames(trace)
        self.file.close()


def _node(h5, path: str, name: str):
    """The group or dataset at `path`, refusing soft and external links on the way."""
    import h5py

    node = h5
    for part in path.split("/"):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            raise SeqcliError(f"{kind} at {node.name.rstrip('/')}/{part}; seqcli follows no "
                              "link out of a weights file", name)
        node = node[part]
    return node


def _read(dataset, shape, name: str, key: str = ""):
    """A dataset's values (weight `key`, `layer/weight`), once its declared shape and
    storage are the expected ones."""
    where = f"{name}:{dataset.name}"
    if dataset.is_virtual or dataset.external:
        raise SeqcliError("a dataset stored outside the file (virtual or external storage); "
                          "seqcli reads only data inside the file", where)
    if tuple(dataset.shape) != tuple(shape):
        layer, _, weight = key.rpartition("/")
        what = f"weight {key!r} (layer {layer!r}, weight {weight!r}) " if key else ""
        raise SeqcliError(f"{what}has shape {tuple(dataset.shape)}; the model expects "
                          f"{tuple(shape)}", where)
    if dataset.dtype.kind not in "fiu":
        raise SeqcliError(f"holds {dataset.dtype}, not numbers", where)
    declared, stored = dataset.size * dataset.dtype.itemsize, dataset.id.get_storage_size()
    if declared > MAX_STORAGE_RATIO * stored + STORAGE_SLACK:  # Keras's bound (CVE-2026-0897)
        raise SeqcliError(f"declares {declared:,} bytes but stores {stored:,}; refused "
                          "before reading", where)
    return dataset[()]


# ---------------------------------------------------------------- weights

def read_weights(path: str, model) -> dict:
    """Weights from an HDF5 file for --weights: Keras 3 (`.weights.h5`), Keras 2
    (`save_weights`, by layer order) or a legacy full-model `.h5`."""
    with _open_hdf5(path) as h5:
        if "vars" in h5:  # Keras 3's layout (tf-keras 2.13+ writes it for .weights.h5 too)
            return _keras3_weights(h5, model, path)
        # reached link by link, as every node: the group may be a link out of the file
        root = _node(h5, "model_weights", path) or h5
        if "layer_names" not in root.attrs:
            raise SeqcliError("an HDF5 file with no Keras weights (neither Keras 3's `layers` "
                              "nor Keras 2's `layer_names`)", path)
        return _keras2_weights(root, model, path)


def archive_weights(path: str, model) -> dict:
    data = read_member(path, "model.weights.h5", MAX_WEIGHTS_BYTES)
    name = f"{path}:model.weights.h5"
    with _open_hdf5(data, name) as h5:
        return _keras3_weights(h5, model, name)


def legacy_weights(path: str, model) -> dict:
    with _open_hdf5(path) as h5:
        root = _node(h5, "model_weights", path)  # refuses a link out of the file
        if root is None:
            raise SeqcliError("the model file holds no `model_weights`", path)
        return _keras2_weights(root, model, path)


def _keras3_weights(h5, model, name) -> dict:
    """Keras 3's layout: groups named by class (`layers/dense_1/vars/0`), not by layer."""
    weights = {}
    _collect(h5, "", model.plan, "", weights, name)
    return weights


def _collect(h5, base, plan, prefix, weights, name):
    """A model's layers are its container's children of their class, in number order
    (`dense`, `dense_1`...; tf-keras numbers `dense`, `dense_2`... under
    `_layer_checkpoint_dependencies`)."""
    container = next((f"{base}{c}" for c in ("layers", "_layer_checkpoint_dependencies")
                      if _node(h5, f"{base}{c}", name) is not None), f"{base}layers")
    children = _numbered(_node(h5, container, name))
    taken: dict = {}
    used = set()
    for step in plan.steps:
        slot = _slot(step.layer)
        number = taken[slot] = taken.get(slot, -1) + 1
        found = children.get(slot, [])
        child = found[number] if number < len(found) else slot
        used.add(child)
        path = f"{container}/{child}"
        key = f"{prefix}{step.layer.name}/"
        if step.inner is not None:
            _collect(h5, f"{path}/", step.inner, key, weights, name)
            continue
        for group, names in _groups(step.layer, path, step.weights):
            node = _node(h5, f"{group}/vars", name)
            if node is None and names:
                raise SeqcliError(f"no weights for layer {step.layer.name!r} at {group}/vars",
                                  name)
            if node is not None and len(node.keys()) > len(names):
                raise SeqcliError(f"{group}/vars holds {len(node.keys())} weights; layer "
                                  f"{step.layer.name!r} has {len(names)} "
                                  f"({', '.join(s.name for s in names) or 'none'})", name)
            for index, spec in enumerate(names):
                dataset = _node(node, str(index), name)
                if dataset is None:
                    raise SeqcliError(f"missing weight {index} ({spec.name}) of layer "
                                      f"{step.layer.name!r} at {group}/vars", name)
                weights[key + spec.name] = _read(dataset, spec.shape, name, key + spec.name)
    _no_extra_layers(h5, container, used, name)


def _no_extra_layers(h5, container, used, name):
    """Weights for layers the model lacks (a file for a bigger model) are an error, not
    silently dropped; links on the way are checked as everywhere (`_node`)."""
    group = _node(h5, container, name)
    for child in sorted(set(group.keys() if group is not None else ()) - used):
        if _holds_weights(_node(group, child, name), name):
            raise SeqcliError(f"unexpected weights at {container}/{child}: the model has no "
                              "such layer (is the file for another model?)", name)


def _holds_weights(obj, name) -> bool:
    import h5py

    if isinstance(obj, h5py.Dataset):
        return True
    return isinstance(obj, h5py.Group) and any(
        _holds_weights(_node(obj, key, name), name) for key in obj.keys())


def _slot(layer) -> str:
    from seqcli.keras_config import snake_case

    return snake_case(type(layer).__name__)


def _numbered(group) -> dict:
    """{class slot: its children's names in number order} ('dense' before 'dense_1')."""
    import re

    found: dict = {}
    for child in (group.keys() if group is not None else ()):
        match = re.fullmatch(r"(.+?)(?:_(\d+))?", child)
        found.setdefault(match.group(1), []).append((int(match.group(2) or 0), child))
        if match.group(2):  # 'conv2d_transpose' is a slot of its own, not conv2d's
            found.setdefault(child, []).append((0, child))
    return {slot: [name for _, name in sorted(items)] for slot, items in found.items()}


def _groups(layer, path, specs):
    """(HDF5 group, the specs stored there in order) for a layer and its wrapped ones."""
    from seqcli.layers.cells import RNN
    from seqcli.layers.conv_lstm import ConvLSTM
    from seqcli.layers.recurrent import _Recurrent
    from seqcli.layers.spectral_normalization import SpectralNormalization
    from seqcli.layers.wrappers import Bidirectional, TimeDistributed

    if isinstance(layer, Bidirectional):  # each direction's layer as it is stored alone
        groups = []
        for direction, inner in (("forward", layer.layer), ("backward", layer.reverse)):
            prefix = f"{direction}/"
            own = {s.name[len(prefix):]: s for s in specs if s.name.startswith(prefix)}
            stripped = [dataclasses.replace(s, name=name) for name, s in own.items()]
            groups += [(group, [own[s.name] for s in part]) for group, part in
                       _groups(inner, f"{path}/{direction}_layer", stripped)]
        return groups
    if isinstance(layer, TimeDistributed):
        return _groups(layer.layer, f"{path}/layer", specs)
    if isinstance(layer, SpectralNormalization):  # its own vars: the kernel again, vector_u
        inner = [s for s in specs if s.name != "vector_u"]
        target = layer._target(inner)
        return _groups(layer.layer, f"{path}/layer", inner) + \
            [(path, [target] + [s for s in specs if s.name == "vector_u"])]
    if isinstance(layer, (_Recurrent, ConvLSTM)):
        return [(f"{path}/cell", list(specs))]
    if isinstance(layer, RNN) and layer.stacked:  # cells/lstm_cell, cells/lstm_cell_1...
        counts: dict = {}
        groups = []
        for cell in layer.cell.cells:
            slot = _slot(cell)
            number = counts[slot] = counts.get(slot, -1) + 1
            group = f"{path}/cell/cells/{slot}" + (f"_{number}" if number else "")
            groups.append((group, [s for s in specs if s.name.startswith(f"{cell.name}/")]))
        return groups
    if isinstance(layer, RNN):
        return [(f"{path}/cell", list(specs))]
    return [(path, list(specs))]


def _keras2_weights(root, model, name) -> dict:
    """Keras 2's layout, loaded as Keras 2 loads it: the layers with weights in order,
    each layer's weights in `weight_names` order."""
    groups = []
    for layer_name in _names(root.attrs, "layer_names"):
        group = _node(root, layer_name, name)
        stored = _names(group.attrs, "weight_names") if group is not None else []
        if stored:
            groups.append((group, stored))
    steps = [step for step in model.plan.steps if step.weights]
    if len(groups) != len(steps):
        raise SeqcliError(f"the file has weights for {len(groups)} layers; the model has "
                          f"{len(steps)} layers with weights "
                          f"({', '.join(s.layer.name for s in steps)})", name)
    weights = {}
    for step, (group, stored) in zip(steps, groups):
        if len(stored) != len(step.weights):
            raise SeqcliError(f"layer {step.layer.name!r} has {len(step.weights)} weights; "
                              f"the file's {group.name} has {len(stored)}", name)
        # Keras's legacy writer lists `trainable_weights + non_trainable_weights`: a nested
        # model's BatchNormalization statistics come after all of its trainable weights
        in_file_order = [s for s in step.weights if s.trainable] + \
            [s for s in step.weights if not s.trainable]
        for spec, weight_name in zip(in_file_order, stored):
            dataset = _node(group, weight_name, name)
            if dataset is None:
                raise SeqcliError(f"{group.name} names {weight_name!r}, which it lacks", name)
            key = f"{step.layer.name}/{spec.name}"
            weights[key] = _read(dataset, spec.shape, name, key)
    return weights


def _names(attrs, key) -> list[str]:
    """An attribute listing names (chunked as key0, key1... when large, as Keras writes)."""
    if key in attrs:
        values = list(attrs[key])
    else:
        values, chunk = [], 0
        while f"{key}{chunk}" in attrs:
            values += list(attrs[f"{key}{chunk}"])
            chunk += 1
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
