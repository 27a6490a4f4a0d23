"""How a layer's output shape, parameter count and MACs come out (`seqcli explain`).

Each line is a formula with this layer's numbers and the value that formula gives,
next to the value seqcli computes elsewhere (the plan's shapes, the weights' sizes,
cost.py's MACs); the two must agree, and the tests check they do. No numpy.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from seqcli.errors import SeqcliError
from seqcli.summary import Row

CONV_FAMILIES = ("Conv", "ConvTranspose", "DepthwiseConv", "SeparableConv")


@dataclass(frozen=True)
class Formula:
    label: str  # "out[1]", "params", "macs"
    text: str  # the arithmetic with this layer's numbers, e.g. "floor((250 - 5) / 2) + 1"
    value: int | None  # what the arithmetic gives
    expected: int | None  # seqcli's own number for it

    def line(self) -> str:
        """'label = arithmetic = value  (why)': a note in the text goes last."""
        arithmetic, _, note = self.text.partition("  (")
        shown = "None" if self.value is None else f"{self.value:,}"
        line = f"{self.label} = {shown}" if arithmetic == shown else \
            f"{self.label} = {arithmetic} = {shown}"
        return f"{line}  ({note}" if note else line


@dataclass(frozen=True)
class Explanation:
    path: str
    row: Row
    shape: list  # Formulas, one per output axis worked out (or none)
    shape_note: str  # a sentence when the shape needs no arithmetic
    params: list
    macs: Formula

    def formulas(self) -> list[Formula]:
        return [*self.shape, *self.params, self.macs]

    def render(self) -> str:
        row = self.row
        lines = [f"{self.path} ({row.class_name})",
                 f"input shape:  {_shape(row.input_shape)}",
                 f"output shape: {_shape(row.output_shape)}"]
        if self.shape_note:
            lines.append("  " + self.shape_note)
        lines += ["  " + f.line() for f in self.shape]
        lines.append(f"parameters: {row.params:,}")
        lines += ["  " + f.line() for f in self.params]
        lines.append(f"MACs per sample: {row.macs:,}")
        lines.append("  " + self.macs.line())
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- finding the layer

def find(rows: list[Row], path: str, where: str) -> Row:
    """The row at `name` or `outer/inner` (nested models); SeqcliError with a suggestion."""
    found = _all_paths(rows)
    if path in found:
        return found[path]
    close = difflib.get_close_matches(path, list(found), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else \
        f"; layers: {', '.join(list(found)[:12])}"
    raise SeqcliError(f"no layer named {path!r}{hint}", where)


def _all_paths(rows, prefix="") -> dict:
    paths = {}
    for row in rows:
        paths[prefix + row.name] = row
        paths.update(_all_paths(row.children, prefix + row.name + "/"))
    return paths


# ---------------------------------------------------------------- the explanation

def explain(row: Row, path: str) -> Explanation:
    layer = row.layer
    shape, note = shape_formulas(layer, row.input_shape, row.output_shape)
    if row.children:
        note = f"the output of its last layer, {row.children[-1].name}"
    return Explanation(path, row, shape, note, param_formulas(row), macs_formula(row))


def family(layer) -> str:
    for base in type(layer).__mro__:
        if base.__name__ in CONV_FAMILIES:
            return base.__name__
        if base.__name__ == "_Recurrent":
            return "Recurrent"
    return ""


def _spatial(shape, layer):
    return list(shape[1:-1] if getattr(layer, "last", True) else shape[2:])


def _channel_axis(shape, layer) -> int:
    return len(shape) - 1 if getattr(layer, "last", True) else 1


def shape_formulas(layer, in_shape, out_shape) -> tuple[list, str]:
    name, kind = type(layer).__name__, family(layer)
    if kind in ("Conv", "DepthwiseConv", "SeparableConv") or \
            "Pooling" in name and "Global" not in name:
        return _windowed_shape(layer, kind, in_shape, out_shape), ""
    if kind == "ConvTranspose":
        return _transposed_shape(layer, in_shape, out_shape), ""
    if name.startswith(("ZeroPadding", "Cropping", "UpSampling")):
        return _margin_shape(layer, name, in_shape, out_shape), ""
    if name == "Dense":
        last = len(out_shape) - 1
        return [Formula(f"out[{last}]", "units", layer.units, out_shape[last])], \
            "Dense acts on the last axis only; every other axis passes through"
    if kind == "Recurrent":
        what = "every step's output" if layer.return_sequences else "the last step's output"
        return [Formula(f"out[{len(out_shape) - 1}]", "units", layer.units,
                        out_shape[-1])], f"{what} (return_sequences={layer.return_sequences})"
    if name == "Bidirectional":
        return _bidirectional_shape(layer, in_shape, out_shape), ""
    if name == "TimeDistributed":
        inner_out = layer.layer.output_shape((None, *in_shape[2:]))
        return [], (f"the inner {type(layer.layer).__name__} maps one step "
                    f"{_shape((None, *in_shape[2:]))} to {_shape(inner_out)}, "
                    f"applied to each of the {in_shape[1]} steps")
    if name == "Embedding":
        return [Formula(f"out[{len(out_shape) - 1}]", "output_dim", layer.output_dim,
                        out_shape[-1])], "one vector of output_dim values per index"
    if tuple(in_shape) == tuple(out_shape):
        return [], "unchanged: this layer acts element by element or per feature"
    return [], f"{name} rearranges {_shape(in_shape)} into {_shape(out_shape)}"


def _windowed_shape(layer, kind, in_shape, out_shape) -> list:
    window = getattr(layer, "kernel_size", None) or layer.pool_size
    strides = getattr(layer, "strides", None) or window
    dilation = getattr(layer, "dilation_rate", None) or (1,) * len(window)
    first = 1 if getattr(layer, "last", True) else 2
    formulas = []
    for axis, (size, k, s, d) in enumerate(zip(_spatial(in_shape, layer), window, strides,
                                             dilation)):
        label = f"out[{first + axis}]"
        expected = out_shape[first + axis]
        if size is None:
            formulas.append(Formula(label, "None (unknown input size)", None, expected))
        elif layer.padding in ("same", "causal"):
            formulas.append(Formula(label, f"ceil({size} / {s})  ({layer.padding} padding)",
                                    -(-size // s), expected))
        else:
            # (size - reach) / s + 1 with reach = d * (k - 1) + 1, the dilated window
            reach = f"{k}" if d == 1 else f"{d} * ({k} - 1) - 1"
            value = (size - d * (k - 1) - 1) // s + 1
            formulas.append(Formula(label, f"floor(({size} - {reach}) / {s}) + 1", value,
                                    expected))
    formulas.append(_channels(layer, kind, in_shape, out_shape))
    return formulas


def _channels(layer, kind, in_shape, out_shape) -> Formula:
    axis = _channel_axis(in_shape, layer)
    label, expected = f"out[{axis}]", out_shape[axis]
    if kind == "DepthwiseConv":
        return Formula(label, f"{in_shape[axis]} * {layer.depth_multiplier}  "
                       "(in_channels * depth_multiplier)",
                       in_shape[axis] * layer.depth_multiplier, expected)
    if kind:
        return Formula(label, f"{layer.filters}  (filters)", layer.filters, expected)
    return Formula(label, f"{in_shape[axis]}  (channels pass through)", in_shape[axis],
                   expected)


def _transposed_shape(layer, in_shape, out_shape) -> list:
    first = 1 if layer.last else 2
    paddings = layer.output_padding or (None,) * layer.rank
    formulas = []
    for axis, (size, k, s, d, extra) in enumerate(zip(
            _spatial(in_shape, layer), layer.kernel_size, layer.strides, layer.dilation_rate,
            paddings)):
        label, expected = f"out[{first + axis}]", out_shape[first + axis]
        reach = (k - 1) * d + 1
        reach_text = str(k) if d == 1 else f"({k} - 1) * {d} + 1"
        if size is None:
            formulas.append(Formula(label, "None (unknown input size)", None, expected))
        elif extra is None and layer.padding == "valid":
            formulas.append(Formula(label, f"{size} * {s} + max({reach_text} - {s}, 0)",
                                    size * s + max(reach - s, 0), expected))
        elif extra is None:
            formulas.append(Formula(label, f"{size} * {s}  (same padding)", size * s,
                                    expected))
        elif layer.padding == "valid":
            formulas.append(Formula(
                label, f"({size} - 1) * {s} + {reach_text} + {extra}  (output_padding)",
                (size - 1) * s + reach + extra, expected))
        else:
            formulas.append(Formula(
                label, f"({size} - 1) * {s} + {reach_text} - 2 * floor({reach} / 2) + "
                f"{extra}  (same padding, output_padding)",
                (size - 1) * s + reach - 2 * (reach // 2) + extra, expected))
    formulas.append(_channels(layer, "ConvTranspose", in_shape, out_shape))
    return formulas


def _margin_shape(layer, name, in_shape, out_shape) -> list:
    first = 1 if layer.last else 2
    formulas = []
    for axis, size in enumerate(_spatial(in_shape, layer)):
        label, expected = f"out[{first + axis}]", out_shape[first + axis]
        if size is None:
            formulas.append(Formula(label, "None (unknown input size)", None, expected))
        elif name.startswith("UpSampling"):
            factor = layer.factors()[axis]
            formulas.append(Formula(label, f"{size} * {factor}", size * factor, expected))
        else:
            before, after = layer.pairs(getattr(layer, "padding", None) or
                                        layer.cropping)[axis]
            sign = "+" if name.startswith("ZeroPadding") else "-"
            value = size + before + after if sign == "+" else size - before - after
            formulas.append(Formula(label, f"{size} {sign} {before} {sign} {after}", value,
                                    expected))
    return formulas


def _bidirectional_shape(layer, in_shape, out_shape) -> list:
    units = (layer.layer.units, layer.reverse.units)
    last = len(out_shape) - 1
    if layer.merge_mode == "concat":
        return [Formula(f"out[{last}]", f"{units[0]} + {units[1]}  (concat: both directions)",
                        sum(units), out_shape[last])]
    return [Formula(f"out[{last}]", f"{units[0]}  ({layer.merge_mode} of both directions)",
                    units[0], out_shape[last])]


# ---------------------------------------------------------------- parameters

def param_formulas(row: Row) -> list:
    layer = row.layer
    if row.children:
        text = " + ".join(f"{child.params}" for child in row.children) or "0"
        names = ", ".join(child.name for child in row.children)
        return [Formula("params", f"{text}  ({names})",
                        sum(child.params for child in row.children), row.params)]
    kind, name = family(layer), type(layer).__name__
    if kind == "Recurrent":
        return [_recurrent_params(layer, row.input_shape[-1], "params", row.params)]
    if name == "Bidirectional":
        features = row.input_shape[-1]
        sizes = {"forward": 0, "backward": 0}
        for spec in layer.weight_specs(row.input_shape):
            sizes[spec.name.split("/")[0]] += math.prod(spec.shape)
        forward = _recurrent_params(layer.layer, features, "forward", sizes["forward"])
        backward = _recurrent_params(layer.reverse, features, "backward", sizes["backward"])
        return [forward, backward,
                Formula("params", f"{forward.value} + {backward.value}",
                        forward.value + backward.value, row.params)]
    specs = layer.weight_specs(row.input_shape)
    if not specs:
        return [Formula("params", "0  (no weights)", 0, row.params)]
    parts = [(" * ".join(str(d) for d in spec.shape) or "1", math.prod(spec.shape),
              spec.name + ("" if spec.trainable else ", non-trainable")) for spec in specs]
    text = " + ".join(f"{expr} ({label})" for expr, _, label in parts)
    return [Formula("params", text, sum(size for _, size, _ in parts), row.params)]


def _recurrent_params(layer, features, label, expected) -> Formula:
    """gates * (kernel + recurrent kernel + bias), per gate width `units`."""
    gates, units = layer.gates, layer.units
    bias_rows = 0 if not layer.use_bias else 2 if getattr(layer, "reset_after", False) else 1
    bias = {0: "", 1: f" + {units}", 2: f" + 2 * {units}"}[bias_rows]
    why = {1: "", 3: "  (gates z, r, h" + (", reset_after: two biases)" if bias_rows == 2
                                           else ")"),
           4: "  (gates i, f, c, o)"}[gates]
    text = f"{gates} * ({features} * {units} + {units} * {units}{bias}){why}"
    value = gates * (features * units + units * units + bias_rows * units)
    return Formula(label, text, value, expected)


# ---------------------------------------------------------------- MACs

def macs_formula(row: Row) -> Formula:
    if row.children:
        return Formula("macs", " + ".join(str(child.macs) for child in row.children) or "0",
                       sum(child.macs for child in row.children), row.macs)
    text, value = _macs(row.layer, row.input_shape, row.output_shape)
    return Formula("macs", text, value, row.macs)


def _macs(layer, in_shape, out_shape) -> tuple[str, int]:
    name, kind = type(layer).__name__, family(layer)
    if name == "Dense":
        positions = math.prod(d or 1 for d in out_shape[1:-1])
        return (f"{positions} * {in_shape[-1]} * {layer.units}  "
                "(positions * inputs * units)", positions * in_shape[-1] * layer.units)
    if kind in CONV_FAMILIES:
        return _conv_macs(layer, kind, in_shape, out_shape)
    if kind == "Recurrent":
        steps, features = in_shape[1] or 1, in_shape[2]
        return (f"{steps} * {layer.gates} * {layer.units} * ({features} + {layer.units})  "
                "(steps * gates * units * (inputs + units))",
                steps * layer.gates * layer.units * (features + layer.units))
    if name == "Bidirectional":
        (forward, a), (backward, b) = (_macs(part, in_shape, out_shape)
                                       for part in (layer.layer, layer.reverse))
        return f"{_arithmetic(forward)} + {_arithmetic(backward)}  (forward + backward)", \
            a + b
    if name == "TimeDistributed":
        steps = in_shape[1] or 1
        text, inner = _macs(layer.layer, (None, *in_shape[2:]), (None, *out_shape[2:]))
        return f"{steps} * ({_arithmetic(text)})  (steps * the inner layer's MACs)", \
            steps * inner
    return "0  (no weight products)", 0


def _arithmetic(text: str) -> str:
    return text.partition("  (")[0]


def _conv_macs(layer, kind, in_shape, out_shape) -> tuple[str, int]:
    axis = _channel_axis(in_shape, layer)
    channels = in_shape[axis]
    kernel = " * ".join(map(str, layer.kernel_size))
    volume = math.prod(layer.kernel_size)
    out_sizes = [d or 1 for d in _spatial(out_shape, layer)]
    positions = " * ".join(map(str, out_sizes))
    out_positions = math.prod(out_sizes)
    if kind == "Conv":
        groups = f" / {layer.groups}" if layer.groups > 1 else ""
        return (f"{positions} * {kernel} * {channels}{groups} * {layer.filters}  "
                "(output positions * kernel * in_channels" + (" / groups" if groups else "")
                + " * filters)",
                out_positions * volume * channels // layer.groups * layer.filters)
    if kind == "ConvTranspose":
        in_sizes = [d or 1 for d in _spatial(in_shape, layer)]
        return (f"{' * '.join(map(str, in_sizes))} * {kernel} * {channels} * {layer.filters}"
                "  (input positions * kernel * in_channels * filters)",
                math.prod(in_sizes) * volume * channels * layer.filters)
    dm = layer.depth_multiplier
    depthwise = out_positions * volume * channels * dm
    depth_text = f"{positions} * {kernel} * {channels} * {dm}"
    if kind == "DepthwiseConv":
        return (f"{depth_text}  (output positions * kernel * in_channels * "
                "depth_multiplier)", depthwise)
    pointwise = out_positions * channels * dm * layer.filters
    return (f"{depth_text} + {positions} * {channels} * {dm} * {layer.filters}  "
            "(depthwise + pointwise)", depthwise + pointwise)


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"
