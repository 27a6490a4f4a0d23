"""What a layer costs, from its shapes alone: multiply-accumulates, floating-point
operations, bytes, and receptive fields. No numpy: `summary` uses it.

MACs count the weight products for one sample (bias adds are not MACs). FLOPs are
2 * MACs plus the element-wise work, at the per-element costs of `ELEMENTWISE` and
`ACTIVATION_FLOPS` below (the README's "Beyond summary()" states them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FLOAT_BYTES = 4
# FLOPs per output element of an activation (exp and division count 1 each)
ACTIVATION_FLOPS = {None: 0, "linear": 0, "relu": 1, "relu6": 2, "leaky_relu": 2, "elu": 3,
                    "selu": 4, "sigmoid": 3, "hard_sigmoid": 3, "tanh": 5, "softmax": 3,
                    "log_softmax": 4, "softplus": 3, "softsign": 3, "swish": 4, "silu": 4,
                    "gelu": 8, "exponential": 1, "hard_silu": 4, "hard_swish": 4, "mish": 8}
# FLOPs per output element of element-wise layers (inference)
ELEMENTWISE = {"BatchNormalization": 2, "LayerNormalization": 7, "GroupNormalization": 7,
               "UnitNormalization": 3, "Rescaling": 2, "Normalization": 2, "PReLU": 2,
               "ReLU": 1, "LeakyReLU": 2, "ELU": 3, "Softmax": 3}
# FLOPs per unit and step of a recurrent cell's gate arithmetic
GATE_FLOPS = {"SimpleRNN": 6, "LSTM": 28, "GRU": 27}


@dataclass(frozen=True)
class Cost:
    macs: int
    flops: int


def layer_cost(layer, input_shape, output_shape, inner=None) -> Cost:
    """One sample's MACs and FLOPs of a layer (a nested model: the sum of its layers)."""
    if inner is not None:
        costs = [layer_cost(s.layer, s.input_shape, s.output_shape, s.inner)
                 for s in inner.steps]
        return Cost(sum(c.macs for c in costs), sum(c.flops for c in costs))
    macs = weight_macs(layer, input_shape, output_shape)
    return Cost(macs, 2 * macs + other_flops(layer, input_shape, output_shape))


def _size(shape) -> int:
    return math.prod(d or 1 for d in shape[1:])


def _positions(shape, channels_last=True) -> int:
    spatial = shape[1:-1] if channels_last else shape[2:]
    return math.prod(d or 1 for d in spatial)


def weight_macs(layer, input_shape, output_shape) -> int:
    name = type(layer).__name__
    kind = _family(layer)
    if name == "Dense":
        return _positions(output_shape) * input_shape[-1] * layer.units
    if kind in ("Conv", "ConvTranspose", "DepthwiseConv", "SeparableConv"):
        return _conv_macs(layer, kind, input_shape, output_shape)
    if kind == "Recurrent":
        steps, features = input_shape[1] or 1, input_shape[2]
        return steps * layer.gates * layer.units * (features + layer.units)
    if name == "Bidirectional":
        return weight_macs(layer.layer, input_shape, output_shape) + \
            weight_macs(layer.reverse, input_shape, output_shape)
    if name == "SpectralNormalization":  # at inference, the wrapped layer's arithmetic
        return weight_macs(layer.layer, input_shape, output_shape)
    if name.startswith("ConvLSTM"):  # per step: both convolutions at every output position
        steps, (channels, positions) = input_shape[1] or 1, _conv_lstm_sizes(layer, input_shape)
        return steps * positions * math.prod(layer.kernel_size) * 4 * layer.filters * (
            channels + layer.filters)
    if name == "EinsumDense":  # one product per combination of the equation's letters
        return math.prod(layer.letter_sizes(input_shape).values())
    if name == "RNN":  # each cell as the recurrent layer it makes
        return sum(weight_macs(inner, shape_in, shape_out)
                   for inner, shape_in, shape_out in _rnn_parts(layer, input_shape))
    if name == "TimeDistributed":
        inner_in, inner_out = (None, *input_shape[2:]), (None, *output_shape[2:])
        return (input_shape[1] or 1) * weight_macs(layer.layer, inner_in, inner_out)
    return 0


def _conv_lstm_sizes(layer, input_shape) -> tuple:
    """(input channels, output positions per frame) of a ConvLSTM."""
    spatial, channels = layer._frame(input_shape)
    return channels, math.prod(layer._out_sizes(spatial))


def _rnn_parts(layer, input_shape) -> list:
    """An RNN's cells as (recurrent layer, its input shape, its output shape)."""
    shapes = layer.shapes(input_shape)
    return [(inner, shapes[i], shapes[i + 1]) for i, (_, inner, _) in enumerate(layer.steps())]


def _family(layer) -> str:
    for base in type(layer).__mro__:
        if base.__name__ in ("Conv", "ConvTranspose", "DepthwiseConv", "SeparableConv"):
            return base.__name__
        if base.__name__ == "_Recurrent":
            return "Recurrent"
    return ""


def _conv_macs(layer, kind, input_shape, output_shape) -> int:
    last = layer.last
    volume = math.prod(layer.kernel_size)
    in_channels = input_shape[-1] if last else input_shape[1]
    out_positions = _positions(output_shape, last)
    if kind == "Conv":
        return out_positions * volume * in_channels // layer.groups * layer.filters
    if kind == "ConvTranspose":
        return _positions(input_shape, last) * volume * in_channels * layer.filters
    depthwise = out_positions * volume * in_channels * layer.depth_multiplier
    if kind == "DepthwiseConv":
        return depthwise
    return depthwise + out_positions * in_channels * layer.depth_multiplier * layer.filters


def other_flops(layer, input_shape, output_shape) -> int:
    """Bias adds, activations, normalization, pooling and gates: the element-wise work."""
    name, kind = type(layer).__name__, _family(layer)
    if name == "Bidirectional":
        return 2 * other_flops(layer.layer, input_shape, output_shape)
    if name == "SpectralNormalization":
        return other_flops(layer.layer, input_shape, output_shape)
    if name.startswith("ConvLSTM"):  # per step and position: LSTM's gate arithmetic
        steps, (_, positions) = input_shape[1] or 1, _conv_lstm_sizes(layer, input_shape)
        return steps * positions * layer.filters * (GATE_FLOPS["LSTM"] + 4 * layer.use_bias)
    if name == "RNN":
        return sum(other_flops(inner, shape_in, shape_out)
                   for inner, shape_in, shape_out in _rnn_parts(layer, input_shape))
    if name == "TimeDistributed":
        inner_in, inner_out = (None, *input_shape[2:]), (None, *output_shape[2:])
        return (input_shape[1] or 1) * other_flops(layer.layer, inner_in, inner_out)
    if kind == "Recurrent":  # per step: the gates' arithmetic and the biases
        steps = input_shape[1] or 1
        return steps * layer.units * (GATE_FLOPS[name] + layer.gates * bool(layer.use_bias))
    outputs = _size(output_shape)
    per_output = ELEMENTWISE.get(name, 0) + ACTIVATION_FLOPS.get(
        getattr(layer, "activation", None), 4)
    if name == "EinsumDense" and layer.bias_axes:
        per_output += 1
    if getattr(layer, "use_bias", False) and (name == "Dense" or kind):
        per_output += 1  # the bias add
    if "Pooling" in name:  # one comparison or addition per window element
        per_output += _size(input_shape) // max(outputs, 1) if "Global" in name \
            else math.prod(layer.pool_size)
    return per_output * outputs


def output_bytes(output_shape) -> int:
    return FLOAT_BYTES * _size(output_shape)


# ---------------------------------------------------------------- receptive fields

@dataclass(frozen=True)
class Field:
    """Per spatial axis: receptive field size, jump (effective stride), and the input
    position of the first output element's centre (Araujo, Norris and Sim, 2019)."""

    size: tuple
    jump: tuple
    start: tuple


def input_field(input_shape) -> Field | None:
    spatial = len(input_shape) - 2  # (batch, *spatial, channels)
    if spatial < 1:
        return None
    return Field((1,) * spatial, (1,) * spatial, (0.0,) * spatial)


def next_field(layer, field: Field | None, input_shape, output_shape) -> Field | None:
    """The field after a layer; None once a layer mixes every position."""
    if field is None:
        return None
    name, kind = type(layer).__name__, _family(layer)
    if kind in ("Conv", "DepthwiseConv", "SeparableConv") or "Pooling" in name and \
            "Global" not in name:
        return _windowed(layer, field, input_shape)
    if kind == "ConvTranspose":
        return _transposed(layer, field)
    if name.startswith(("ZeroPadding", "Cropping")):
        return _shifted(layer, field)
    if name.startswith("UpSampling"):  # output i copies input i // f: the jump is a fraction
        factors = layer.size if isinstance(layer.size, tuple) else (layer.size,)
        return Field(field.size, tuple(j / f for j, f in zip(field.jump, factors)), field.start)
    if len(output_shape) == len(input_shape) and name in _POINTWISE:
        return field  # per position: the field is unchanged
    return None


# layers that act on each position alone (or leave positions alone)
_POINTWISE = {"Dense", "Activation", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
              "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
              "ActivityRegularization", "BatchNormalization", "LayerNormalization",
              "UnitNormalization", "Rescaling", "Normalization", "ReLU", "LeakyReLU", "PReLU",
              "ELU", "Softmax", "Identity", "GroupNormalization"}


def _windowed(layer, field, input_shape) -> Field:
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    strides = getattr(layer, "strides", None) or kernel
    dilation = getattr(layer, "dilation_rate", None) or (1,) * len(kernel)
    spatial = input_shape[1:-1] if getattr(layer, "last", True) else input_shape[2:]
    sizes, jumps, starts = [], [], []
    for axis, (k, s, d) in enumerate(zip(kernel, strides, dilation)):
        reach = d * (k - 1) + 1
        left = _left_padding(layer.padding, reach, s, spatial[axis])
        sizes.append(field.size[axis] + (reach - 1) * field.jump[axis])
        jumps.append(field.jump[axis] * s)
        starts.append(field.start[axis] + ((reach - 1) / 2 - left) * field.jump[axis])
    return Field(tuple(sizes), tuple(jumps), tuple(starts))


def _left_padding(padding, reach, stride, size) -> int:
    if padding == "valid" or size is None:
        return 0
    if padding == "causal":
        return reach - 1
    out = -(-size // stride)
    return max((out - 1) * stride + reach - size, 0) // 2  # "same": the smaller half left


def _transposed(layer, field) -> Field:
    sizes, jumps, starts = [], [], []
    for axis, (k, s, d) in enumerate(zip(layer.kernel_size, layer.strides,
                                         layer.dilation_rate)):
        jump = field.jump[axis] / s
        reach = d * (k - 1) + 1
        sizes.append(field.size[axis] + (reach - 1) * jump)
        jumps.append(jump)
        starts.append(field.start[axis] - (reach - 1) / 2 * jump)
    return Field(tuple(sizes), tuple(jumps), tuple(starts))


def _shifted(layer, field) -> Field:
    margins = getattr(layer, "padding", None) or layer.cropping
    pairs = (margins,) if isinstance(margins[0], int) else margins
    sign = -1 if type(layer).__name__.startswith("ZeroPadding") else 1
    return Field(field.size, field.jump,
                 tuple(s + sign * before * j
                       for s, j, (before, _) in zip(field.start, field.jump, pairs)))


# ---------------------------------------------------------------- memory

def optimizer_slots(optimizer) -> int:
    """Arrays an optimizer keeps per weight, as Keras's optimizers do (EMA adds one)."""
    if optimizer is None:
        return 0
    name, args = optimizer
    slots = {"sgd": 1 if args.get("momentum") else 0, "adam": 2 + bool(args.get("amsgrad")),
             "adamw": 2 + bool(args.get("amsgrad")), "adagrad": 1,
             "rmsprop": 1 + bool(args.get("centered")) + bool(args.get("momentum"))}[name]
    return slots + bool(args.get("use_ema"))


def memory(rows, input_shape, batch: int, optimizer=None) -> dict:
    """Bytes for a batch: the weights; inference's peak (the weights and the largest
    input-output pair of any layer); training's (the weights, their gradients and the
    optimizer's slots, and every layer's output kept for the backward pass)."""
    weights = FLOAT_BYTES * sum(row.params for row in rows)
    sizes = [output_bytes(input_shape)] + [output_bytes(row.output_shape) for row in rows]
    peak = max((a + b for a, b in zip(sizes, sizes[1:])), default=sizes[0])
    return {"weight_bytes": weights, "inference_peak_bytes": weights + batch * peak,
            "training_bytes": weights * (2 + optimizer_slots(optimizer)) + batch * sum(sizes)}


def human(count: float, binary: bool = False) -> str:
    """1234567 -> '1.23M' (or '1.18 MiB' for bytes)."""
    base, units = (1024, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else \
        (1000, ("", "K", "M", "G", "T"))
    for unit in units[:-1]:
        if abs(count) < base:
            break
        count /= base
    else:
        unit = units[-1]
    text = f"{count:.0f}" if unit in ("", "B") else f"{count:.2f}"
    return f"{text} {unit}".strip() if binary else f"{text}{unit}"
