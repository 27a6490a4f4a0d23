"""Keras's generic RNN and its cells: SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells.

A cell holds one step's arguments (units, activations, initializers, dropout); the RNN
holds the sequence's (return_sequences, go_backwards, zero_output_for_mask). An RNN of
one cell computes exactly what the matching layer does (RNN(LSTMCell(4)) is LSTM(4)),
so it runs as that layer. Stacked cells run one after another at each step; since a
cell sees only its own state and the step's input from the cell below, that equals the
cells run as layers one after another over the whole sequence (all but the last
returning sequences), which is how seqcli runs them. A masked step keeps every cell's
state in both forms.
"""

from __future__ import annotations

import dataclasses
from dataclasses import make_dataclass
from typing import ClassVar

from seqcli.args import Bool, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, layer_class, require_rank
from seqcli.layers.recurrent import GRU, LSTM, OverTime, SimpleRNN, _Recurrent
from seqcli.registry import register

# a recurrent layer's arguments that belong to the RNN, not to its cell
SEQUENCE_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                 "zero_output_for_mask", "use_cudnn")


@layer_class
class _Cell(Layer):
    """One step of a recurrent layer; it runs only inside an RNN."""

    layer_class: ClassVar[type] = _Recurrent
    is_cell: ClassVar[bool] = True
    takes_activity_regularizer = False  # Keras would regularize every step's output

    def output_shape(self, input_shape):
        raise ValueError(f"{type(self).__name__} is a recurrent cell, one step of a layer: "
                         f"wrap it in an RNN, {{RNN: {{cell: {{{type(self).__name__}: ...}}}}}}")

    def as_layer(self, **sequence_args) -> _Recurrent:
        """The recurrent layer this cell makes with the RNN's sequence arguments."""
        args = {f.name: getattr(self, f.name) for f in self.arguments()}
        return self.layer_class(**args, **sequence_args, rules=self.rules)


def _cell_class(name: str, layer_class: type, summary: str) -> type:
    """SimpleRNNCell from SimpleRNN...: the layer's own arguments but the sequence ones."""
    base = {f.name for f in dataclasses.fields(Layer)}
    fields = [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
              for f in layer_class.arguments()
              if f.name not in base and f.name not in SEQUENCE_ARGS]
    # __doc__ given: otherwise dataclasses writes one from inspect.signature, slowly
    namespace = {"__doc__": summary, "layer_class": layer_class, "summary": summary,
                 "positional": layer_class.positional, "weights_doc": layer_class.weights_doc,
                 "weight_args": layer_class.weight_args, "__module__": __name__}
    return register(make_dataclass(name, fields, bases=(_Cell,), kw_only=True, init=False,
                                   eq=False, repr=False, namespace=namespace))


SimpleRNNCell = _cell_class("SimpleRNNCell", SimpleRNN,
                            "One step of SimpleRNN, for RNN (runs only inside an RNN)")
LSTMCell = _cell_class("LSTMCell", LSTM, "One step of LSTM, for RNN (runs only inside an RNN)")
GRUCell = _cell_class("GRUCell", GRU, "One step of GRU, for RNN (runs only inside an RNN)")


class CellArg:
    """A cell entry ({LSTMCell: {units: 4}}), or a list of them (StackedRNNCells')."""

    def __init__(self, many: bool = False):
        self.many = many
        self.describe = "a list of cell entries" if many else "a cell entry"

    def __call__(self, name, value):
        values = value if self.many and isinstance(value, (list, tuple)) else (value,)
        if self.many and not isinstance(value, (list, tuple)):
            values = ()
        if not values or not all(isinstance(v, _Cell) for v in values):
            want = "a list of cells" if self.many else "a cell (SimpleRNNCell, LSTMCell, " \
                "GRUCell or StackedRNNCells)"
            raise ArgError(name, f"`{name}` must be {want}, written as entries such as "
                           f"{{LSTMCell: {{units: 8}}}}. Received: {name}={value!r}")
        return tuple(values) if self.many else value


@register
@layer_class
class StackedRNNCells(_Cell):
    cells: tuple = arg(CellArg(many=True), doc="the cells, run one after another each step")

    wraps = ("cells",)
    positional = ("cells",)
    summary = "Several cells run one after another at each step, for RNN"
    weights_doc = "each cell's, keyed <cell name>/<weight>"

    def check(self):
        if len(self.cells) < 2:  # Keras 3 (on JAX) fails on a stack of one cell
            raise ArgError("cells", "StackedRNNCells needs at least two cells; for one, use "
                           "the cell itself as the RNN's cell")
        if any(isinstance(c, StackedRNNCells) for c in self.cells):
            raise ArgError("cells", "a StackedRNNCells inside StackedRNNCells: list its "
                           "cells directly")
        names = [c.name for c in self.cells]
        if len(set(names)) != len(names):
            raise ArgError("cells", f"the cells' names must differ (they key the weights); "
                           f"received {names}")

    def config(self) -> dict:
        result = super().config()
        result["cells"] = [{type(c).__name__: c.config()} for c in self.cells]
        return result


@register
@layer_class
class RNN(OverTime, Layer):
    cell: Layer = arg(CellArg(), doc="the cell (or StackedRNNCells) run at each step")
    return_sequences: bool = arg(Bool(), default=False, doc="output every step, not the last")
    return_state: bool = arg(Bool(), default=False, doc="not supported: one output only")
    go_backwards: bool = arg(Bool(), default=False, doc="read the sequence from its end")
    stateful: bool = arg(Bool(), default=False, doc="not supported")
    unroll: bool = arg(Bool(), default=False, doc="accepted; no effect on results")
    zero_output_for_mask: bool = arg(Bool(), default=False,
                                     doc="a masked step outputs zeros, not the last output")

    wraps: ClassVar[tuple] = ("cell",)
    positional = ("cell", "return_sequences", "return_state", "go_backwards", "stateful",
                  "unroll", "zero_output_for_mask")
    summary = "Runs a cell (or stacked cells) over a sequence; RNN(LSTMCell) is LSTM"
    weights_doc = ("the cell's (kernel, recurrent_kernel, bias); stacked cells' keyed "
                   "<cell name>/<weight>")

    @classmethod
    def create(cls, args: dict, where: str = "") -> "RNN":
        if isinstance(args.get("cell"), tuple):  # Keras: a list of cells is stacked
            try:
                args = {**args, "cell": StackedRNNCells.create(
                    {"cells": args["cell"], "name": f"{args.get('name', 'rnn')}_cells"})}
            except ArgError as exc:
                raise ArgError("cell", str(exc)) from None
        return super().create(args, where)

    def config(self) -> dict:
        result = super().config()
        result["cell"] = {type(self.cell).__name__: self.cell.config()}
        return result

    @property
    def stacked(self) -> bool:
        return isinstance(self.cell, StackedRNNCells)

    def cell_list(self) -> tuple:
        return self.cell.cells if self.stacked else (self.cell,)

    def steps(self) -> list:
        """(cell, its recurrent layer, weight prefix), bottom cell first."""
        cells, result = self.cell_list(), []
        for index, cell in enumerate(cells):
            last = index == len(cells) - 1
            layer = cell.as_layer(
                return_sequences=self.return_sequences or not last,
                go_backwards=self.go_backwards and index == 0,  # the rest read its order
                zero_output_for_mask=self.zero_output_for_mask and last)
            result.append((cell, layer, f"{cell.name}/" if self.stacked else ""))
        return result

    def shapes(self, input_shape) -> list:
        """Each inner layer's input shape, and the output shape last."""
        require_rank(self, input_shape, 3)  # named as Keras names it: the RNN
        shapes = [input_shape]
        for _, layer, _ in self.steps():
            shapes.append(layer.output_shape(shapes[-1]))
        return shapes

    def output_shape(self, input_shape):
        return self.shapes(input_shape)[-1]

    def weight_specs(self, input_shape):
        specs = []
        for (cell, layer, prefix), shape in zip(self.steps(), self.shapes(input_shape)):
            for spec in layer.weight_specs(shape):
                specs.append(dataclasses.replace(spec, name=prefix + spec.name,
                                                 trainable=spec.trainable and cell.trainable))
        return specs

    def weight_rules(self):
        return {prefix + weight: pair for _, layer, prefix in self.steps()
                for weight, pair in layer.weight_rules().items()}

    def _params(self, params, prefix):
        return params[prefix[:-1]] if prefix else params

    def _run(self, params, x, rng, mask):
        caches = []
        for index, (_, layer, prefix) in enumerate(self.steps()):
            if index == 1 and mask is not None and self.go_backwards:
                mask = mask[:, ::-1]  # later cells read the first one's (reversed) order
            if mask is None:
                x, cache = layer.forward_train(self._params(params, prefix), x, rng)
            else:
                x, cache, _ = layer.forward_masked(self._params(params, prefix), x, rng, mask)
            caches.append(cache)
        return x, caches

    def backward(self, params, cache, dy):
        grads = {}
        for (cell, layer, prefix), inner in reversed(list(zip(self.steps(), cache))):
            dy, inner_grads = layer.backward(self._params(params, prefix), inner, dy)
            if not cell.trainable:
                continue
            if prefix:
                grads[prefix[:-1]] = inner_grads
            else:
                grads.update(inner_grads)
        return dy, grads
