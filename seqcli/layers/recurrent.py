"""Recurrent layers: SimpleRNN, LSTM, GRU (reset_after both ways), each with its
backward pass through time. Inputs are (batch, timesteps, features)."""

from __future__ import annotations

from seqcli import activations
from seqcli.args import ActivationArg, Bool, Float, InitializerArg, Int, Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, WeightSpec, format_shape, layer_class, require_rank
from seqcli.registry import register

RATE = Float(0.0, 1.0)


class OverTime:
    """What every layer stepping over (batch, steps, ...) shares (the RNNs, RNN(cell),
    ConvLSTM): Keras's use of a mask over the steps, and the two arguments a Sequential
    cannot honour. A subclass gives `_run(params, x, rng, mask) -> (y, cache)`."""

    masking = "uses"
    runs_over_time = True

    def check(self):
        if self.return_state:
            raise ArgError("return_state", "return_state=true gives several outputs, and a "
                           "Sequential model has one; use return_sequences instead")
        if self.stateful:
            raise ArgError("stateful", "stateful=true is not supported: seqcli keeps no state "
                           "between calls")

    def forward_train(self, params, x, rng):
        return self._run(params, x, rng, None)

    def forward_masked(self, params, x, rng, mask, training=False):
        """Keras's masked RNN: a masked step keeps the state and repeats the last output."""
        y, cache = self._run(params, x, rng, mask)
        return y, cache, (mask if self.return_sequences else None)

    def keeps_mask(self) -> bool:
        return self.return_sequences


class _BoolOrAuto:
    describe = "bool | auto"

    def __call__(self, name, value):
        if isinstance(value, bool) or value == "auto":
            return value
        raise ArgError(name, f"`{name}` must be true, false or auto. Received: {name}={value!r}")


@layer_class
class _Recurrent(OverTime, Layer):
    weight_args = {"kernel": "kernel", "recurrent_kernel": "recurrent", "bias": "bias"}

    units: int = arg(Int(1), doc="size of the state and of each output")
    activation: str | None = arg(ActivationArg(), default="tanh")
    use_bias: bool = arg(Bool(), default=True)
    kernel_initializer: object = arg(InitializerArg(), default="glorot_uniform")
    recurrent_initializer: object = arg(InitializerArg(), default="orthogonal")
    bias_initializer: object = arg(InitializerArg(), default="zeros")
    dropout: float = arg(RATE, default=0.0, doc="input dropout in training")
    recurrent_dropout: float = arg(RATE, default=0.0, doc="state dropout in training")
    seed: int | None = arg(Optional(Int(0)), default=None)
    return_sequences: bool = arg(Bool(), default=False, doc="output every step, not the last")
    return_state: bool = arg(Bool(), default=False, doc="not supported: one output only")
    go_backwards: bool = arg(Bool(), default=False, doc="read the sequence from its end")
    stateful: bool = arg(Bool(), default=False, doc="not supported")
    unroll: bool = arg(Bool(), default=False, doc="accepted; no effect on results")
    zero_output_for_mask: bool = arg(Bool(), default=False,
                                     doc="a masked step outputs zeros, not the last output")

    gates = 1  # kernel width in units
    def output_shape(self, input_shape):
        require_rank(self, input_shape, 3)
        self._features(input_shape)
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def _features(self, input_shape):
        if input_shape[2] is None:
            raise ValueError("The last dimension of the inputs to an RNN should be defined; "
                             f"received {format_shape(input_shape)}")
        return input_shape[2]

    def weight_specs(self, input_shape):
        width = self.units * self.gates
        specs = [WeightSpec("kernel", (self._features(input_shape), width),
                            self.kernel_initializer),
                 WeightSpec("recurrent_kernel", (self.units, width), self.recurrent_initializer)]
        if self.use_bias:
            specs.append(WeightSpec("bias", self.bias_shape(), self.bias_init()))
        return specs

    def bias_shape(self):
        return (self.units * self.gates,)

    def bias_init(self):
        return self.bias_initializer

    # ------------------------------------------------------------ the time loop

    def _run(self, params, x, rng, mask):
        from seqcli.threads import single_blas

        import numpy as np

        # a product per step, each too small to share out; the fused sigmoid's exp(-z)
        # may overflow to inf, and 1 / (1 + inf) is the right 0
        with single_blas(), np.errstate(over="ignore"):
            return self._run_steps(params, x, rng, mask)

    def _run_steps(self, params, x, rng, mask):
        import numpy as np

        sequence = x[:, ::-1] if self.go_backwards else x
        steps_mask = None if mask is None else \
            (mask[:, ::-1] if self.go_backwards else mask).astype(x.dtype)
        in_mask, state_mask = self._masks(x, rng)
        inputs = sequence * in_mask[:, None, :] if in_mask is not None else sequence
        projected = self.project(params, inputs)  # x_t @ kernel (+ input bias), all steps
        h = np.zeros((x.shape[0], self.units), dtype=x.dtype)
        state, steps, outputs = self.initial_state(h), [], []
        for t in range(x.shape[1]):
            h_in = h * state_mask if state_mask is not None else h
            h_new, state_new, step = self.step(params, projected[:, t], h_in, state)
            if steps_mask is not None:
                keep = steps_mask[:, t:t + 1]
                h_new = keep * h_new + (1 - keep) * h
                if state_new is not None:
                    state_new = keep * state_new + (1 - keep) * state
            h, state = h_new, state_new
            steps.append(step)
            outputs.append(h * keep if steps_mask is not None and self.zero_output_for_mask
                           else h)
        if self.return_sequences:
            y = np.stack(outputs, axis=1) if outputs else \
                np.zeros((x.shape[0], 0, self.units), x.dtype)
        else:  # Keras's last output: the last step's, zeros if masked with zero_output
            y = outputs[-1] if outputs else h
        return y, (inputs, steps, in_mask, state_mask, x.shape, steps_mask)

    def backward(self, params, cache, dy):
        from seqcli.threads import single_blas

        with single_blas():
            return self._backward_steps(params, cache, dy)

    def _backward_steps(self, params, cache, dy):
        import numpy as np

        inputs, steps, in_mask, state_mask, shape, steps_mask = cache
        grads = {name: np.zeros_like(value) for name, value in params.items()}
        # each step multiplies by the recurrent kernel's transpose: made once, in C order
        # (OpenBLAS multiplies by a transposed view at about half speed at these sizes)
        params = {**params,
                  "recurrent_kernel_t": np.ascontiguousarray(params["recurrent_kernel"].T)}
        dprojected = np.zeros((shape[0], shape[1], self.projected_width()), dtype=dy.dtype)
        dh = np.zeros((shape[0], self.units), dtype=dy.dtype)
        dstate = self.zero_state_grad(dh)
        for t in reversed(range(shape[1])):
            keep = None if steps_mask is None else steps_mask[:, t:t + 1]
            # a zeroed output (zero_output_for_mask) passes no gradient back
            out_keep = keep if keep is not None and self.zero_output_for_mask else 1
            if self.return_sequences:
                dh = dh + dy[:, t] * out_keep
            elif t == shape[1] - 1:
                dh = dh + dy * out_keep
            if keep is not None:  # a masked step passed the state through unchanged
                carried_h, dh = dh * (1 - keep), dh * keep
                if dstate is not None:
                    carried_state, dstate = dstate * (1 - keep), dstate * keep
            dh_in, dstate, dprojected[:, t] = self.step_backward(params, steps[t], dh, dstate,
                                                                 grads)
            dh = dh_in * state_mask if state_mask is not None else dh_in
            if keep is not None:
                dh = dh + carried_h
                if dstate is not None:
                    dstate = dstate + carried_state
        dinputs = self.project_backward(params, inputs, dprojected, grads)
        if in_mask is not None:
            dinputs = dinputs * in_mask[:, None, :]
        dx = dinputs[:, ::-1] if self.go_backwards else dinputs
        return dx, grads

    def _masks(self, x, rng):
        """Keras's dropout masks: one per sequence, the same at every step (training)."""
        if rng is None:
            return None, None
        masks = []
        for rate, width in ((self.dropout, x.shape[2]), (self.recurrent_dropout, self.units)):
            if rate > 0:
                keep = (rng.random((x.shape[0], width)) >= rate).astype(x.dtype)
                masks.append(keep / x.dtype.type(1 - rate))
            else:
                masks.append(None)
        return masks

    # the input projection, shared by every cell: x @ kernel (+ bias where it goes there)

    def projected_width(self):
        return self.units * self.gates

    def input_bias(self, params):
        return params["bias"] if self.use_bias else None

    def project(self, params, inputs):
        # one product over every step (a 3-D array @ kernel would be a product per step)
        projected = inputs.reshape(-1, inputs.shape[-1]) @ params["kernel"]
        bias = self.input_bias(params)
        if bias is not None:
            projected += bias
        return projected.reshape(*inputs.shape[:-1], projected.shape[-1])

    def project_backward(self, params, inputs, dprojected, grads):
        import numpy as np

        flat = dprojected.reshape(-1, dprojected.shape[-1])
        grads["kernel"] += inputs.reshape(-1, inputs.shape[-1]).T @ flat
        if self.use_bias:
            self.add_input_bias_grad(grads, flat.sum(axis=0))
        kernel_t = np.ascontiguousarray(params["kernel"].T)  # not a view: see _backward_steps
        return (flat @ kernel_t).reshape(*dprojected.shape[:-1], kernel_t.shape[1])

    def add_input_bias_grad(self, grads, total):
        grads["bias"] += total

    def initial_state(self, h):
        return None

    def zero_state_grad(self, dh):
        return None

    def forward(self, params, x):
        if can_run_together([self]):  # Keras's default activations: see run_together
            return run_together([self], [params], x)[0]
        return super().forward(params, x)

    @property
    def fused(self) -> bool:
        """Keras's default activations (tanh, gates by sigmoid): steps by fused kernels
        that take fewer, in-place numpy calls; any other pair uses the general step."""
        return self.activation == "tanh" and \
            getattr(self, "recurrent_activation", "sigmoid") == "sigmoid"


def run_together(layers, params, x):
    """The outputs of one or more recurrent layers of one kind over the same x at
    inference (a layer alone, or a Bidirectional's two directions), stepped together:
    per step one batched product and one set of element-wise calls serve all of them.
    For fused layers that agree in everything but direction and weights (see
    `can_run_together`). The input projections are laid out time-major, so that each
    step reads one contiguous block."""
    import numpy as np

    from seqcli.threads import single_blas

    first = layers[0]
    kernels = np.stack([p["recurrent_kernel"] for p in params])
    parts = [layer.project(p, np.ascontiguousarray(  # one large product: BLAS's threads
                 (x[:, ::-1] if layer.go_backwards else x).transpose(1, 0, 2)))
             for layer, p in zip(layers, params)]
    projected = parts[0][:, None] if len(parts) == 1 else np.stack(parts, axis=1)
    with single_blas(), np.errstate(over="ignore"):
        if isinstance(first, LSTM):
            outputs = _lstm_steps(kernels, projected, first.return_sequences)
        else:
            outputs = _gru_steps(kernels, params, first, projected)
    if not first.return_sequences:
        return list(outputs)
    return [np.ascontiguousarray(outputs[:, index].transpose(1, 0, 2))
            for index in range(len(layers))]


def _lstm_steps(kernels, projected, every_step):
    """Keras's LSTM cell with its default activations over projected (steps, layers,
    batch, 4 units), in buffers reused at every step: the last h (layers, batch, units),
    or with `every_step` each step's (steps, layers, batch, units)."""
    import numpy as np

    steps, count, batch, width = projected.shape
    u = width // 4
    h, c = (np.zeros((count, batch, u), dtype=projected.dtype) for _ in range(2))
    g, product = np.empty_like(h), np.empty_like(h)
    z = np.empty((count, batch, width), dtype=projected.dtype)
    i, f, o = z[..., :u], z[..., u:2 * u], z[..., 3 * u:]
    outputs = np.empty((steps, count, batch, u), dtype=h.dtype) if every_step else None
    for t in range(steps):
        np.matmul(h, kernels, out=z)
        z += projected[t]
        np.tanh(z[..., 2 * u:3 * u], out=g)
        _sigmoid_in_place(z)  # i, f and o (the c quarter is not used)
        c *= f
        np.multiply(i, g, out=product)
        c += product
        np.tanh(c, out=product)
        np.multiply(o, product, out=h)
        if every_step:
            outputs[t] = h
    return outputs if every_step else h


def _gru_steps(kernels, params, first, projected):
    """The same for GRU, by its fused step: the last h, or each step's."""
    import numpy as np

    stacked = {"recurrent_kernel": kernels}
    if first.use_bias:  # bias[1], the recurrent one, per layer
        stacked["bias"] = np.stack([p["bias"] for p in params], axis=1)[:, :, None, :]
    steps, count, batch, _ = projected.shape
    h = np.zeros((count, batch, first.units), dtype=projected.dtype)
    outputs = np.empty((steps, *h.shape), dtype=h.dtype) if first.return_sequences else None
    for t in range(steps):
        h, _, _ = first.step(stacked, projected[t], h, None)
        if outputs is not None:
            outputs[t] = h
    return outputs if outputs is not None else h


def can_run_together(layers) -> bool:
    first = layers[0]
    return isinstance(first, (LSTM, GRU)) and all(
        type(layer) is type(first) and layer.fused and layer.units == first.units
        and layer.use_bias == first.use_bias
        and layer.return_sequences == first.return_sequences for layer in layers)


def _sigmoid_in_place(z):
    """1 / (1 + exp(-z)) in z's own memory, as jax.nn.sigmoid computes it."""
    import numpy as np

    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    return np.reciprocal(z, out=z)


@register
@layer_class
class SimpleRNN(_Recurrent):
    positional = ("units", "activation", "use_bias", "kernel_initializer",
                  "recurrent_initializer", "bias_initializer")
    summary = "Fully connected recurrence: h = activation(x W + h U + b)"
    weights_doc = "kernel (features, units), recurrent_kernel (units, units), bias (units,)"

    def step(self, params, projected_t, h_prev, state):
        z = projected_t + h_prev @ params["recurrent_kernel"]
        h = activations.get(self.activation)(z)
        return h, None, (z, h, h_prev)

    def step_backward(self, params, step, dh, dstate, grads):
        z, h, h_prev = step
        dz = activations.gradient(self.activation)(z, h, dh)
        grads["recurrent_kernel"] += h_prev.T @ dz
        return dz @ params["recurrent_kernel_t"], None, dz


@register
@layer_class
class LSTM(_Recurrent):
    recurrent_activation: str | None = arg(ActivationArg(), default="sigmoid")
    unit_forget_bias: bool = arg(Bool(), default=True, doc="forget-gate bias starts at one")
    use_cudnn: object = arg(_BoolOrAuto(), default="auto", doc="accepted; no effect")

    gates = 4
    positional = ("units", "activation", "recurrent_activation", "use_bias",
                  "kernel_initializer", "recurrent_initializer", "bias_initializer",
                  "unit_forget_bias")
    summary = "Long short-term memory (gates i, f, c, o)"
    weights_doc = ("kernel (features, 4 units), recurrent_kernel (units, 4 units), "
                   "bias (4 units,), gates in the order i, f, c, o")

    def bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        return ("segments", ((self.bias_initializer, self.units), ("ones", self.units),
                             (self.bias_initializer, 2 * self.units)))

    def initial_state(self, h):
        return h.copy()  # the cell state c

    def zero_state_grad(self, dh):
        return dh * 0

    def step(self, params, projected_t, h_prev, c_prev):
        if self.fused:
            return self._fused_step(params, projected_t, h_prev, c_prev)
        u = self.units
        z = projected_t + h_prev @ params["recurrent_kernel"]
        gate = activations.get(self.recurrent_activation)
        i, f, o = gate(z[:, :u]), gate(z[:, u:2 * u]), gate(z[:, 3 * u:])
        g = activations.get(self.activation)(z[:, 2 * u:3 * u])
        c = f * c_prev + i * g
        tc = activations.get(self.activation)(c)
        h = o * tc
        return h, c, (z, i, f, g, o, c, tc, c_prev, h_prev)

    def _fused_step(self, params, projected_t, h_prev, c_prev):
        import numpy as np

        u = self.units
        gates = h_prev @ params["recurrent_kernel"]
        gates += projected_t
        g = np.tanh(gates[..., 2 * u:3 * u])
        sig = _sigmoid_in_place(gates)  # i, f and o (the c quarter is not used)
        c = sig[..., u:2 * u] * c_prev
        c += sig[..., :u] * g
        tc = np.tanh(c)
        h = sig[..., 3 * u:] * tc
        return h, c, (sig, g, tc, c_prev, h_prev)

    def _fused_step_backward(self, params, step, dh, dc, grads):
        import numpy as np

        sig, g, tc, c_prev, h_prev = step
        u = self.units
        i, f, o = sig[:, :u], sig[:, u:2 * u], sig[:, 3 * u:]
        dtanh = tc * tc
        np.subtract(1, dtanh, out=dtanh)
        dtanh *= dh
        dtanh *= o
        dc = dc + dtanh
        dz = np.empty_like(sig)
        np.multiply(dc, g, out=dz[:, :u])
        np.multiply(dc, c_prev, out=dz[:, u:2 * u])
        np.multiply(dh, tc, out=dz[:, 3 * u:])
        dz[:, 2 * u:3 * u] = 0  # not garbage (a NaN warning) under the product below
        dz *= sig - sig * sig  # sigmoid's gradient, then the c quarter's tanh gradient
        dg = dz[:, 2 * u:3 * u]
        np.multiply(g, g, out=dg)
        np.subtract(1, dg, out=dg)
        dg *= dc
        dg *= i
        grads["recurrent_kernel"] += h_prev.T @ dz
        return dz @ params["recurrent_kernel_t"], dc * f, dz

    def step_backward(self, params, step, dh, dc, grads):
        import numpy as np

        if self.fused:
            return self._fused_step_backward(params, step, dh, dc, grads)
        z, i, f, g, o, c, tc, c_prev, h_prev = step
        u = self.units
        gate_grad = activations.gradient(self.recurrent_activation)
        dc = dc + activations.gradient(self.activation)(c, tc, dh * o)
        dz = np.concatenate([gate_grad(z[:, :u], i, dc * g),
                             gate_grad(z[:, u:2 * u], f, dc * c_prev),
                             activations.gradient(self.activation)(z[:, 2 * u:3 * u], g, dc * i),
                             gate_grad(z[:, 3 * u:], o, dh * tc)], axis=1)
        grads["recurrent_kernel"] += h_prev.T @ dz
        return dz @ params["recurrent_kernel_t"], dc * f, dz


@register
@layer_class
class GRU(_Recurrent):
    recurrent_activation: str | None = arg(ActivationArg(), default="sigmoid")
    reset_after: bool = arg(Bool(), default=True, doc="apply the reset gate after the "
                            "recurrent product (Keras's default, CuDNN's form)")
    use_cudnn: object = arg(_BoolOrAuto(), default="auto", doc="accepted; no effect")

    gates = 3
    positional = ("units", "activation", "recurrent_activation", "use_bias",
                  "kernel_initializer", "recurrent_initializer", "bias_initializer")
    summary = "Gated recurrent unit (gates z, r, h), reset_after either way"
    weights_doc = ("kernel (features, 3 units), recurrent_kernel (units, 3 units), bias "
                   "(2, 3 units) with reset_after (input and recurrent biases), else (3 units,)")

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self, params):
        if not self.use_bias:
            return None
        return params["bias"][0] if self.reset_after else params["bias"]

    def add_input_bias_grad(self, grads, total):
        if self.reset_after:
            grads["bias"][0] += total
        else:
            grads["bias"] += total

    @property
    def fused(self) -> bool:
        return self.reset_after and super().fused

    def _fused_step(self, params, projected_t, h_prev):
        import numpy as np

        u = self.units
        rec = h_prev @ params["recurrent_kernel"]
        if self.use_bias:
            rec += params["bias"][1]
        zr = _sigmoid_in_place(projected_t[..., :2 * u] + rec[..., :2 * u])
        z, r, rh = zr[..., :u], zr[..., u:], rec[..., 2 * u:]
        hh = r * rh
        hh += projected_t[..., 2 * u:]
        np.tanh(hh, out=hh)
        h = h_prev - hh  # z * h_prev + (1 - z) * hh
        h *= z
        h += hh
        return h, None, (zr, hh, rh, h_prev)

    def _fused_step_backward(self, params, step, dh, grads):
        import numpy as np

        zr, hh, rh, h_prev = step
        u = self.units
        z, r = zr[:, :u], zr[:, u:]
        drec = np.empty((dh.shape[0], 3 * u), dtype=dh.dtype)
        dzr, dph = drec[:, :2 * u], np.empty_like(hh)
        np.subtract(h_prev, hh, out=dzr[:, :u])
        dzr[:, :u] *= dh
        np.multiply(hh, hh, out=dph)  # dph = dh (1 - z) (1 - hh^2)
        np.subtract(1, dph, out=dph)
        dph *= dh
        dph -= dph * z
        np.multiply(dph, rh, out=dzr[:, u:])
        dzr *= zr - zr * zr  # the sigmoid's gradient, both gates at once
        np.multiply(dph, r, out=drec[:, 2 * u:])
        grads["recurrent_kernel"] += h_prev.T @ drec
        if self.use_bias:
            grads["bias"][1] += drec.sum(axis=0)
        dh_prev = dh * z
        dh_prev += drec @ params["recurrent_kernel_t"]
        return dh_prev, None, np.concatenate([dzr, dph], axis=1)

    def step(self, params, projected_t, h_prev, state):
        if self.fused:
            return self._fused_step(params, projected_t, h_prev)
        u = self.units
        kernel = params["recurrent_kernel"]
        gate = activations.get(self.recurrent_activation)
        xz, xr, xh = projected_t[:, :u], projected_t[:, u:2 * u], projected_t[:, 2 * u:]
        if self.reset_after:
            rec = h_prev @ kernel
            if self.use_bias:
                rec = rec + params["bias"][1]
            rz, rr, rh = rec[:, :u], rec[:, u:2 * u], rec[:, 2 * u:]
            pz, pr = xz + rz, xr + rr
            z, r = gate(pz), gate(pr)
            ph = xh + r * rh
        else:
            pz, pr = xz + h_prev @ kernel[:, :u], xr + h_prev @ kernel[:, u:2 * u]
            z, r = gate(pz), gate(pr)
            rh = r * h_prev
            ph = xh + rh @ kernel[:, 2 * u:]
        hh = activations.get(self.activation)(ph)
        h = z * h_prev + (1 - z) * hh
        return h, None, (pz, pr, ph, z, r, hh, rh, h_prev)

    def step_backward(self, params, step, dh, dstate, grads):
        import numpy as np

        if self.fused:
            return self._fused_step_backward(params, step, dh, grads)
        pz, pr, ph, z, r, hh, rh, h_prev = step
        u = self.units
        kernel = params["recurrent_kernel"]
        gate_grad = activations.gradient(self.recurrent_activation)
        dpz = gate_grad(pz, z, dh * (h_prev - hh))
        dph = activations.gradient(self.activation)(ph, hh, dh * (1 - z))
        dh_prev = dh * z
        if self.reset_after:
            dpr = gate_grad(pr, r, dph * rh)
            drec = np.concatenate([dpz, dpr, dph * r], axis=1)
            grads["recurrent_kernel"] += h_prev.T @ drec
            if self.use_bias:
                grads["bias"][1] += drec.sum(axis=0)
            dh_prev = dh_prev + drec @ params["recurrent_kernel_t"]
        else:
            drh = dph @ kernel[:, 2 * u:].T
            dpr = gate_grad(pr, r, drh * h_prev)
            grads["recurrent_kernel"][:, :u] += h_prev.T @ dpz
            grads["recurrent_kernel"][:, u:2 * u] += h_prev.T @ dpr
            grads["recurrent_kernel"][:, 2 * u:] += rh.T @ dph
            dh_prev = dh_prev + drh * r + dpz @ kernel[:, :u].T + dpr @ kernel[:, u:2 * u].T
        return dh_prev, None, np.concatenate([dpz, dpr, dph], axis=1)
