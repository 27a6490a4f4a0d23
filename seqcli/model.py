"""Sequential: an input shape plus a list of layers, and itself a layer (for nesting)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from seqcli.args import Int, Optional, ShapeArg, arg
from seqcli.errors import SeqcliError
from seqcli.layers.base import Layer, Shape, WeightSpec, format_shape
from seqcli.registry import register

NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` "
             "or by calling the model on a batch of data; give the input shape in the spec "
             "(`input_shape:` or an `Input` entry), or with --input-shape or --input")


@register
@dataclass(frozen=True, kw_only=True)
class Sequential(Layer):
    layers: tuple = field(default=(), metadata={"doc": "the stacked layers"})
    input_shape: tuple | None = arg(Optional(ShapeArg()), default=None,
                                    doc="one sample's shape, batch excluded")
    batch_size: int | None = arg(Optional(Int(1)), default=None, doc="fixed batch size")
    weights: str | None = field(default=None, metadata={"doc": "a .npz of its own weights"})

    summary = "A stack of layers; nested, it shows as one row with all its params"
    weights_doc = "its layers' weights, keyed <model>/<layer>/<weight>"

    # ------------------------------------------------------------ building

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    @property
    def batch_input_shape(self) -> Shape:
        if self.input_shape is None:
            raise SeqcliError(NOT_BUILT)
        return (self.batch_size, *self.input_shape)

    def with_input(self, batch_input_shape: Shape) -> "Sequential":
        """This model built for a full input shape, which must fit the declared one."""
        if self.input_shape is not None:
            try:
                check_compatible(self.batch_input_shape, batch_input_shape, self.name)
            except ValueError as exc:
                raise SeqcliError(str(exc)) from None
        return dataclasses.replace(self, input_shape=tuple(batch_input_shape[1:]),
                                   batch_size=batch_input_shape[0])

    # ------------------------------------------------------------ shapes

    def trace(self, input_shape: Shape) -> list[Shape]:
        """Each layer's output shape; a shape error names the layer and its place."""
        if self.input_shape is not None:
            try:
                check_compatible((input_shape[0], *self.input_shape), input_shape, self.name)
            except ValueError as exc:
                raise SeqcliError(str(exc), self.where) from None
        shapes = []
        for index, layer in enumerate(self.layers):
            try:
                input_shape = layer.output_shape(input_shape)
            except ValueError as exc:
                raise SeqcliError(str(exc), locate(layer, index, self)) from None
            shapes.append(input_shape)
        return shapes

    def output_shape(self, input_shape):
        shapes = self.trace(input_shape)
        return shapes[-1] if shapes else input_shape

    def layer_inputs(self, input_shape: Shape, outputs: list | None = None) -> list[Shape]:
        """The input shape of each layer (from its outputs, when already traced)."""
        outputs = self.trace(input_shape) if outputs is None else outputs
        return [input_shape, *outputs[:-1]]

    def weight_specs(self, input_shape) -> list[WeightSpec]:
        """Every weight, keyed `layer/weight` (nested: `model/layer/weight`)."""
        specs = []
        for layer, shape in zip(self.layers, self.layer_inputs(input_shape)):
            for spec in layer.weight_specs(shape):
                specs.append(dataclasses.replace(
                    spec, name=f"{layer.name}/{spec.name}",
                    trainable=spec.trainable and layer.trainable))
        return specs

    # ------------------------------------------------------------ forward

    # ------------------------------------------------------------ masks (Embedding mask_zero)

    @functools.cached_property  # asked on every forward call; the layers never change
    def makes_masks(self) -> bool:
        return any(getattr(layer, "mask_zero", False) for layer in self.layers)

    def check_masks(self) -> bool:
        """Refuse a mask reaching a layer whose use of it seqcli lacks; True when the
        mask reaches the model's output (Keras would then mask the loss)."""
        alive = False
        for index, layer in enumerate(self.layers):
            if alive:
                if layer.masking == "refuses" or isinstance(layer, Sequential):
                    raise SeqcliError(
                        f"Embedding's mask_zero mask reaches this {type(layer).__name__}, "
                        "which would use it in Keras; seqcli does not support that yet "
                        "(masks work through RNNs, GlobalAveragePooling1D and layers that "
                        "leave them alone); use mask_zero: false", locate(layer, index, self))
                alive = layer.keeps_mask() if layer.masking == "uses" else \
                    layer.masking == "passes"
            if getattr(layer, "mask_zero", False):
                alive = True
        return alive

    def _run_masked(self, params, x, rng, training, wanted=frozenset()):
        """The forward pass carrying Keras's mask from an Embedding with mask_zero:
        (output, caches, collected outputs, extra loss)."""
        mask, caches, collected, penalty = None, [], {}, 0.0
        for layer in self.layers:
            layer_params = params.get(layer.name, {})
            made = (x != 0) if getattr(layer, "mask_zero", False) else None
            if mask is not None and layer.masking == "uses":
                x, cache, mask = layer.forward_masked(layer_params, x,
                                                      rng if training else None, mask)
            else:
                if training:
                    x, cache = layer.forward_train(layer_params, x, rng)
                else:
                    x, cache = layer.forward(layer_params, x), None
                mask = mask if layer.masking == "passes" else None
            mask = made if made is not None else mask
            caches.append(cache)
            penalty += layer.penalty(cache) if training else layer.output_penalty(x)
            if layer.name in wanted:
                collected[layer.name] = x
        return x, caches, collected, penalty

    # ------------------------------------------------------------ forward

    def forward(self, params, x):
        if self.makes_masks:
            return self._run_masked(params, x, None, training=False)[0]
        for layer in self.layers:
            x = layer.forward(params.get(layer.name, {}), x)
        return x

    def forward_train(self, params, x, rng):
        if self.makes_masks:
            y, caches, _, _ = self._run_masked(params, x, rng, training=True)
            return y, caches
        caches = []
        for layer in self.layers:
            x, cache = layer.forward_train(params.get(layer.name, {}), x, rng)
            caches.append(cache)
        return x, caches

    def penalty(self, cache) -> float:
        return sum(layer.penalty(c) for layer, c in zip(self.layers, cache))

    def forward_with_penalty(self, params, x) -> tuple:
        """(output, extra loss) at inference: what evaluate scores, as Keras does."""
        if self.makes_masks:
            y, _, _, penalty = self._run_masked(params, x, None, training=False)
            return y, penalty
        total = 0.0
        for layer in self.layers:
            layer_params = params.get(layer.name, {})
            if isinstance(layer, Sequential):
                x, extra = layer.forward_with_penalty(layer_params, x)
            else:
                x = layer.forward(layer_params, x)
                extra = layer.output_penalty(x)
            total += extra
        return x, total

    def backward(self, params, cache, dy):
        grads = {}
        for layer, layer_cache in zip(reversed(self.layers), reversed(cache)):
            dy, layer_grads = layer.backward(params.get(layer.name, {}), layer_cache, dy)
            if layer_grads:
                grads[layer.name] = layer_grads
        return dy, grads

    def forward_collect(self, params, x, names: set[str]) -> tuple[object, dict]:
        """The output, and the outputs of the named top-level layers."""
        if self.makes_masks:
            y, _, collected, _ = self._run_masked(params, x, None, False, frozenset(names))
            return y, collected
        collected = {}
        for layer in self.layers:
            x = layer.forward(params.get(layer.name, {}), x)
            if layer.name in names:
                collected[layer.name] = x
        return x, collected

    def config(self) -> dict:
        result = super().config()
        result["layers"] = [{type(layer).__name__: layer.config()} for layer in self.layers]
        if self.weights:
            result["weights"] = self.weights
        return result


def locate(layer: Layer, index: int, model: Sequential) -> str:
    """'file:line:col: layers[i] (Class 'name')', naming the model when nested."""
    place = f"layers[{index}] ({layer.describe()})"
    if model.name and model.where:  # a nested model
        place += f" in {model.name!r}"
    return f"{layer.where}: {place}" if layer.where else place


def check_compatible(expected: Shape, received: Shape, model_name: str) -> None:
    """Keras's input check: same rank, and equal sizes wherever both are known."""
    fits = len(expected) == len(received) and all(
        e is None or r is None or e == r for e, r in zip(expected, received))
    if not fits:
        raise ValueError(f'Input 0 of model "{model_name}" is incompatible with the model: '
                          f"expected shape={format_shape(expected)}, found "
                          f"shape={format_shape(received)}")
