"""Sequential: an input shape plus a list of layers, and itself a layer (for nesting)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from seqcli.args import Int, Optional, ShapeArg, arg
from seqcli.errors import SeqcliError
from seqcli.layers.base import Layer, Shape, WeightSpec, format_shape, layer_class
from seqcli.registry import register

NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` "
             "or by calling the model on a batch of data; give the input shape in the spec "
             "(`input_shape:` or an `Input` entry), or with --input-shape or --input")

# plain inference of at least two blocks of this many samples runs block by block,
# the blocks shared among the cores (measured on the guide's MLP: 512-row blocks lost
# to plain multi-threaded BLAS on a quiet machine, 1024-row blocks did not, and on a
# busy one both were twice as fast as it)
ROW_BLOCK = 1024


@register
@layer_class
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
        batch_input_shape = tuple(batch_input_shape)
        if 0 in batch_input_shape[1:]:  # data with an empty axis: no sample to compute on
            raise SeqcliError(f"the data's samples have an axis of size 0 (shape "
                              f"{format_shape(batch_input_shape)}); every size after the "
                              "batch must be at least 1")
        if self.input_shape is not None:
            if batch_input_shape == self.batch_input_shape:
                return self  # the same model, and its plan is already traced
            try:
                check_compatible(self.batch_input_shape, batch_input_shape, self.name)
            except ValueError as exc:
                raise SeqcliError(str(exc)) from None
        return dataclasses.replace(self, input_shape=batch_input_shape[1:],
                                   batch_size=batch_input_shape[0])

    # ------------------------------------------------------------ the plan

    @functools.cached_property  # a frozen model's shapes never change: traced once
    def plan(self) -> "Plan":
        """The built model's plan for its own input shape (Keras's message if unbuilt)."""
        return self.plan_for(self.batch_input_shape)

    def plan_for(self, input_shape: Shape) -> "Plan":
        """Each layer's input and output shapes and weights; a shape error names the
        layer and its place."""
        if input_shape == self.__dict__.get("plan", _NO_PLAN).input_shape:
            return self.plan
        if self.input_shape is not None:
            try:
                check_compatible((input_shape[0], *self.input_shape), input_shape, self.name)
            except ValueError as exc:
                raise SeqcliError(str(exc), self.where) from None
        steps, shape = [], tuple(input_shape)
        keras = shape  # the shape as Keras sees it (EinsumDense's nulls kept)
        for index, layer in enumerate(self.layers):
            try:
                steps.append(_step(layer, shape))
                keras = _keras_shape(steps[-1], keras)
            except ValueError as exc:
                raise SeqcliError(str(exc), locate(layer, index, self)) from None
            shape = steps[-1].output_shape
        return Plan(tuple(input_shape), tuple(steps))

    # the Layer interface (a nested model is a layer), and shape queries
    def output_shape(self, input_shape):
        return self.plan_for(input_shape).output_shape

    def weight_specs(self, input_shape) -> list[WeightSpec]:
        return self.plan_for(input_shape).weight_specs()

    def trace(self, input_shape: Shape) -> list[Shape]:
        """Each layer's output shape."""
        return [step.output_shape for step in self.plan_for(input_shape).steps]

    def layer_inputs(self, input_shape: Shape) -> list[Shape]:
        """Each layer's input shape."""
        return [step.input_shape for step in self.plan_for(input_shape).steps]

    # ------------------------------------------------------------ masks (Embedding mask_zero)

    def check_masks(self, alive: bool = False) -> bool:
        """Refuse a mask reaching a layer whose use of it seqcli lacks; True when the
        mask reaches the model's output (the loss and metrics are then masked)."""
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Sequential):  # a nested model takes and gives masks
                alive = layer.check_masks(alive)
                continue
            if alive:
                if layer.masking == "refuses":
                    raise SeqcliError(
                        f"a Keras mask (Embedding's mask_zero, or Masking) reaches this "
                        f"{type(layer).__name__}, which would use it in Keras; seqcli does "
                        "not support that yet; use mask_zero: false or drop the Masking",
                        locate(layer, index, self))
                alive = layer.keeps_mask() if layer.masking == "uses" else \
                    layer.masking == "passes"
            if layer.makes_mask:
                alive = True
        return alive

    # ------------------------------------------------------------ the forward pass

    def run(self, params, x, training: bool = False, rng=None, keep=frozenset(),
            mask=None) -> "Pass":
        """The one forward traversal: inference or training (`rng` drives randomness),
        the outputs of the layers named in `keep`, Keras's masks (from an Embedding with
        mask_zero, or `mask` coming in), the layers' extra loss terms, and (training)
        the state updates."""
        if not (training or keep or mask is not None or self._involved):
            if len(x) >= 2 * ROW_BLOCK:
                return Pass(self._forward_blocks(params, x))
            for layer in self.layers:  # plain inference: nothing to track, per layer
                x = layer.forward(params.get(layer.name, {}), x)
            return Pass(x)
        result = Pass(x)
        for layer in self.layers:
            layer_params = params.get(layer.name, {})
            made = layer.make_mask(x) if layer.makes_mask else None
            if isinstance(layer, Sequential):
                inner = layer.run(layer_params, x, training, rng, inner_keep(keep, layer.name),
                                  mask=mask)
                x, cache, mask = inner.output, inner, inner.mask
                result.add_inner(layer.name, inner)
            elif mask is not None and layer.masking == "uses":
                try:
                    x, cache, mask = layer.forward_masked(
                        layer_params, x, rng if training else None, mask, training)
                except ValueError as exc:  # a mask that does not fit, in Keras's words
                    raise SeqcliError(f"layer {layer.name!r} ({type(layer).__name__}): "
                                      f"{exc}") from None
            else:
                given = x
                if training:
                    x, cache = layer.forward_train(layer_params, x, rng)
                else:
                    x, cache = layer.forward(layer_params, x), None
                # Keras keeps a mask where the layer passes it on, and where its output is
                # its input itself (an identity Permute or Reshape: the mask rides on it)
                mask = mask if layer.masking == "passes" or x is given else None
            mask = made if made is not None else mask
            result.caches.append(cache)
            if layer.regularizes_output:
                result.penalty += layer.penalty(x)
                if training:
                    result.regularized[layer.name] = x  # its term's gradient needs the output
            if training:
                result.add_updates(layer.name, layer.updates(cache))
            if layer.name in keep:
                result.collected[layer.name] = x
        result.output, result.mask = x, mask
        return result

    def _forward_blocks(self, params, x):
        """Plain inference of a large batch in blocks of rows, shared among the cores:
        each block's activations stay in cache from layer to layer, and each core runs
        whole blocks with BLAS on one thread (at inference every layer treats each
        sample on its own, so the blocks are independent)."""
        import numpy as np

        from seqcli.threads import run_split

        starts = list(range(0, len(x), ROW_BLOCK))
        outputs = [None] * len(starts)

        def work(part):
            for start in part:
                y = x[start:start + ROW_BLOCK]
                for layer in self.layers:
                    y = layer.forward(params.get(layer.name, {}), y)
                outputs[start // ROW_BLOCK] = y

        run_split(starts, work)
        return np.concatenate(outputs)

    @functools.cached_property  # asked on every batch; the layers never change
    def _involved(self) -> bool:
        """Whether inference has more to track than outputs: masks, loss terms, nesting."""
        return any(layer.makes_mask or layer.regularizes_output or isinstance(layer, Sequential)
                   for layer in self.layers)

    def forward(self, params, x):
        return self.run(params, x).output

    def forward_train(self, params, x, rng):
        result = self.run(params, x, training=True, rng=rng)
        return result.output, result

    def backward(self, params, cache: "Pass", dy, input_grad: bool = True):
        """(dL/dx, {layer: {weight: gradient}}); without `input_grad` (training needs no
        gradient of the data) dL/dx is None and the first layer may skip computing it."""
        grads = {}
        first = self.layers[0] if self.layers else None
        for layer, layer_cache in zip(reversed(self.layers), reversed(cache.caches)):
            if layer.name in cache.regularized:
                dy = dy + layer.penalty_gradient(cache.regularized[layer.name])
            if layer is first and not input_grad and not isinstance(layer, Sequential):
                dy, layer_grads = None, layer.backward_weights(params.get(layer.name, {}),
                                                               layer_cache, dy)
            else:
                dy, layer_grads = layer.backward(params.get(layer.name, {}), layer_cache, dy)
            if layer_grads:
                grads[layer.name] = layer_grads
        return dy, grads

    def config(self) -> dict:
        result = super().config()
        result["layers"] = [{type(layer).__name__: layer.config()} for layer in self.layers]
        if self.weights:
            result["weights"] = self.weights
        return result


def inner_keep(keep, name: str) -> frozenset:
    """The paths in `keep` that lead into the nested model `name`, relative to it."""
    return frozenset(path.partition("/")[2] for path in keep if path.startswith(name + "/"))


@dataclass
class Pass:
    """What one forward traversal gives: the output, each layer's cache (for backward),
    the kept outputs, the extra loss (Keras's add_loss) and the state updates
    (`layer/weight` -> new value, e.g. BatchNormalization's moving statistics)."""

    output: object
    mask: object = None  # Keras's mask on the output (the loss and metrics skip its zeros)
    caches: list = field(default_factory=list)
    collected: dict = field(default_factory=dict)
    penalty: float = 0.0
    updates: dict = field(default_factory=dict)
    regularized: dict = field(default_factory=dict)  # outputs of activity-regularized layers

    def add_inner(self, name: str, inner: "Pass") -> None:
        self.collected.update({f"{name}/{key}": value for key, value in inner.collected.items()})
        self.penalty += inner.penalty
        self.add_updates(name, inner.updates)

    def add_updates(self, name: str, updates: dict) -> None:
        for key, value in updates.items():
            self.updates[f"{name}/{key}"] = value


@dataclass(frozen=True)
class Step:
    """One layer of a built model: its input and output shapes and its weights."""

    layer: Layer
    input_shape: Shape
    output_shape: Shape
    weights: tuple  # WeightSpecs keyed within the layer, trainable only if the layer is
    inner: "Plan | None" = None  # a nested model's own plan


@dataclass(frozen=True)
class Plan:
    """A built model: every layer with its shapes and weights, traced once."""

    input_shape: Shape
    steps: tuple

    @property
    def output_shape(self) -> Shape:
        return self.steps[-1].output_shape if self.steps else self.input_shape

    def weight_specs(self) -> list[WeightSpec]:
        """Every weight, keyed `layer/weight` (nested: `model/layer/weight`)."""
        return [dataclasses.replace(spec, name=f"{step.layer.name}/{spec.name}")
                for step in self.steps for spec in step.weights]

    def weight_rules(self) -> dict:
        """{`layer/weight`: (regularizer, constraint)} for the weights that have either."""
        rules = {}
        for step in self.steps:
            inner = step.inner.weight_rules() if step.inner else step.layer.weight_rules()
            rules.update({f"{step.layer.name}/{key}": pair for key, pair in inner.items()})
        return rules

    def step(self, name: str) -> Step:
        """The step of a layer, by name or by path into nested models (`base/conv2d`)."""
        outer, _, rest = name.partition("/")
        step = next(step for step in self.steps if step.layer.name == outer)
        return step.inner.step(rest) if rest else step

    def layer_paths(self) -> list[str]:
        """Every layer's name, and `outer/inner` paths to the layers of nested models."""
        paths = []
        for step in self.steps:
            paths.append(step.layer.name)
            if step.inner is not None:
                paths += [f"{step.layer.name}/{inner}" for inner in step.inner.layer_paths()]
        return paths


_NO_PLAN = Plan((), ())


def _step(layer: Layer, input_shape: Shape) -> Step:
    if isinstance(layer, Sequential):
        inner = layer.plan_for(input_shape)
        specs = inner.weight_specs()
    else:
        inner = None
        output = layer.output_shape(input_shape)
        specs = layer.weight_specs(input_shape)
    weights = tuple(specs) if layer.trainable else tuple(
        dataclasses.replace(spec, trainable=False) for spec in specs)
    return Step(layer, input_shape, inner.output_shape if inner else output, weights, inner)


def _keras_shape(step: Step, keras_in: Shape) -> Shape:
    """The output shape Keras builds, from the input shape Keras sees. An EinsumDense
    output_shape's null is None for Keras though the data fills it; Keras then refuses a
    layer that needs that size (a kernel sized by it, a ConvLSTM's frame), so seqcli
    refuses it too (ValueError). Where seqcli's shape arithmetic cannot take the None
    (TypeError), the data's shape goes on, as the summary shows it."""
    layer = step.layer
    own = type(layer).keras_output_shape is not Layer.keras_output_shape
    if step.inner is not None or (keras_in == step.input_shape and not own):
        return step.output_shape
    try:
        if keras_in != step.input_shape:
            for spec in layer.weight_specs(keras_in):
                if None in spec.shape:
                    raise ValueError(
                        "Shapes used to initialize variables must be fully-defined (no "
                        f"`None` dimensions). Received: shape={format_shape(spec.shape)} "
                        f"for variable path='{layer.name}/{spec.name}' (Keras sees the "
                        f"input as {format_shape(keras_in)}: an EinsumDense output_shape's "
                        "null stays None; give that size instead of null)")
        return layer.keras_output_shape(keras_in)
    except TypeError:
        return step.output_shape


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
