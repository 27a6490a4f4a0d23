"""A small ONNX graph builder that knows where Keras's axes are.

Keras keeps channels last; ONNX's convolutions, pooling and resizing want channels
first. Every tensor in the graph is a `Value`: an ONNX tensor plus the permutation
that takes the Keras tensor to it. Layers that care about layout ask for the one
they need (`Graph.layout`), and a Transpose is added only when the layout differs,
so a run of convolutions stays channels-first and transposes back only once, where
a layer needs Keras's layout (or at the output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Value:
    """An ONNX tensor holding the Keras tensor transposed by `perm`."""

    name: str
    perm: tuple  # ONNX axis k holds Keras axis perm[k]

    @property
    def rank(self) -> int:
        return len(self.perm)

    def position(self, keras_axis: int) -> int:
        """Where a Keras axis (negative counts from the end) sits in the ONNX tensor."""
        return self.perm.index(keras_axis % self.rank)

    def relabel(self, name: str) -> "Value":
        """An elementwise result: same layout, new tensor."""
        return Value(name, self.perm)


def identity(rank: int) -> tuple:
    return tuple(range(rank))


def channels_first(rank: int) -> tuple:
    """The permutation from channels-last (N, *spatial, C) to (N, C, *spatial)."""
    return (0, rank - 1, *range(1, rank - 1))


class Graph:
    """Nodes and constants added in order; names are unique and say which layer."""

    def __init__(self):
        self.nodes, self.initializers = [], []
        self.scope = ""
        self._count = [0]  # shared with subgraphs, so that every name is unique
        self._moved: dict[tuple, str] = {}

    def child(self) -> "Graph":
        """A subgraph (a Scan's body): its own nodes; its constants live in this graph,
        which the body reads from the outer scope."""
        sub = Graph()
        sub.initializers, sub._count, sub.scope = self.initializers, self._count, self.scope
        return sub

    def fresh(self, hint: str) -> str:
        self._count[0] += 1
        prefix = f"{self.scope}/" if self.scope else ""
        return f"{prefix}{hint}_{self._count[0]}"

    def op(self, op_type: str, inputs, outputs: int = 1, **attributes):
        """Add a node; its output name (or names, when there are several)."""
        names = [self.fresh(op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names,
                                           name=self.fresh(op_type + "_node"), **attributes))
        return names[0] if outputs == 1 else names

    def op_named(self, op_type: str, inputs, output: str, **attributes) -> str:
        """Add a node whose output has a given name (the graph's outputs)."""
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=self.fresh(op_type + "_node"), **attributes))
        return output

    def const(self, array, hint: str = "const", dtype=np.float32) -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(list(values), hint, np.int64)

    # ------------------------------------------------------------ layouts

    def layout(self, value: Value, perm) -> str:
        """The tensor holding value's Keras tensor transposed by `perm` (one Transpose
        at most, made once per tensor and layout)."""
        perm = tuple(perm)
        if value.perm == perm:
            return value.name
        key = (value.name, perm)
        if key not in self._moved:
            steps = [value.perm.index(axis) for axis in perm]
            self._moved[key] = self.op("Transpose", [value.name], perm=steps)
        return self._moved[key]

    def keras(self, value: Value) -> str:
        """The tensor in Keras's own layout."""
        return self.layout(value, identity(value.rank))

    def broadcast(self, array, value: Value, hint: str = "const") -> str:
        """A constant that broadcasts against the Keras tensor as numpy would (aligned to
        the trailing axes), laid out to match `value`'s ONNX tensor."""
        array = np.asarray(array, dtype=np.float32)
        full = array.reshape((1,) * (value.rank - array.ndim) + array.shape)
        return self.const(full.transpose(value.perm), hint)

    def along(self, vector, value: Value, keras_axis: int, hint: str = "const") -> str:
        """A vector laid along one Keras axis, broadcasting over the others."""
        shape = [1] * value.rank
        shape[value.position(keras_axis)] = -1
        return self.const(np.asarray(vector, dtype=np.float32).reshape(shape), hint)

    # ------------------------------------------------------------ shapes

    def shape_part(self, name: str, start: int, end: int | None = None) -> str:
        """Part of a tensor's shape as a 1-D int64 tensor (dynamic sizes included)."""
        attributes = {"start": start} if end is None else {"start": start, "end": end}
        return self.op("Shape", [name], **attributes)

    def reshape(self, name: str, *parts) -> str:
        """Reshape to the concatenation of parts: lists of ints (constants) or names of
        1-D int64 tensors (from shape_part)."""
        pieces = [self.ints(p) if isinstance(p, (list, tuple)) else p for p in parts]
        shape = pieces[0] if len(pieces) == 1 else self.op("Concat", pieces, axis=0)
        return self.op("Reshape", [name, shape])

    def reduce(self, op_type: str, name: str, axes, keepdims: bool = True) -> str:
        """ReduceMean/Max/Sum over axes (opset 17: ReduceSum takes them as an input)."""
        axes = sorted(axes)
        if op_type == "ReduceSum":
            return self.op(op_type, [name, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.op(op_type, [name], axes=axes, keepdims=int(keepdims))

    def reverse_time(self, name: str, axis: int = 1) -> str:
        """The tensor read from the end along `axis` (Slice with step -1)."""
        return self.op("Slice", [name, self.ints([-1]), self.ints([-INT64_MAX]),
                                 self.ints([axis]), self.ints([-1])])

    # ------------------------------------------------------------ the model

    def model(self, input_name: str, input_shape, output_name: str, output_shape,
              extra_outputs=(), graph_name: str = "seqcli"):
        """The model: one float input, one float output, and extra outputs given as
        (name, shape) for floats or (name, shape, element type)."""
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, _dims(input_shape))],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, _dims(output_shape))]
            + [helper.make_tensor_value_info(name, kind[0] if kind else TensorProto.FLOAT,
                                             _dims(shape))
               for name, shape, *kind in extra_outputs],
            self.initializers)
        from seqcli import __version__

        # make_model_gen_version stamps the IR version the opset came with (8 for opset
        # 17), which every current runtime reads; make_model would stamp onnx's newest
        return helper.make_model_gen_version(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="seqcli",
            producer_version=__version__)


def _dims(shape):
    """ONNX dimensions: the batch (and any unknown size) symbolic."""
    return ["batch" if i == 0 else (None if d is None else d) for i, d in enumerate(shape)]
