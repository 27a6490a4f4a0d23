"""Keras 3's variable paths as seqcli's weight keys, so a user's own dump drops in.

In Keras, `{v.path: v.numpy() for v in model.weights}` keys each weight by the
layers that made it: the model's name first, an RNN's cell, a Bidirectional's
`forward_lstm`/`backward_lstm`, a TimeDistributed's inner layer
(`sequential/bidirectional/forward_lstm/lstm_cell/kernel`). seqcli keys the same
weight `layer/weight` (`bidirectional/forward/kernel`). A nested model's weights
start at whichever model Keras built first: the outer one (`outer/base/conv2d/
kernel`) or the nested one on its own (`base/conv2d/kernel`).

Each seqcli key gets the set of paths Keras may give it; a file's keys are
renamed when each names exactly one weight and all of them name the same outer
model; a path that could be two weights is a one-line error naming both, and a
key that names none is left for the weights check to refuse.
"""

from __future__ import annotations

from seqcli.errors import SeqcliError

CELLS = {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}


def to_keys(arrays: dict, plan, where: str) -> dict:
    """The arrays keyed as seqcli keys them: unchanged when they already are."""
    paths = keras_paths(plan)
    if set(arrays) <= set(paths):
        return arrays
    renamed, outer = {}, set()
    for key, array in arrays.items():
        target, model_name = _match(key, paths, where)
        if model_name is not None:
            outer.add(model_name)
        if target in renamed:
            raise SeqcliError(f"{renamed[target][0]!r} and {key!r} are both weight "
                              f"{target!r}; keep one", where)
        renamed[target] = (key, array)
    if len(outer) > 1:
        raise SeqcliError(f"Keras paths of {len(outer)} different models "
                          f"({', '.join(sorted(outer))}); the file should hold one model's "
                          "weights", where)
    return {target: array for target, (_, array) in renamed.items()}


def _match(key: str, paths: dict, where: str) -> tuple[str, str | None]:
    """(seqcli key, the outer model's name when the path starts with it)."""
    model_name, _, rest = key.partition("/")
    found = {(target, None) for target, (_, alone) in paths.items()
             if key == target or key in alone}
    found |= {(target, model_name) for target, (relative, _) in paths.items()
              if rest == relative}
    if not found:  # left as it is, for the weights check to name it
        return key, None
    if len(found) == 1:
        return found.pop()
    names = sorted({target for target, _ in found})
    raise SeqcliError(f"the Keras path {key!r} could be weight {' or '.join(map(repr, names))};"
                      " rename it in the file to the one it is", where)


def keras_paths(plan) -> dict:
    """{seqcli key: (Keras's path below the outer model, the paths Keras gives it when a
    nested model holding it was built on its own)}."""
    paths = {}
    for step in plan.steps:
        layer = step.layer
        if step.inner is not None:
            for key, (relative, alone) in keras_paths(step.inner).items():
                path = f"{layer.name}/{relative}"
                paths[f"{layer.name}/{key}"] = (path, alone | {path})
            continue
        for spec in step.weights:
            paths[f"{layer.name}/{spec.name}"] = (layer_path(layer, spec.name), frozenset())
    return paths


def layer_path(layer, weight: str, name: str | None = None) -> str:
    """Keras's path of one of a layer's weights, from the layer's name down."""
    from seqcli.layers.cells import RNN
    from seqcli.layers.conv_lstm import ConvLSTM
    from seqcli.layers.spectral_normalization import SpectralNormalization
    from seqcli.layers.wrappers import Bidirectional, TimeDistributed

    name = name or layer.name
    if isinstance(layer, Bidirectional):
        direction, _, rest = weight.partition("/")
        if direction == "forward":
            inner, inner_name = layer.layer, f"forward_{_drop(layer.layer.name, 'forward_')}"
        elif layer.backward_layer is not None:
            inner, inner_name = layer.backward_layer, layer.backward_layer.name
        else:
            inner, inner_name = layer.layer, f"backward_{_drop(layer.layer.name, 'backward_')}"
        return f"{name}/{layer_path(inner, rest, inner_name)}"
    if isinstance(layer, TimeDistributed):
        return f"{name}/{layer_path(layer.layer, weight)}"
    if isinstance(layer, RNN):  # rnn/lstm_cell/kernel; stacked: rnn/stacked_rnn_cells/...
        return f"{name}/{layer.cell.name}/{weight}"
    if isinstance(layer, SpectralNormalization) and weight != "vector_u":
        return f"{name}/{layer_path(layer.layer, weight)}"
    if isinstance(layer, ConvLSTM):  # Keras names its cell so
        return f"{name}/conv_lstm_cell/{weight}"
    cell = CELLS.get(type(layer).__name__)
    return f"{name}/{cell}/{weight}" if cell else f"{name}/{weight}"


def _drop(text: str, prefix: str) -> str:
    return text[len(prefix):] if text.startswith(prefix) else text
