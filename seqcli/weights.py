"""Weights: fresh ones from Keras's initializers, or a checked .npz file.

Weights are a flat dict keyed as the file is (`layer/weight`, nested
`model/layer/weight`); `nest` turns it into the per-layer dicts that
`Sequential.forward` takes.
"""

from __future__ import annotations

import zlib

from seqcli.errors import SeqcliError
from seqcli.layers.base import WeightSpec, format_shape
from seqcli.model import Sequential

NOT_CREATED = ("Weights for model {name} have not yet been created. Weights are created when "
               "the Model is first called on inputs or `build()` is called with an "
               "`input_shape`; give the input shape in the spec, or with --input-shape")


def specs_of(model: Sequential) -> list[WeightSpec]:
    """Keras's `model.weights`: every weight with its key, shape and trainability."""
    if not model.built:
        raise SeqcliError(NOT_CREATED.format(name=model.name))
    return model.plan.weight_specs()


def fresh(model: Sequential, seed: int = 0, skip=frozenset()) -> dict:
    """New weights from each weight's initializer (but those in `skip`), reproducible per seed."""
    import numpy as np

    from seqcli.initializers import initialize

    weights = {}
    for spec in specs_of(model):
        if spec.name in skip:
            continue
        # one stream per key: a weight's values do not depend on the layers before it
        rng = np.random.default_rng([seed, zlib.crc32(spec.name.encode())])
        try:
            weights[spec.name] = initialize(spec.initializer, spec.shape, rng).astype(spec.dtype)
        except ValueError as exc:
            raise SeqcliError(f"cannot initialize weight {spec.name!r}: {exc}") from None
    return weights


def load(model: Sequential, path: str | None, seed: int = 0,
         embedded=None) -> tuple[dict, list[str]]:
    """The model's weights and notes on where they came from.

    Nested models' `weights:` files load first; the main file (if any) must then
    supply every other weight and may override nested ones. Without a main
    file, the model file's own weights (`embedded`, a Keras archive's), else
    fresh ones (seed `seed`).
    """
    specs = {spec.name: spec for spec in specs_of(model)}
    weights, notes = _nested_files(model.plan, "")
    if path is None and embedded is not None:
        weights.update(check(embedded(model), specs, "the model file's weights"))
    elif path is None:
        missing = fresh(model, seed, skip=set(weights))
        if missing:
            notes.append(f"no --weights given: using fresh weights (seed {seed}) for "
                         f"{len(missing)} of {len(specs)} weights")
        weights.update(missing)
    else:
        where = "<stdin>" if path == "-" else path
        weights.update(check(read_file(path, model), specs, where, optional=set(weights)))
    return weights, notes


def read_file(path: str, model: Sequential) -> dict:
    """A weights file's arrays: an .npz keyed `layer/weight`, or Keras's HDF5 ('-':
    either from standard input)."""
    from seqcli import keras_files

    if path == "-":
        from seqcli.streams import spooled_weights

        copy = spooled_weights()
        try:
            return read_file(copy, model)
        except SeqcliError as exc:  # named as the user gave it, not by the private copy
            raise SeqcliError(exc.message.replace(copy, "<stdin>"),
                              exc.where.replace(copy, "<stdin>")) from None

    kind = keras_files.sniff(path)
    if kind == "hdf5":
        return keras_files.read_weights(path, model)
    if kind == "archive" and keras_files.is_keras_archive(path):  # (an .npz is a zip too)
        return keras_files.archive_weights(path, model)
    from seqcli import keras_paths
    from seqcli.arrays import read_npz

    return keras_paths.to_keys(read_npz(path), model.plan, path)


def _nested_files(plan, prefix: str) -> tuple[dict, list[str]]:
    """The weights nested models' own `weights:` files give, keyed from the top."""
    weights, notes = {}, []
    for step in plan.steps:
        if step.inner is None:
            continue
        layer, inner_prefix = step.layer, f"{prefix}{step.layer.name}/"
        if layer.weights:
            from seqcli.arrays import read_npz

            from seqcli import keras_paths

            specs = {s.name: s for s in step.weights}
            arrays = keras_paths.to_keys(read_npz(layer.weights), step.inner, layer.weights)
            loaded = check(arrays, specs, layer.weights)
            weights.update({inner_prefix + k: v for k, v in loaded.items()})
            notes.append(f"{layer.name}: weights from {layer.weights}")
        inner, inner_notes = _nested_files(step.inner, inner_prefix)
        weights.update(inner)
        notes += inner_notes
    return weights, notes


def check(arrays: dict, specs: dict, path: str, optional=frozenset()) -> dict:
    """Every key present (unless optional), none extra, shapes right; cast to float32."""
    import numpy as np

    extra = sorted(set(arrays) - set(specs))
    if extra:
        from seqcli.errors import did_you_mean

        hint = did_you_mean(extra[0], specs)  # tf.keras's 'dense/kernel:0', a typo
        raise SeqcliError(f"unexpected weight {extra[0]!r}{hint}: the model has no such "
                          f"weight (it has: {', '.join(specs)})", path)
    missing = [key for key in specs if key not in arrays and key not in optional]
    if missing:
        layer, _, weight = missing[0].rpartition("/")
        raise SeqcliError(f"missing weight {missing[0]!r} (layer {layer!r}, weight {weight!r}, "
                          f"expected shape {format_shape(specs[missing[0]].shape)})", path)
    result = {}
    for key, array in arrays.items():
        expected = tuple(specs[key].shape)
        if tuple(array.shape) != expected:
            layer, _, weight = key.rpartition("/")
            raise SeqcliError(f"weight {key!r} (layer {layer!r}, weight {weight!r}) has shape "
                              f"{format_shape(array.shape)}; expected {format_shape(expected)}",
                              path)
        wanted = np.dtype(specs[key].dtype)
        if array.dtype.kind != wanted.kind and not (wanted.kind == "i" and array.dtype.kind == "u"):
            raise SeqcliError(f"weight {key!r} has dtype {array.dtype}; expected "
                              f"{'floats' if wanted.kind == 'f' else 'integers'}", path)
        result[key] = np.asarray(array, dtype=wanted)
    return result


def nest(flat: dict) -> dict:
    """{'base/dense/kernel': a} -> {'base': {'dense': {'kernel': a}}}."""
    tree: dict = {}
    for key, value in flat.items():
        *path, leaf = key.split("/")
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def flatten(tree: dict, prefix: str = "") -> dict:
    """The inverse of `nest`: {'base': {'dense': {'kernel': a}}} -> {'base/dense/kernel': a}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[prefix + key] = value
    return flat


def save(path: str, weights: dict) -> None:
    from seqcli.arrays import write_npz

    write_npz(path, weights)
