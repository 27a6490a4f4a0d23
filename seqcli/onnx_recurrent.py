"""Recurrent layers in ONNX: SimpleRNN, LSTM, GRU and Bidirectional.

Without a mask, and with activations ONNX's recurrent operators have, a layer is
ONNX's own RNN / LSTM / GRU operator (what runtimes optimize): Keras's LSTM gates
i, f, c, o become ONNX's i, o, f, c; GRU's z, r, h are the same in both, and
reset_after is linear_before_reset. Otherwise (a mask from Embedding's mask_zero,
or an activation such as gelu) the step is written out in a Scan, masked as Keras
masks: a masked step keeps the state and repeats the last output (or outputs zeros,
with zero_output_for_mask, which Bidirectional sets for sequences).

Keras's go_backwards reads the sequence from its end and returns the outputs in
that order, which is what reversing the input gives (ONNX's direction="reverse"
would put them back in time order).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from seqcli.layers.recurrent import GRU, LSTM
from seqcli.onnx_graph import Value
from seqcli.onnx_layers import activation

# Keras activation -> the ONNX recurrent operators' name for it (those without parameters)
NATIVE_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
                      "softsign": "Softsign", "softplus": "Softplus"}
STEPS_FIRST = (1, 0, 2)  # (steps, batch, units) holds Keras's (batch, steps, units)


def recurrent(state, layer, params, x, shape):
    return _emit(state.graph, layer, params, x, None)


def recurrent_masked(state, layer, params, x, shape, mask):
    y = _emit(state.graph, layer, params, x, mask)
    return y, (mask if layer.return_sequences else None)


def bidirectional(state, layer, params, x, shape, mask=None):
    """Both directions, the backward outputs flipped back into time order, merged."""
    graph = state.graph
    forward, backward = layer.layer, layer.reverse
    if mask is not None:  # Keras: with sequences, a masked step outputs zeros both ways
        zeroed = {"zero_output_for_mask": layer.layer.return_sequences}
        forward = dataclasses.replace(forward, **zeroed)
        backward = dataclasses.replace(backward, **zeroed)
    y = _direction(state, forward, params["forward"], x, shape, mask)
    y_rev = _direction(state, backward, params["backward"], x, shape, mask)
    back = graph.layout(y_rev, y.perm)
    if layer.layer.return_sequences:
        back = graph.reverse_time(back, y.position(1))
    if layer.merge_mode == "concat":
        return y.relabel(graph.op("Concat", [y.name, back], axis=y.position(-1)))
    if layer.merge_mode == "mul":
        return y.relabel(graph.op("Mul", [y.name, back]))
    total = graph.op("Add", [y.name, back])
    if layer.merge_mode == "ave":
        total = graph.op("Div", [total, graph.const(2.0)])
    return y.relabel(total)


def _direction(state, layer, params, x, shape, mask):
    """One direction: an RNN of cells or a ConvLSTM by their emitters, else the layer's
    own operator (or Scan)."""
    from seqcli.layers.cells import RNN
    from seqcli.layers.conv_lstm import ConvLSTM

    if isinstance(layer, RNN):
        return rnn(state, layer, params, x, shape, mask)
    if isinstance(layer, ConvLSTM):
        return conv_lstm(state, layer, params, x, shape, mask)
    return _emit(state.graph, layer, params, x, mask)


def bidirectional_masked(state, layer, params, x, shape, mask):
    y = bidirectional(state, layer, params, x, shape, mask)
    return y, (mask if layer.layer.return_sequences else None)


def _emit(graph, layer, params, x, mask):
    activations = _activations(layer)
    if mask is None and all(a in NATIVE_ACTIVATIONS for a in activations):
        return _native(graph, layer, params, x, [NATIVE_ACTIVATIONS[a] for a in activations])
    return _scan(graph, layer, params, x, mask)


def _activations(layer):
    """The activations in ONNX's order: LSTM f, g, h; GRU f, g; RNN f."""
    main = layer.activation or "linear"
    if isinstance(layer, LSTM):
        return [layer.recurrent_activation or "linear", main, main]
    if isinstance(layer, GRU):
        return [layer.recurrent_activation or "linear", main]
    return [main]


# ---------------------------------------------------------------- ONNX's own operators

def _lstm_order(matrix, units):
    """Keras's gate blocks i, f, c, o (last axis) in ONNX's order i, o, f, c."""
    i, f, c, o = (matrix[..., k * units:(k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=-1)


def _native_weights(layer, params):
    """(W, R, B, attributes) in ONNX's layout: [1, gates*units, in], [1, gates*units,
    units], [1, 2*gates*units] (input then recurrent biases)."""
    units, width = layer.units, layer.units * layer.gates
    kernel, recurrent_kernel = params["kernel"], params["recurrent_kernel"]
    bias = params.get("bias")
    attributes = {}
    if isinstance(layer, LSTM):
        kernel, recurrent_kernel = _lstm_order(kernel, units), _lstm_order(recurrent_kernel,
                                                                           units)
        bias = None if bias is None else _lstm_order(bias, units)
    if isinstance(layer, GRU):
        attributes["linear_before_reset"] = int(layer.reset_after)
        if bias is not None and layer.reset_after:
            bias = bias.reshape(-1)  # rows: input bias, recurrent bias
    if bias is None:
        bias = np.zeros(2 * width, np.float32)
    elif bias.size == width:
        bias = np.concatenate([bias, np.zeros(width, np.float32)])
    return kernel.T[None], recurrent_kernel.T[None], bias[None], attributes


def _native(graph, layer, params, x, activations):
    w, r, b, attributes = _native_weights(layer, params)
    data = graph.layout(x, STEPS_FIRST)
    if layer.go_backwards:
        data = graph.reverse_time(data, 0)
    op = {LSTM: "LSTM", GRU: "GRU"}.get(type(layer), "RNN")
    sequence, last = graph.op(op, [data, graph.const(w, "W"), graph.const(r, "R"),
                                   graph.const(b, "B")], outputs=2, hidden_size=layer.units,
                              activations=activations, **attributes)
    if layer.return_sequences:  # Y is (steps, directions, batch, units)
        return Value(graph.op("Squeeze", [sequence, graph.ints([1], "axes")]), STEPS_FIRST)
    return Value(graph.op("Squeeze", [last, graph.ints([0], "axes")]), (0, 1))


# ---------------------------------------------------------------- the step in a Scan

def _scan(graph, layer, params, x, mask):
    from onnx import TensorProto, helper

    data = graph.layout(x, STEPS_FIRST)  # Scan runs along the first axis
    if layer.go_backwards:
        data = graph.reverse_time(data, 0)
    projected = graph.op("MatMul", [data, graph.const(params["kernel"], "kernel")])
    input_bias = layer.input_bias(params)
    if input_bias is not None:
        projected = graph.op("Add", [projected, graph.const(input_bias, "input_bias")])
    sequences = [projected]
    if mask is not None:
        sequences.append(_steps_kept(graph, mask, layer.go_backwards, 1))
    size = graph.op("Concat", [graph.shape_part(data, 1, 2), graph.ints([layer.units])],
                    axis=0)
    zeros = graph.op("ConstantOfShape", [size],
                     value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
    states = [zeros, zeros] if isinstance(layer, LSTM) else [zeros]
    zero_output = mask is not None and layer.zero_output_for_mask
    body = _step_graph(graph, layer, params, len(states), mask is not None, zero_output)
    outputs = graph.op("Scan", states + sequences, outputs=len(states) + 1, body=body,
                       num_scan_inputs=len(sequences))
    if layer.return_sequences:
        return Value(outputs[-1], STEPS_FIRST)
    if zero_output:  # Keras's last output: the last step's, zeros where it was masked
        last = graph.const(-1, "last", np.int64)
        return Value(graph.op("Gather", [outputs[-1], last], axis=0), (0, 1))
    return Value(outputs[0], (0, 1))


def _step_graph(graph, layer, params, n_states, masked, zero_output):
    """The Scan body: (states..., projected input[, keep]) -> (new states..., output);
    with zero_output (Keras's zero_output_for_mask) a masked step outputs zeros."""
    from onnx import TensorProto, helper

    step = graph.child()
    names = [step.fresh(n) for n in ("h", "c")[:n_states]] + [step.fresh("x_t")]
    if masked:
        names.append(step.fresh("keep_t"))
    h, projected = names[0], names[n_states]
    cell = {LSTM: _lstm_step, GRU: _gru_step}.get(type(layer), _rnn_step)
    new_states = cell(step, layer, params, h, names[1] if n_states == 2 else None, projected)
    if masked:  # a masked step keeps the old state
        keep = names[-1]
        new_states = [_blend(step, keep, new, old) for new, old in zip(new_states, names)]
    if zero_output:
        output = step.op("Mul", [new_states[0], names[-1]])
    else:
        output = step.op("Identity", [new_states[0]])
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]
    result = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
              for n in [*new_states, output]]
    return helper.make_graph(step.nodes, step.fresh("step"), info, result)


def _blend(step, keep, new, old):
    kept = step.op("Mul", [keep, new])
    dropped = step.op("Mul", [step.op("Sub", [step.const(1.0), keep]), old])
    return step.op("Add", [kept, dropped])


def _act(step, name, tensor):
    return activation(step, name, Value(tensor, (0, 1))).name


def _split(step, tensor, parts):
    return step.op("Split", [tensor, step.ints(parts, "split")], outputs=len(parts), axis=1)


def _rnn_step(step, layer, params, h, c, projected):
    z = step.op("Add", [projected, step.op("MatMul", [h, step.const(
        params["recurrent_kernel"], "recurrent_kernel")])])
    return [_act(step, layer.activation, z)]


def _lstm_step(step, layer, params, h, c, projected):
    units = layer.units
    z = step.op("Add", [projected, step.op("MatMul", [h, step.const(
        params["recurrent_kernel"], "recurrent_kernel")])])
    i, f, g, o = _split(step, z, [units] * 4)
    gate = layer.recurrent_activation
    i, f, o = _act(step, gate, i), _act(step, gate, f), _act(step, gate, o)
    g = _act(step, layer.activation, g)
    c_new = step.op("Add", [step.op("Mul", [f, c]), step.op("Mul", [i, g])])
    h_new = step.op("Mul", [o, _act(step, layer.activation, c_new)])
    return [h_new, c_new]


def _gru_step(step, layer, params, h, c, projected):
    units, gate = layer.units, layer.recurrent_activation
    kernel = params["recurrent_kernel"]
    xz, xr, xh = _split(step, projected, [units] * 3)
    if layer.reset_after:
        rec = step.op("MatMul", [h, step.const(kernel, "recurrent_kernel")])
        if layer.use_bias:
            rec = step.op("Add", [rec, step.const(params["bias"][1], "recurrent_bias")])
        rz, rr, rh = _split(step, rec, [units] * 3)
        z = _act(step, gate, step.op("Add", [xz, rz]))
        r = _act(step, gate, step.op("Add", [xr, rr]))
        candidate = step.op("Add", [xh, step.op("Mul", [r, rh])])
    else:
        def times(tensor, k):
            return step.op("MatMul", [tensor, step.const(kernel[:, k * units:(k + 1) * units],
                                                         "recurrent_kernel")])
        z = _act(step, gate, step.op("Add", [xz, times(h, 0)]))
        r = _act(step, gate, step.op("Add", [xr, times(h, 1)]))
        candidate = step.op("Add", [xh, times(step.op("Mul", [r, h]), 2)])
    hh = _act(step, layer.activation, candidate)
    kept = step.op("Mul", [z, h])
    fresh = step.op("Mul", [step.op("Sub", [step.const(1.0), z]), hh])
    return [step.op("Add", [kept, fresh])]


# ---------------------------------------------------------------- RNN and its cells

def rnn(state, layer, params, x, shape, mask=None):
    """Keras's RNN: each cell as the recurrent layer it makes (layers.cells), stacked
    cells one after another; the cells after a go_backwards first one read its order."""
    graph = state.graph
    for index, (_, inner, prefix) in enumerate(layer.steps()):
        if index == 1 and mask is not None and layer.go_backwards:
            mask = dataclasses.replace(mask, name=graph.reverse_time(mask.name, 1))
        x = _emit(graph, inner, layer._params(params, prefix), x, mask)
    return x


def rnn_masked(state, layer, params, x, shape, mask):
    y = rnn(state, layer, params, x, shape, mask)
    return y, (mask if layer.return_sequences else None)


# ---------------------------------------------------------------- ConvLSTM

def conv_lstm(state, layer, params, x, shape, mask=None):
    """The input convolution over every step at once (ONNX's Conv, channels first), then
    a Scan whose step adds the recurrent convolution ("same", stride 1) and runs the
    LSTM gates i, f, c, o; a masked step keeps the state as in the Scan above."""
    from onnx import TensorProto, helper

    from seqcli import ops
    from seqcli.onnx_spatial import _conv_node, _onnx_kernel

    graph, rank, filters = state.graph, layer.rank, layer.filters
    frame_perm = _frame_perm(layer, rank)
    data = graph.layout(x, (1, 0, *frame_perm[1:]))  # (steps, batch, channels, *spatial)
    if layer.go_backwards:
        data = graph.reverse_time(data, 0)
    spatial, channels = layer.split_shape((shape[0], *shape[2:]))
    out_sizes = layer._out_sizes(spatial)
    flat = graph.reshape(data, [-1, channels, *spatial])
    bias = params["bias"] if layer.use_bias else None
    projected = _conv_node(graph, flat, _onnx_kernel(params["kernel"], rank), bias, layer,
                           list(spatial), 1)
    projected = graph.reshape(projected, graph.shape_part(data, 0, 1),
                              [-1, 4 * filters, *out_sizes])
    sequences = [projected]
    if mask is not None:
        sequences.append(_steps_kept(graph, mask, layer.go_backwards, rank + 1))
    size = graph.op("Concat", [graph.shape_part(data, 1, 2),
                               graph.ints([filters, *out_sizes])], axis=0)
    zeros = graph.op("ConstantOfShape", [size],
                     value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
    pairs = ops.conv_pads(out_sizes, layer.kernel_size, (1,) * rank, "same", (1,) * rank)
    pads = [a for a, _ in pairs] + [b for _, b in pairs]
    zero_output = mask is not None and layer.zero_output_for_mask
    body = _conv_lstm_step(graph, layer, params, pads, frame_perm, mask is not None,
                           zero_output)
    outputs = graph.op("Scan", [zeros, zeros, *sequences], outputs=3, body=body,
                       num_scan_inputs=len(sequences))
    if layer.return_sequences:
        return Value(outputs[2], (1, 0, *frame_perm[1:]))
    if zero_output:
        last = graph.const(-1, "last", np.int64)
        return Value(graph.op("Gather", [outputs[2], last], axis=0), _step_perm(frame_perm))
    return Value(outputs[0], _step_perm(frame_perm))


def conv_lstm_masked(state, layer, params, x, shape, mask):
    y = conv_lstm(state, layer, params, x, shape, mask)
    return y, (mask if layer.return_sequences else None)


def _frame_perm(layer, rank):
    """Where a channels-first ONNX frame (batch, channels, *spatial) finds Keras's axes
    of the layer's sequence (batch 0, steps 1): ONNX axis k holds Keras axis perm[k]."""
    if layer.last:  # Keras (batch, steps, *spatial, channels)
        return (0, rank + 2, *range(2, rank + 2))
    return (0, *range(2, rank + 3))  # Keras (batch, steps, channels, *spatial)


def _step_perm(frame_perm):
    """The same for one step's frame, which has no steps axis."""
    return tuple(a if a < 1 else a - 1 for a in frame_perm)


def _conv_lstm_step(graph, layer, params, pads, frame_perm, masked, zero_output):
    from onnx import TensorProto, helper

    from seqcli.onnx_spatial import _onnx_kernel

    step, f, rank = graph.child(), layer.filters, layer.rank
    names = [step.fresh("h"), step.fresh("c"), step.fresh("x_t")] + \
        ([step.fresh("keep_t")] if masked else [])
    h, c, projected = names[:3]
    recurrent = step.op("Conv", [h, step.const(_onnx_kernel(params["recurrent_kernel"], rank),
                                               "recurrent_kernel")],
                        strides=[1] * rank, dilations=[1] * rank,
                        kernel_shape=list(layer.kernel_size), pads=pads)
    z = step.op("Add", [projected, recurrent])
    i, fg, g, o = step.op("Split", [z, step.ints([f] * 4, "split")], outputs=4, axis=1)
    perm = _step_perm(frame_perm)

    def act(name, tensor):
        return activation(step, name, Value(tensor, perm)).name

    gate = layer.recurrent_activation
    i, fg, o, g = act(gate, i), act(gate, fg), act(gate, o), act(layer.activation, g)
    c_new = step.op("Add", [step.op("Mul", [fg, c]), step.op("Mul", [i, g])])
    h_new = step.op("Mul", [o, act(layer.activation, c_new)])
    new_states = [h_new, c_new]
    if masked:
        new_states = [_blend(step, names[3], new, old) for new, old in zip(new_states, [h, c])]
    output = step.op("Mul", [new_states[0], names[3]]) if zero_output else \
        step.op("Identity", [new_states[0]])
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]
    result = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
              for n in [*new_states, output]]
    return helper.make_graph(step.nodes, step.fresh("step"), info, result)


def _steps_kept(graph, mask, go_backwards, trailing: int) -> str:
    """Keras's mask (batch, steps) as a Scan input: 1.0 where a step is kept, steps
    first, in the order the layer reads them, with `trailing` axes of one to broadcast
    over each step's state."""
    from onnx import TensorProto

    keep = graph.op("Cast", [mask.name], to=TensorProto.FLOAT)
    if go_backwards:
        keep = graph.reverse_time(keep, 1)
    keep = graph.op("Transpose", [keep], perm=[1, 0])
    return graph.op("Unsqueeze", [keep, graph.ints(list(range(2, 2 + trailing)), "axes")])
