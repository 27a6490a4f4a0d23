"""How one layer's output shape, parameter count and MACs come out: the formulas with
this layer's numbers (the same rules as `shapes`, the weight specs and `cost`). No numpy."""

from __future__ import annotations

from seqcli import cost
from seqcli.errors import SeqcliError


def find_step(plan, name: str):
    """The plan step of the layer called `name` (nested models searched too)."""
    for step in plan.steps:
        if step.layer.name == name:
            return step
        if step.inner is not None:
            found = find_step(step.inner, name)
            if found is not None:
                return found
    return None


def layer_step(model, name: str):
    """The step of `name`: a layer's name (nested models searched too), or a path
    `outer/inner` into a nested model; an unknown name suggests the closest one."""
    step = _step_at(model.plan, name.split("/")) if "/" in name else \
        find_step(model.plan, name)
    if step is None:
        import difflib

        paths = list(_paths(model.plan))
        close = difflib.get_close_matches(name, paths, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        names = ", ".join(step.layer.name for step in model.plan.steps)
        known = f"the model's layers: {names}" if names else "the model has no layers"
        raise SeqcliError(f"no layer named {name!r} ({known}){hint}",
                          f"layer {name}")
    return step


def _step_at(plan, parts):
    for step in plan.steps:
        if step.layer.name == parts[0]:
            if len(parts) == 1:
                return step
            return None if step.inner is None else _step_at(step.inner, parts[1:])
    return None


def _paths(plan, prefix=""):
    """Every layer's name and its outer/inner path."""
    for step in plan.steps:
        yield prefix + step.layer.name
        if step.inner is not None:
            yield from _paths(step.inner, prefix + step.layer.name + "/")


def _n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def explain(step) -> list[str]:
    layer = step.layer
    lines = [f"{layer.name} ({type(layer).__name__})",
             f"input  {_shape(step.input_shape)}", f"output {_shape(step.output_shape)}"]
    if step.inner is not None:
        lines.append("  its layers in turn: " + " -> ".join(
            [_shape(step.input_shape)] + [_shape(s.output_shape) for s in step.inner.steps]))
    else:
        lines += [f"  {line}" for line in shape_lines(layer, step.input_shape,
                                                      step.output_shape)]
    lines.append(params_line(step))
    macs = cost.layer_cost(layer, step.input_shape, step.output_shape, step.inner).macs
    lines += macs_lines(layer, step.input_shape, step.output_shape, step.inner, macs)
    return lines


# ---------------------------------------------------------------- output shape

def shape_lines(layer, input_shape, output_shape) -> list[str]:
    name, kind = type(layer).__name__, cost._family(layer)
    if kind in ("Conv", "DepthwiseConv", "SeparableConv") or (
            "Pooling" in name and "Global" not in name):
        return _windowed_lines(layer, input_shape, output_shape)
    if kind == "ConvTranspose":
        return _transposed_lines(layer, input_shape, output_shape)
    if name.startswith(("ZeroPadding", "Cropping", "UpSampling")):
        return _resized_lines(layer, name, input_shape, output_shape)
    if name == "Dense":
        return [f"last axis = units = {layer.units}"]
    if kind == "Recurrent":
        kept = "every step: (steps, units)" if layer.return_sequences else "the last step: (units)"
        return [f"return_sequences={layer.return_sequences}: {kept}",
                f"gates = {layer.gates} ({_GATES.get(name, name)}); each weight is "
                f"gates * units = {layer.gates} * {layer.units} = {layer.gates * layer.units}"
                " wide"]
    if name.startswith("ConvLSTM"):  # each frame convolved as by a convolution
        frame_in = (input_shape[0], *input_shape[2:])
        frame_out = (output_shape[0], *output_shape[2:]) if layer.return_sequences \
            else output_shape
        kept = "every step" if layer.return_sequences else "the last step"
        return [f"each frame {_shape(frame_in)} -> {_shape(frame_out)}, as a convolution:"] + \
            [f"  {line}" for line in _windowed_lines(layer, frame_in, frame_out)] + \
            [f"return_sequences={layer.return_sequences}: {kept}",
             f"gates = 4 (input, forget, cell, output); each kernel is 4 * filters = "
             f"{4 * layer.filters} wide"]
    if name == "SpectralNormalization":
        return [f"the wrapped {type(layer.layer).__name__}: {line}"
                for line in shape_lines(layer.layer, input_shape, output_shape)]
    if name == "EinsumDense":
        return [f"einsum {layer.equation}: output_shape {list(layer.partial_output_shape)} "
                f"after the batch -> {_shape(output_shape)}"]
    if name == "RNN":  # each cell runs as the recurrent layer it makes
        return [f"{cell.name} ({type(cell).__name__}) as {type(inner).__name__}: {line}"
                for (cell, inner, _), (shape_in, shape_out) in
                zip(layer.steps(), _rnn_shapes(layer, input_shape))
                for line in shape_lines(inner, shape_in, shape_out)]
    if name == "Bidirectional":
        inner = shape_lines(layer.layer, input_shape, output_shape)
        merged = (f"merge_mode concat: last axis = 2 * "
                  f"{layer.layer.output_shape(input_shape)[-1]} = "
                  f"{output_shape[-1]}" if layer.merge_mode == "concat" else
                  f"merge_mode {layer.merge_mode}: the two directions combined element-wise")
        return [f"forward and backward {type(layer.layer).__name__}: {line}"
                for line in inner] + [merged]
    if "Global" in name:
        return ["the spatial axes are reduced" + (" (kept as 1: keepdims)"
                                                  if getattr(layer, "keepdims", False) else "")]
    if name == "Flatten":
        return [f"{' * '.join(_n(d) for d in input_shape[1:])} = {_n(output_shape[-1])}"]
    if name == "Embedding":
        return [f"one vector per index: last axis = output_dim = {layer.output_dim}"]
    if name == "TimeDistributed":
        step_in, step_out = (None, *input_shape[2:]), (None, *output_shape[2:])
        return [f"the inner {type(layer.layer).__name__} on each of the {_n(input_shape[1])} "
                f"steps: {_shape(step_in)} -> {_shape(step_out)}"] + [
            f"  {line}" for line in shape_lines(layer.layer, step_in, step_out)]
    if tuple(input_shape) == tuple(output_shape):
        return [f"unchanged: {name} keeps its input's shape"]
    arguments = {k: v for k, v in layer.config().items() if k not in ("name", "trainable")}
    told = f" ({arguments})" if arguments else ""
    return [f"{name}{told}: {_shape(input_shape)} -> {_shape(output_shape)}"]


def _rnn_shapes(layer, input_shape) -> list:
    shapes = layer.shapes(input_shape)
    return list(zip(shapes, shapes[1:]))


_GATES = {"LSTM": "input, forget, cell, output", "GRU": "update, reset, candidate",
          "SimpleRNN": "one"}


def _resized_lines(layer, name, input_shape, output_shape) -> list[str]:
    lines = []
    for axis, (size, out) in enumerate(zip(_spatial(layer, input_shape),
                                           _spatial(layer, output_shape))):
        label = f"axis {axis + 1}:"
        if size is None:
            lines.append(f"{label} out = None (the input size is unknown)")
        elif name.startswith("UpSampling"):
            lines.append(f"{label} out = {size} * {out // size} = {out} (size)")
        else:
            margins = getattr(layer, "padding", None) or layer.cropping
            pairs = (margins,) if isinstance(margins[0], int) else margins
            before, after = pairs[axis]
            sign = "+" if name.startswith("ZeroPadding") else "-"
            lines.append(f"{label} out = {size} {sign} {before} {sign} {after} = {out}")
    return lines


def _spatial(layer, shape):
    return shape[1:-1] if getattr(layer, "last", True) else shape[2:]


def _windowed_lines(layer, input_shape, output_shape) -> list[str]:
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    strides = getattr(layer, "strides", None) or kernel
    dilation = getattr(layer, "dilation_rate", None) or (1,) * len(kernel)
    lines = []
    for axis, (size, out, k, s, d) in enumerate(zip(_spatial(layer, input_shape),
                                                    _spatial(layer, output_shape),
                                                    kernel, strides, dilation)):
        reach = d * (k - 1) + 1
        label = f"axis {axis + 1}:"
        if d > 1:
            lines.append(f"{label} reach = dilation * (kernel - 1) + 1 = {d} * ({k} - 1) + 1 "
                         f"= {reach}")
        window = str(reach) if d > 1 else str(k)
        if size is None:
            lines.append(f"{label} out = None (the input size is unknown)")
        elif layer.padding == "valid":
            lines.append(f"{label} out = floor(({size} - {window}) / {s}) + 1 = {out}"
                         " (padding valid)")
        else:
            lines.append(f"{label} out = ceil({size} / {s}) = {out} (padding {layer.padding})")
    return lines


def _transposed_lines(layer, input_shape, output_shape) -> list[str]:
    lines = []
    paddings = layer.output_padding or (None,) * len(layer.kernel_size)
    for axis, (size, out, k, s, d, op) in enumerate(zip(
            _spatial(layer, input_shape), _spatial(layer, output_shape), layer.kernel_size,
            layer.strides, layer.dilation_rate, paddings)):
        reach = d * (k - 1) + 1
        label = f"axis {axis + 1}:"
        if size is None:
            lines.append(f"{label} out = None (the input size is unknown)")
        elif op is None and layer.padding == "valid":
            lines.append(f"{label} out = ({size} - 1) * {s} + max({reach}, {s}) = {out}"
                         " (padding valid)")
        elif op is None:
            lines.append(f"{label} out = {size} * {s} = {out} (padding same)")
        elif layer.padding == "valid":
            lines.append(f"{label} out = ({size} - 1) * {s} + {reach} + {op} = {out}"
                         " (padding valid, output_padding)")
        else:
            lines.append(f"{label} out = ({size} - 1) * {s} + {reach} - 2 * floor({reach} / 2)"
                         f" + {op} = {out} (padding same, output_padding)")
    return lines


# ---------------------------------------------------------------- parameters

def params_line(step) -> str:
    if step.inner is not None:
        parts = [(s.layer.name, sum(w.size for w in s.weights)) for s in step.inner.steps]
        total = sum(size for _, size in parts)
        terms = " + ".join(f"{_n(size)} ({name})" for name, size in parts) or "0"
        return f"params = {terms} = {_n(total)}"
    if not step.weights:
        return "params = 0 (no weights)"
    terms = [" * ".join(str(d) for d in w.shape) or "1" for w in step.weights]
    named = ", ".join(f"{w.name} {_shape(w.shape)}" for w in step.weights)
    total = sum(w.size for w in step.weights)
    return f"params = {' + '.join(terms)} = {_n(total)} ({named})"


# ---------------------------------------------------------------- MACs

def macs_lines(layer, input_shape, output_shape, inner, macs) -> list[str]:
    name, kind = type(layer).__name__, cost._family(layer)
    if inner is not None:
        return [f"macs = the sum of its layers' = {_n(macs)}"]
    if name == "Dense":  # applied at every position of the axes before the last
        positions = [str(d or 1) for d in output_shape[1:-1]]
        rule = "positions * inputs * units" if positions else "inputs * units"
        numbers = " * ".join(positions + [str(input_shape[-1]), str(layer.units)])
        return [f"macs = {rule} = {numbers} = {_n(macs)} (bias adds are not MACs)"]
    if kind in ("Conv", "ConvTranspose", "DepthwiseConv", "SeparableConv"):
        return [_conv_macs_line(layer, kind, input_shape, output_shape, macs)]
    if kind == "Recurrent":
        steps, features = input_shape[1] or 1, input_shape[2]
        return [f"macs = steps * gates * units * (features + units) = {steps} * "
                f"{layer.gates} * {layer.units} * ({features} + {layer.units}) = {_n(macs)}"]
    if name == "SpectralNormalization":  # the wrapped layer's, with its stored kernel
        return macs_lines(layer.layer, input_shape, output_shape, None, macs)
    if name.startswith("ConvLSTM"):
        spatial, channels = layer._frame(input_shape)
        positions = " * ".join(map(str, layer._out_sizes(spatial)))
        return [f"macs = steps * output positions * kernel * 4 * filters * (channels + filters)"
                f" = {input_shape[1] or 1} * {positions} * "
                f"{' * '.join(map(str, layer.kernel_size))} * 4 * {layer.filters} * "
                f"({channels} + {layer.filters}) = {_n(macs)}"]
    if name == "EinsumDense":
        sizes = layer.letter_sizes(input_shape)
        inputs, kernel, outputs = layer.letters(len(input_shape))
        return [f"macs = the product of the sizes of {inputs},{kernel}->{outputs}'s letters "
                f"but the batch = {' * '.join(str(v) for k, v in sizes.items() if k != inputs[0])}"
                f" = {_n(macs)}"]
    if name == "RNN":
        lines = [f"{cell.name}: " + macs_lines(inner, shape_in, shape_out, None,
                                               cost.weight_macs(inner, shape_in, shape_out))[0]
                 for (cell, inner, _), (shape_in, shape_out) in
                 zip(layer.steps(), _rnn_shapes(layer, input_shape))]
        return lines + ([f"macs = the sum of its cells' = {_n(macs)}"] if len(lines) > 1 else [])
    if name == "Bidirectional":
        return ["macs = forward + backward = "
                f"{_n(cost.weight_macs(layer.layer, input_shape, output_shape))} + "
                f"{_n(cost.weight_macs(layer.reverse, input_shape, output_shape))} = {_n(macs)}"]
    if name == "TimeDistributed":
        inner_in, inner_out = (None, *input_shape[2:]), (None, *output_shape[2:])
        return [f"macs = timesteps * the inner layer's = {input_shape[1] or 1} * "
                f"{_n(cost.weight_macs(layer.layer, inner_in, inner_out))} = {_n(macs)}"]
    return ["macs = 0 (no weight product)"]


def _conv_macs_line(layer, kind, input_shape, output_shape, macs) -> str:
    last = layer.last
    kernel = " * ".join(map(str, layer.kernel_size))
    channels = input_shape[-1] if last else input_shape[1]
    out_positions = " * ".join(str(d or 1) for d in _spatial(layer, output_shape))
    if kind == "Conv":
        groups = f" / {layer.groups}" if layer.groups != 1 else ""
        return (f"macs = output positions * kernel * in_channels{'/groups' if groups else ''}"
                f" * filters = {out_positions} * {kernel} * {channels}{groups} * "
                f"{layer.filters} = {_n(macs)}")
    if kind == "ConvTranspose":
        in_positions = " * ".join(str(d or 1) for d in _spatial(layer, input_shape))
        return (f"macs = input positions * kernel * in_channels * filters = {in_positions} * "
                f"{kernel} * {channels} * {layer.filters} = {_n(macs)}")
    depthwise = (f"{out_positions} * {kernel} * {channels} * {layer.depth_multiplier}")
    if kind == "DepthwiseConv":
        return (f"macs = output positions * kernel * in_channels * depth_multiplier = "
                f"{depthwise} = {_n(macs)}")
    return (f"macs = depthwise + pointwise = {depthwise} + {out_positions} * {channels} * "
            f"{layer.depth_multiplier} * {layer.filters} = {_n(macs)}")
