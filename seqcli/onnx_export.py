"""Export a built Sequential and its weights to ONNX (opset 17).

The model's input keeps Keras's layout (channels last), its name ("input_layer",
Keras 3's) and a dynamic batch. Each layer family has one emitter in `emitters()` that
adds the layer's nodes to a `Graph` and returns its output `Value`: onnx_layers has the
core, activation and normalization layers, onnx_spatial the convolutions, pooling and
resizing (which work channels-first and leave their output so; the graph transposes
back only where a layer needs Keras's layout, see onnx_graph), onnx_recurrent the
recurrent layers. Layers that only act in training (Dropout, noise,
ActivityRegularization) add nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from seqcli.errors import SeqcliError

INSTALL = "pip install 'seqcli[onnx]'"
INPUT_NAME = "input_layer"
OUTPUT_NAME = "output_0"


def require_onnx(what: str = "ONNX export"):
    """Import onnx, or a one-line error saying what to install."""
    try:
        import onnx
    except ImportError:
        raise SeqcliError(f"{what} needs the onnx package: {INSTALL}") from None
    return onnx


# ---------------------------------------------------------------- the entry points

def export(model, weights: dict):
    """An onnx.ModelProto computing `model` with `weights` (flat `layer/weight` dict)."""
    return build(model, weights).proto


@dataclass
class Built:
    """An exported model, and which layers its loss-term outputs belong to."""

    proto: object  # onnx.ModelProto
    penalty_layers: list  # the layers whose outputs are "penalty:0", "penalty:1"...


def build(model, weights: dict, outputs=(), engine: bool = False) -> Built:
    """The ONNX model. `outputs` names top-level layers whose outputs become extra graph
    outputs "layer:NAME". For the engine, also the outputs of the layers with an
    activity regularizer ("penalty:I", from which it computes their loss terms) and
    the output's mask from an Embedding's mask_zero ("mask", for evaluate's loss)."""
    require_onnx()
    from onnx import TensorProto

    from seqcli import weights as weights_module
    from seqcli.onnx_graph import Graph, Value, identity

    model = model.with_input((None, *model.batch_input_shape[1:]))  # any batch size
    model.check_masks()
    specs = {spec.name: spec for spec in weights_module.specs_of(model)}
    weights = weights_module.check(weights, specs, "the weights")  # all there, right shapes
    graph = Graph()
    state = Emission(graph)
    x = Value(INPUT_NAME, identity(len(model.batch_input_shape)))
    y, kept, mask = emit_layers(state, model.plan, weights_module.nest(weights), x,
                                keep=set(outputs))
    graph.op_named("Identity", [graph.keras(y)], OUTPUT_NAME)
    extra = []
    plan = model.plan
    for name in outputs:
        graph.op_named("Identity", [graph.keras(kept[name])], f"layer:{name}")
        extra.append((f"layer:{name}", plan.step(name).output_shape))
    if engine:
        for index, (layer, shape, value) in enumerate(state.taps):
            graph.op_named("Identity", [graph.keras(value)], f"penalty:{index}")
            extra.append((f"penalty:{index}", shape))
        if mask is not None:
            graph.op_named("Identity", [mask.name], "mask")
            extra.append(("mask", mask.shape, TensorProto.BOOL))
    proto = graph.model(INPUT_NAME, model.batch_input_shape, OUTPUT_NAME,
                        plan.output_shape, extra, graph_name=model.name or "sequential")
    return Built(proto, [layer for layer, _, _ in state.taps] if engine else [])


def write(model, weights: dict, path: str) -> None:
    """Write the model as an .onnx file, whole or not at all."""
    from seqcli.files import atomic_writer

    proto = export(model, weights)
    with atomic_writer(path, binary=True) as handle:
        handle.write(proto.SerializeToString())


# ---------------------------------------------------------------- the traversal

class Emission:
    """The graph being built, and the layers with an activity regularizer met on the
    way (their outputs feed the engine's loss terms)."""

    def __init__(self, graph):
        self.graph = graph
        self.taps = []  # (layer, Keras shape, Value)


@dataclass(frozen=True)
class Mask:
    """Keras's mask from an Embedding with mask_zero: a boolean tensor shaped as the
    Embedding's input (batch first, Keras's layout), True where a value is kept."""

    name: str
    shape: tuple


def emit_layers(state: Emission, plan, params: dict, x, keep=frozenset(), mask=None):
    """Every layer of a built Sequential's plan in turn, as Sequential.run goes, masks
    included (a nested model takes one and gives one); (output Value, {kept layer name:
    Value}, the output's Mask or None)."""
    from seqcli.model import Sequential, inner_keep

    graph, kept = state.graph, {}
    outer_scope = graph.scope
    for step in plan.steps:
        layer = step.layer
        graph.scope = f"{outer_scope}/{layer.name}" if outer_scope else layer.name
        layer_params = params.get(layer.name, {})
        made = None
        if layer.makes_mask:
            made = made_mask(graph, layer, x, step.input_shape)
        if isinstance(layer, Sequential):
            x, inner, mask = emit_layers(state, step.inner, layer_params, x,
                                         inner_keep(keep, layer.name), mask=mask)
            kept.update({f"{layer.name}/{path}": value for path, value in inner.items()})
        elif mask is not None and layer.masking == "uses":
            emit_masked = emitter_for(layer, masked_emitters())
            x, mask = emit_masked(state, layer, layer_params, x, step.input_shape, mask)
        else:
            given, x = x, emit(state, layer, layer_params, x, step.input_shape)
            # as Sequential.run: a mask stays where the layer passes it on, or where its
            # output is its input itself (an identity Permute, a same-shape Reshape)
            mask = mask if layer.masking == "passes" or x == given else None
        mask = made if made is not None else mask
        if layer.regularizes_output:  # its loss term, for the engine (Sequential.run's)
            state.taps.append((layer, step.output_shape, x))
        if layer.name in keep:
            kept[layer.name] = x
    graph.scope = outer_scope
    return x, kept, mask


def made_mask(graph, layer, x, shape) -> Mask:
    """The mask a layer makes from its input, as its make_mask does: Masking's (the
    feature axis reduced away) or Embedding's (True where the index is not 0)."""
    from seqcli.layers.masking import Masking
    from seqcli.onnx_layers import masking_mask

    if isinstance(layer, Masking):
        return Mask(masking_mask(graph, layer, x), tuple(shape[:-1]))
    return Mask(graph.op("Not", [graph.op("Equal", [graph.keras(x), graph.const(
        0.0, "zero")])]), shape)


def emit(state, layer, params, x, shape):
    """One layer's nodes (wrappers call this for the layers they hold)."""
    return emitter_for(layer, emitters())(state, layer, params, x, shape)


def emitter_for(layer, table):
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    raise SeqcliError(f"{type(layer).__name__} has no ONNX form in seqcli, so this model "
                      "cannot be exported (nor run with --engine onnxruntime)",
                      place(layer))


def place(layer) -> str:
    """Where a layer is, for an error: its place in the spec when known, and its name."""
    named = f"layer {layer.name!r} ({type(layer).__name__})"
    return f"{layer.where}: {named}" if layer.where else named


# ---------------------------------------------------------------- the table

@functools.cache
def emitters() -> dict:
    """Layer class -> its emitter (a subclass finds its family's); read after onnx is
    known to be installed, since the emitters' modules import it."""
    from seqcli import onnx_layers as core, onnx_recurrent as recurrent, onnx_spatial as spatial
    from seqcli.layers import (activation, augmentation, auto_contrast, cells, conv, conv_lstm,
                               core as core_layers, einsum_dense, encoding, masking,
                               normalization, padding, pooling, preprocessing,
                               recurrent as recurrent_layers, regularization, reshaping,
                               rms_normalization, spectral_normalization, wrappers)

    return {
        core_layers.Dense: core.dense, core_layers.Activation: core.activation_layer,
        einsum_dense.EinsumDense: core.einsum_dense,
        spectral_normalization.SpectralNormalization: core.spectral_normalization,
        core_layers.Flatten: core.flatten, core_layers.Embedding: core.embedding,
        core_layers.RandomInTraining: core.passthrough,  # Dropout, noise: nothing
        regularization.ActivityRegularization: core.passthrough,  # only a loss term
        reshaping.Identity: core.passthrough, reshaping.Reshape: core.reshape,
        reshaping.Permute: core.permute, reshaping.RepeatVector: core.repeat_vector,
        activation.ReLU: core.relu, activation.LeakyReLU: core.leaky_relu,
        activation.PReLU: core.prelu, activation.ELU: core.elu,
        activation.Softmax: core.softmax,
        normalization.BatchNormalization: core.batch_norm,
        normalization.LayerNormalization: core.layer_norm,
        normalization.GroupNormalization: core.group_norm,
        normalization.UnitNormalization: core.unit_norm,
        rms_normalization.RMSNormalization: core.rms_norm,
        masking.Masking: core.masking,
        encoding.Discretization: core.discretization,
        encoding.CategoryEncoding: core.category_encoding,
        preprocessing.Rescaling: core.rescaling,
        preprocessing.Normalization: core.preprocessing_normalization,
        wrappers.TimeDistributed: core.time_distributed,
        conv._Convolution: spatial.conv,
        pooling.Pooling: spatial.pooling, pooling.GlobalPooling: spatial.global_pooling,
        padding.ZeroPadding: spatial.zero_padding, padding.Cropping: spatial.cropping,
        padding.UpSampling: spatial.upsampling, preprocessing._Image: spatial.image,
        recurrent_layers._Recurrent: recurrent.recurrent,
        wrappers.Bidirectional: recurrent.bidirectional,
        augmentation.Augmentation: core.passthrough,  # training only: nothing at inference
        augmentation.RandomCrop: spatial.random_crop,
        auto_contrast.AutoContrast: core.auto_contrast,
        cells.RNN: recurrent.rnn,
        conv_lstm.ConvLSTM: recurrent.conv_lstm,
    }


@functools.cache
def masked_emitters() -> dict:
    """The layers that use an Embedding's mask_zero mask: (..., Mask) -> (Value, the
    output's Mask or None)."""
    from seqcli import onnx_layers as core, onnx_recurrent as recurrent, onnx_spatial as spatial
    from seqcli.layers import (activation, cells, conv_lstm, normalization, pooling,
                               recurrent as recurrent_layers, wrappers)

    return {recurrent_layers._Recurrent: recurrent.recurrent_masked,
            wrappers.Bidirectional: recurrent.bidirectional_masked,
            cells.RNN: recurrent.rnn_masked,
            conv_lstm.ConvLSTM: recurrent.conv_lstm_masked,
            pooling.GlobalPooling: spatial.global_average_masked,
            activation.Softmax: core.softmax_masked,
            normalization.BatchNormalization: core.batch_norm_masked}
