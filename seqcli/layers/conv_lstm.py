"""ConvLSTM1D/2D/3D: an LSTM whose products are convolutions, over sequences of
(spatial..., channels) frames (or channels first with `data_format`).

As Keras 3's ConvLSTMCell: the input convolution has the layer's strides, padding and
dilation; the recurrent one runs on the state with "same" padding, stride 1 and no
dilation; the gates are i, f, c, o along the kernels' last axis; dropout (on the input)
and recurrent_dropout (on the state) draw four masks each, one per gate, once per
sequence. A masked step keeps the state and repeats the last output.
"""

from __future__ import annotations

from seqcli import activations
from seqcli.args import ActivationArg, Bool, Float, InitializerArg, Int, Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.base import (RANK_NAMES, SpatialLayer, WeightSpec, format_shape, layer_class,
                                rank_family_class, require_rank)
from seqcli.layers.conv import _fields
from seqcli.layers.recurrent import OverTime
from seqcli.shapes import conv_output_size

RATE = Float(0.0, 1.0)
GATES = 4


@layer_class
class ConvLSTM(OverTime, SpatialLayer):
    weight_args = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias"}
    def check(self):
        super().check()  # return_state, stateful
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ArgError("dilation_rate", "Specifying `strides > 1` is not compatible with "
                           "`dilation_rate > 1`. Please provide `strides=1` or "
                           f"`dilation_rate=1`. Received: strides={self.strides} and "
                           f"dilation_rate={self.dilation_rate}")

    # ------------------------------------------------------------ shapes and weights

    def _frame(self, input_shape):
        """(spatial sizes, channels) of one frame, checked as Keras checks them."""
        require_rank(self, input_shape, self.rank + 3)
        spatial, channels = self.split_shape((input_shape[0], *input_shape[2:]))
        if None in spatial:
            raise ValueError("ConvLSTM layers only support static input shapes for the "
                             "spatial dimension. Received invalid input shape: "
                             f"input_shape={format_shape(input_shape)}")
        if channels is None:
            raise ValueError("The channel dimension of the inputs (last axis) should be "
                             "defined. Found None. Full input shape received: "
                             f"input_shape={format_shape(input_shape)}")
        return spatial, channels

    def _out_sizes(self, spatial):
        sizes = [conv_output_size(s, k, st, self.padding, d) for s, k, st, d
                 in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        if any(o <= 0 for o in sizes):
            raise ValueError(f"Computed output size would be zero or negative: frames of "
                             f"{tuple(spatial)} with kernel_size={self.kernel_size}, "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate} "
                             f"and padding={self.padding}")
        return sizes

    def output_shape(self, input_shape):
        spatial, _ = self._frame(input_shape)
        frame = self.join_shape(input_shape[0], self._out_sizes(spatial), self.filters)
        if self.return_sequences:
            return (input_shape[0], input_shape[1], *frame[1:])
        return frame

    def weight_specs(self, input_shape):
        _, channels = self._frame(input_shape)
        width = GATES * self.filters
        specs = [WeightSpec("kernel", (*self.kernel_size, channels, width),
                            self.kernel_initializer),
                 WeightSpec("recurrent_kernel", (*self.kernel_size, self.filters, width),
                            self.recurrent_initializer)]
        if self.use_bias:
            init = self.bias_initializer if not self.unit_forget_bias else (
                "segments", ((self.bias_initializer, self.filters), ("ones", self.filters),
                             (self.bias_initializer, 2 * self.filters)))
            specs.append(WeightSpec("bias", (width,), init))
        return specs

    # ------------------------------------------------------------ the time loop

    def forward_masked(self, params, x, rng, mask, training=False):
        if mask.shape != x.shape[:2]:  # Masking on frames masks pixels: Keras fails too
            raise ValueError(f"the mask has shape {tuple(mask.shape)}, but a ConvLSTM masks "
                             f"whole steps: (batch, steps) = {tuple(x.shape[:2])}")
        return super().forward_masked(params, x, rng, mask, training)

    def _frames_last(self, x):
        """(batch, steps, *spatial, channels) whatever the data format."""
        import numpy as np

        return x if self.last else np.moveaxis(x, 2, -1)

    def _run(self, params, x, rng, mask):
        import numpy as np

        sequence = self._frames_last(x[:, ::-1] if self.go_backwards else x)
        steps_mask = None if mask is None else \
            (mask[:, ::-1] if self.go_backwards else mask).astype(x.dtype)
        batch, count = sequence.shape[:2]
        in_masks = self._dropout_masks(rng, self.dropout, (batch, *sequence.shape[2:]), x.dtype)
        projected = self._input_conv(params, sequence, in_masks)  # every step at once
        h = np.zeros((batch, *projected.shape[2:-1], self.filters), x.dtype)
        c = h.copy()
        state_masks = self._dropout_masks(rng, self.recurrent_dropout, h.shape, x.dtype)
        steps, outputs = [], []
        for t in range(count):
            h_new, c_new, step = self._step(params, projected[:, t], h, c, state_masks)
            zeroed = steps_mask is not None and self.zero_output_for_mask
            if steps_mask is not None:  # a masked step keeps the state
                keep = steps_mask[:, t].reshape(-1, *[1] * (h.ndim - 1))
                h_new = keep * h_new + (1 - keep) * h
                c_new = keep * c_new + (1 - keep) * c
            outputs.append(h_new * keep if zeroed else h_new)
            h, c = h_new, c_new
            steps.append(step)
        y = np.stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        y = y if self.last else np.moveaxis(y, -1, 2 if self.return_sequences else 1)
        return y, (sequence, in_masks, state_masks, steps, steps_mask, x.shape)

    def _dropout_masks(self, rng, rate, shape, dtype):
        """Keras's four masks (one per gate), the same at every step, in training."""
        if rng is None or not 0 < rate < 1:
            return None
        return [(rng.random(shape) >= rate).astype(dtype) / dtype.type(1 - rate)
                for _ in range(GATES)]

    def _input_conv(self, params, sequence, masks):
        """x_t conv kernel + bias for every step: (batch, steps, *out, 4 filters)."""
        import numpy as np

        from seqcli import ops

        batch, count = sequence.shape[:2]
        flat = sequence.reshape(batch * count, *sequence.shape[2:])
        bias = params["bias"] if self.use_bias else None
        args = (self.strides, self.padding, self.dilation_rate)
        if masks is None:
            z = ops.conv(flat, params["kernel"], *args, bias=bias)
        else:
            z = np.concatenate([ops.conv(self._masked_steps(flat, m, count), part, *args,
                                         bias=None if bias is None else b)
                                for m, part, b in zip(masks, self._split(params["kernel"]),
                                                      self._split(bias))], axis=-1)
        return z.reshape(batch, count, *z.shape[1:])

    @staticmethod
    def _masked_steps(flat, mask, count):
        import numpy as np

        return flat * np.repeat(mask, count, axis=0)

    def _split(self, array):
        f = self.filters
        return [None] * GATES if array is None else \
            [array[..., g * f:(g + 1) * f] for g in range(GATES)]

    def _recurrent_conv(self, params, h, masks):
        import numpy as np

        from seqcli import ops

        ones = (1,) * self.rank
        if masks is None:
            return ops.conv(h, params["recurrent_kernel"], ones, "same", ones)
        return np.concatenate([ops.conv(h * m, part, ones, "same", ones) for m, part in
                               zip(masks, self._split(params["recurrent_kernel"]))], axis=-1)

    def _step(self, params, projected, h_prev, c_prev, masks):
        f = self.filters
        z = projected + self._recurrent_conv(params, h_prev, masks)
        gate = activations.get(self.recurrent_activation)
        act = activations.get(self.activation)
        i, fg, o = gate(z[..., :f]), gate(z[..., f:2 * f]), gate(z[..., 3 * f:])
        g = act(z[..., 2 * f:3 * f])
        c = fg * c_prev + i * g
        tc = act(c)
        return o * tc, c, (z, i, fg, g, o, c, tc, c_prev, h_prev)

    # ------------------------------------------------------------ backward through time

    def backward(self, params, cache, dy):
        import numpy as np

        sequence, in_masks, state_masks, steps, steps_mask, shape = cache
        grads = {name: np.zeros_like(value) for name, value in params.items()}
        if not self.last:
            dy = np.moveaxis(dy, 2 if self.return_sequences else 1, -1)
        count = sequence.shape[1]
        dh = np.zeros_like(steps[0][8]) if steps else None
        dc = np.zeros_like(dh)
        dprojected = []
        for t in reversed(range(count)):
            keep = None if steps_mask is None else \
                steps_mask[:, t].reshape(-1, *[1] * (dh.ndim - 1))
            out_keep = keep if keep is not None and self.zero_output_for_mask else 1
            if self.return_sequences:
                dh = dh + dy[:, t] * out_keep
            elif t == count - 1:
                dh = dh + dy * out_keep
            if keep is not None:  # a masked step passed the state through unchanged
                carried_h, dh = dh * (1 - keep), dh * keep
                carried_c, dc = dc * (1 - keep), dc * keep
            dh, dc, dz = self._step_backward(params, steps[t], dh, dc, state_masks, grads)
            if keep is not None:
                dh, dc = dh + carried_h, dc + carried_c
            dprojected.append(dz)
        dx = self._input_conv_backward(params, sequence, in_masks,
                                       np.stack(dprojected[::-1], axis=1), grads)
        dx = dx if self.last else np.moveaxis(dx, -1, 2)
        return (dx[:, ::-1] if self.go_backwards else dx), grads

    def _step_backward(self, params, step, dh, dc, masks, grads):
        import numpy as np

        from seqcli import ops

        z, i, fg, g, o, c, tc, c_prev, h_prev = step
        f = self.filters
        gate_grad = activations.gradient(self.recurrent_activation)
        act_grad = activations.gradient(self.activation)
        dc = dc + act_grad(c, tc, dh * o)
        dz = np.concatenate([gate_grad(z[..., :f], i, dc * g),
                             gate_grad(z[..., f:2 * f], fg, dc * c_prev),
                             act_grad(z[..., 2 * f:3 * f], g, dc * i),
                             gate_grad(z[..., 3 * f:], o, dh * tc)], axis=-1)
        ones = (1,) * self.rank
        if masks is None:
            dh_prev, dkernel = ops.conv_backward(h_prev, params["recurrent_kernel"], dz, ones,
                                                 "same", ones)
            grads["recurrent_kernel"] += dkernel
        else:
            dh_prev = np.zeros_like(h_prev)
            for k, (m, part, dpart) in enumerate(zip(masks, self._split(
                    params["recurrent_kernel"]), self._split(dz))):
                dmasked, dkernel = ops.conv_backward(h_prev * m, part, dpart, ones, "same",
                                                     ones)
                dh_prev += dmasked * m
                grads["recurrent_kernel"][..., k * f:(k + 1) * f] += dkernel
        return dh_prev, dc * fg, dz

    def _input_conv_backward(self, params, sequence, masks, dprojected, grads):
        import numpy as np

        from seqcli import ops

        batch, count = sequence.shape[:2]
        flat = sequence.reshape(batch * count, *sequence.shape[2:])
        dflat = dprojected.reshape(batch * count, *dprojected.shape[2:])
        args = (self.strides, self.padding, self.dilation_rate)
        if self.use_bias:
            grads["bias"] += dflat.reshape(-1, dflat.shape[-1]).sum(axis=0)
        if masks is None:
            dx, dkernel = ops.conv_backward(flat, params["kernel"], dflat, *args)
            grads["kernel"] += dkernel
        else:
            f, dx = self.filters, np.zeros_like(flat)
            for k, (m, part, dpart) in enumerate(zip(masks, self._split(params["kernel"]),
                                                     self._split(dflat))):
                repeated = np.repeat(m, count, axis=0)
                dmasked, dkernel = ops.conv_backward(flat * repeated, part, dpart, *args)
                dx += dmasked * repeated
                grads["kernel"][..., k * f:(k + 1) * f] += dkernel
        return dx.reshape(sequence.shape)


def _conv_lstm_fields(rank):
    return _fields(rank, "filters", "kernel_size", "strides", "padding_no_causal",
                   "data_format", "dilation_rate") + [
        ("activation", str, arg(ActivationArg(), default="tanh")),
        ("recurrent_activation", str, arg(ActivationArg(), default="sigmoid")),
        ("use_bias", bool, arg(Bool(), default=True)),
        ("kernel_initializer", object, arg(InitializerArg(), default="glorot_uniform")),
        ("recurrent_initializer", object, arg(InitializerArg(), default="orthogonal")),
        ("bias_initializer", object, arg(InitializerArg(), default="zeros")),
        ("unit_forget_bias", bool, arg(Bool(), default=True,
                                       doc="forget-gate bias starts at one")),
        ("dropout", float, arg(RATE, default=0.0, doc="input dropout in training")),
        ("recurrent_dropout", float, arg(RATE, default=0.0, doc="state dropout in training")),
        ("seed", object, arg(Optional(Int(0)), default=None)),
        ("return_sequences", bool, arg(Bool(), default=False,
                                       doc="output every step, not the last")),
        ("return_state", bool, arg(Bool(), default=False, doc="not supported: one output")),
        ("go_backwards", bool, arg(Bool(), default=False, doc="read the sequence from its end")),
        ("stateful", bool, arg(Bool(), default=False, doc="not supported")),
        ("unroll", bool, arg(Bool(), default=False, doc="accepted; no effect on results")),
        ("zero_output_for_mask", bool, arg(Bool(), default=False,
                                           doc="a masked step outputs zeros")),
    ]


ConvLSTM1D, ConvLSTM2D, ConvLSTM3D = (
    rank_family_class(
        f"ConvLSTM{RANK_NAMES[r]}", ConvLSTM, r, _conv_lstm_fields(r),
        positional=("filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "activation", "recurrent_activation", "use_bias"),
        auto_name=f"conv_lstm{r}d",  # Keras 3's name (Keras 2 said conv_lst_m{r}d)
        summary=f"An LSTM over sequences of {RANK_NAMES[r]} frames, with convolutions",
        weights_doc="kernel (*kernel_size, channels, 4 filters), recurrent_kernel "
                    "(*kernel_size, filters, 4 filters), bias (4 filters,); gates i, f, c, o")
    for r in (1, 2, 3))
