"""Wrappers around another layer: Bidirectional (an RNN read both ways) and
TimeDistributed (one layer applied to every timestep)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from seqcli.args import Choice, Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, layer_class, require_rank
from seqcli.registry import register


class LayerArg:
    """A layer, written as a layer entry ({LSTM: {units: 8}}) in the spec."""

    def __init__(self, recurrent: bool = False):
        self.recurrent = recurrent
        self.describe = "a recurrent layer entry" if recurrent else "a layer entry"

    def __call__(self, name, value):
        if not isinstance(value, Layer) or (self.recurrent and not value.runs_over_time):
            kind = "a recurrent layer (SimpleRNN, LSTM, GRU, RNN, ConvLSTM1D/2D/3D)" \
                if self.recurrent else "a layer"
            raise ArgError(name, f"`{name}` must be {kind}, written as an entry such as "
                           f"{{LSTM: {{units: 8}}}}. Received: {name}={value!r}")
        return value


@layer_class
class _Wrapper(Layer):
    wraps: ClassVar[tuple] = ("layer",)  # arguments that hold layer entries

    def config(self) -> dict:
        result = super().config()
        for key in self.wraps:
            inner = getattr(self, key)
            if inner is not None:
                result[key] = {type(inner).__name__: inner.config()}
        return result


@register
@layer_class
class Bidirectional(_Wrapper):
    masking = "uses"  # both directions skip masked steps
    layer: Layer = arg(LayerArg(recurrent=True), doc="the recurrent layer, read forwards")
    merge_mode: str = arg(Choice("concat", "sum", "mul", "ave"), default="concat",
                          doc="how the two directions combine")
    backward_layer: Layer | None = arg(Optional(LayerArg(recurrent=True)), default=None,
                                       doc="default: a copy of layer reading backwards")

    wraps = ("layer", "backward_layer")
    positional = ("layer", "merge_mode", "weights", "backward_layer")
    summary = "Runs a recurrent layer forwards and backwards and merges the two"
    weights_doc = "the wrapped layer's, keyed forward/<weight> and backward/<weight>"

    def check(self):
        for key in self.wraps:  # Keras would regularize each direction's own output
            inner = getattr(self, key)
            if inner is not None and inner.regularizes_output:
                raise ArgError(key, "an activity_regularizer on a layer inside Bidirectional "
                               "is not supported; put it on the Bidirectional itself")
        if self.backward_layer is not None and \
                self.backward_layer.go_backwards == self.layer.go_backwards:
            raise ArgError("backward_layer", "Forward layer and backward layer should have "
                           "different `go_backwards` value.")

    @property
    def reverse(self) -> Layer:
        if self.backward_layer is not None:
            return self.backward_layer
        return dataclasses.replace(self.layer, go_backwards=not self.layer.go_backwards,
                                   name=f"backward_{self.layer.name}")

    def output_shape(self, input_shape):
        shape = self.layer.output_shape(input_shape)
        self.reverse.output_shape(input_shape)
        if self.merge_mode == "concat":
            return (*shape[:-1], shape[-1] + self.reverse.output_shape(input_shape)[-1])
        return shape

    def weight_rules(self):
        return {f"{direction}/{weight}": pair
                for direction, layer in (("forward", self.layer), ("backward", self.reverse))
                for weight, pair in layer.weight_rules().items()}

    def weight_specs(self, input_shape):
        return [dataclasses.replace(spec, name=f"{direction}/{spec.name}")
                for direction, layer in (("forward", self.layer), ("backward", self.reverse))
                for spec in layer.weight_specs(input_shape)]

    def forward_train(self, params, x, rng, mask=None):
        forward, backward = self.layer, self.reverse
        if mask is None:
            y, forward_cache = forward.forward_train(params["forward"], x, rng)
            y_rev, backward_cache = backward.forward_train(params["backward"], x, rng)
        else:  # Keras: with sequences, a masked step outputs zeros in both directions
            zeroed = {"zero_output_for_mask": self.layer.return_sequences}
            forward = dataclasses.replace(forward, **zeroed)
            backward = dataclasses.replace(backward, **zeroed)
            y, forward_cache, _ = forward.forward_masked(params["forward"], x, rng, mask)
            y_rev, backward_cache, _ = backward.forward_masked(params["backward"], x, rng, mask)
        if self.layer.return_sequences:
            y_rev = y_rev[:, ::-1]  # Keras flips the backward outputs back into time order
        return self._merge(y, y_rev), (forward_cache, backward_cache, y, y_rev, forward,
                                       backward)

    def forward(self, params, x):
        from seqcli.layers.recurrent import can_run_together, run_together

        directions = (self.layer, self.reverse)
        if not can_run_together(directions):
            return self.forward_train(params, x, None)[0]
        y, y_rev = run_together(directions, (params["forward"], params["backward"]), x)
        return self._merge(y, y_rev[:, ::-1] if self.layer.return_sequences else y_rev)

    def _merge(self, y, y_rev):
        import numpy as np

        return {"concat": lambda: np.concatenate([y, y_rev], axis=-1),
                "sum": lambda: y + y_rev, "ave": lambda: (y + y_rev) / 2,
                "mul": lambda: y * y_rev}[self.merge_mode]()

    def forward_masked(self, params, x, rng, mask, training=False):
        y, cache = self.forward_train(params, x, rng, mask)
        return y, cache, (mask if self.layer.return_sequences else None)

    def keeps_mask(self) -> bool:
        return self.layer.return_sequences

    def backward(self, params, cache, dy):
        forward_cache, backward_cache, y, y_rev, forward, backward = cache
        if self.merge_mode == "concat":
            dy_f, dy_b = dy[..., :y.shape[-1]], dy[..., y.shape[-1]:]
        elif self.merge_mode == "sum":
            dy_f = dy_b = dy
        elif self.merge_mode == "ave":
            dy_f = dy_b = dy / 2
        else:
            dy_f, dy_b = dy * y_rev, dy * y
        if self.layer.return_sequences:
            dy_b = dy_b[:, ::-1]
        dx_f, grads_f = forward.backward(params["forward"], forward_cache, dy_f)
        dx_b, grads_b = backward.backward(params["backward"], backward_cache, dy_b)
        return dx_f + dx_b, {"forward": grads_f, "backward": grads_b}


@register
@layer_class
class TimeDistributed(_Wrapper):
    # Keras hands each step's mask to the wrapped layer and passes the mask on; a wrapped
    # layer that would use it (an RNN, Softmax...) is refused
    @property
    def masking(self) -> str:
        return "refuses" if self.layer.masking in ("uses", "refuses") else "passes"

    layer: Layer = arg(LayerArg(), doc="the layer applied to every timestep")

    positional = ("layer",)
    summary = "Applies a layer to every timestep of (batch, timesteps, ...) data"
    weights_doc = "the wrapped layer's, under this layer's name"

    def _inner_shape(self, input_shape):
        require_rank(self, input_shape, max(3, len(input_shape)))
        return (None, *input_shape[2:])

    def output_shape(self, input_shape):
        inner = self.layer.output_shape(self._inner_shape(input_shape))
        return (input_shape[0], input_shape[1], *inner[1:])

    def weight_specs(self, input_shape):
        return self.layer.weight_specs(self._inner_shape(input_shape))

    def weight_rules(self):
        return self.layer.weight_rules()

    def forward_train(self, params, x, rng):
        flat = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
        y, cache = self.layer.forward_train(params, flat, rng)
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:]), (cache, x.shape)

    def forward(self, params, x):
        y = self.layer.forward(params, x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])

    def backward(self, params, cache, dy):
        inner_cache, shape = cache
        dx, grads = self.layer.backward(params, inner_cache,
                                        dy.reshape(shape[0] * shape[1], *dy.shape[2:]))
        return dx.reshape(shape), grads

    # the wrapped layer's own output term is over batch * timesteps samples, as in Keras
    @property
    def regularizes_output(self) -> bool:
        return self.activity_regularizer() is not None or self.layer.regularizes_output

    def penalty(self, y):
        flat = y.reshape(y.shape[0] * y.shape[1], *y.shape[2:])
        return super().penalty(y) + self.layer.penalty(flat)

    def penalty_gradient(self, y):
        grad = 0 if self.activity_regularizer() is None else super().penalty_gradient(y)
        if self.layer.regularizes_output:
            flat = y.reshape(y.shape[0] * y.shape[1], *y.shape[2:])
            grad = grad + self.layer.penalty_gradient(flat).reshape(y.shape)
        return grad

    def updates(self, cache):
        return self.layer.updates(cache[0])
