"""EinsumDense: y = activation(einsum(equation, x, kernel) + bias), Keras 3's layer.

Keras takes three forms of equation: "ab,bc->ac" (every input axis named), "...b,bc->...c"
(leading axes elided) and "abc...,cd->abd..." (trailing axes elided, two letters at least
before them). The elided axes pass through; `output_shape` gives the output's sizes but
the batch (and the elided ones), None where an axis keeps its input size. The bias spans
the output from the first of `bias_axes` to the end, with size 1 on the axes in between
that are not bias axes. Keras sizes the default kernel initializer's fans by the kernel's
axes that meet the input (fan in) and the output (fan out), not by its last two axes.
"""

from __future__ import annotations

import re

from seqcli.args import ActivationArg, InitializerArg, arg
from seqcli.errors import ArgError
from seqcli.layers.base import Layer, WeightSpec, format_shape, layer_class
from seqcli.registry import register

FORMS = (("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", ""),
         ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", "left"),
         ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", "right"))


class _Equation:
    describe = "einsum equation: ab,bc->ac | ...b,bc->...c | abc...,cd->abd..."

    def __call__(self, name, value):
        if not isinstance(value, str) or _parse(value) is None:
            raise ArgError(name, f"Invalid einsum equation '{value}'. Equations must be in "
                           "the form [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
        return value


class _PartialShape:
    describe = "int | list of (int | null)"

    def __call__(self, name, value):
        values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(values, (list, tuple)) or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)
                for v in values):
            raise ArgError(name, f"`{name}` must be an integer or a list of positive integers "
                           f"and nulls (the output's sizes without the batch axis). "
                           f"Received: {name}={value!r}")
        return tuple(values)


class _BiasAxes:
    describe = "letters of the output | null"

    def __call__(self, name, value):
        if value is not None and (not isinstance(value, str) or not value.isalpha()):
            raise ArgError(name, f"`{name}` must be letters of the equation's output, or null. "
                           f"Received: {name}={value!r}")
        return value


def _parse(equation):
    """(input letters, kernel letters, output letters, elided side) or None."""
    dotted = re.sub(r"\.\.\.", "0", equation)
    for pattern, side in FORMS:
        match = re.fullmatch(pattern, dotted)
        if match:
            return (*match.groups(), side)
    return None


@register
@layer_class
class EinsumDense(Layer):
    equation: str = arg(_Equation(), doc="how input and kernel combine")
    partial_output_shape: tuple = arg(_PartialShape(), keras="output_shape",
                                      doc="the output's sizes without the batch (and elided) "
                                          "axes; null keeps an input size")
    activation: str | None = arg(ActivationArg(), default=None)
    bias_axes: str | None = arg(_BiasAxes(), default=None, doc="output letters with a bias")
    kernel_initializer: object = arg(InitializerArg(), default="glorot_uniform")
    bias_initializer: object = arg(InitializerArg(), default="zeros")

    weight_args = {"kernel": "kernel", "bias": "bias"}
    positional = ("equation", "output_shape", "activation", "bias_axes", "kernel_initializer",
                  "bias_initializer")
    summary = "A dense layer written as an einsum: any input, kernel and output axes"
    weights_doc = "kernel (the equation's kernel letters), bias (output from the first bias " \
        "axis on, 1 where not a bias axis)"

    # ------------------------------------------------------------ Keras's analysis

    def analyze(self, input_shape):
        """(kernel shape, bias shape or None, full output shape, fan-in axes, fan-out
        axes), as Keras's _analyze_split_string works them out; its errors in its words."""
        inputs, kernel, outputs, side = _parse(self.equation)
        elided = len(input_shape) - len(inputs)
        shape = [input_shape[0], *self.partial_output_shape]
        if elided > 0 and side == "left":
            for i in range(1, elided):
                shape.insert(1, input_shape[i])
        elif elided > 0 and side != "left":
            shape += input_shape[len(input_shape) - elided:]
        if side == "left":
            in_at = {d: i + elided - len(input_shape) for i, d in enumerate(inputs)}
            out_at = {d: i + elided for i, d in enumerate(outputs)}
        else:
            in_at = {d: i for i, d in enumerate(inputs)}
            out_at = {d: i for i, d in enumerate(outputs)}
        self._check_letters(inputs, kernel, outputs, input_shape, shape, in_at, out_at)
        kernel_shape, fan_in, fan_out = [], [], []
        for i, d in enumerate(kernel):
            if d in out_at:
                kernel_shape.append(shape[out_at[d]])
                fan_out.append(i)
            else:
                kernel_shape.append(input_shape[in_at[d]])
                fan_in.append(i)
        if None in kernel_shape:
            raise ValueError(f"EinsumDense's kernel {self.equation!r} needs every kernel axis "
                             f"sized; got {tuple(kernel_shape)} from input_shape="
                             f"{format_shape(input_shape)} and output_shape="
                             f"{self.partial_output_shape}")
        return tuple(kernel_shape), self._bias_shape(outputs, shape, elided, side), \
            tuple(shape), fan_in, fan_out

    def _check_letters(self, inputs, kernel, outputs, input_shape, shape, in_at, out_at):
        if len(inputs) > len(input_shape) or (len(inputs) < len(input_shape) and
                                             "..." not in self.equation):
            raise ValueError(f"EinsumDense's equation {self.equation!r} names "
                             f"{len(inputs)} input axes; the input has {len(input_shape)} "
                             f"(shape {format_shape(input_shape)})")
        for d in set(outputs):
            if outputs.count(d) > 1:  # einsum itself refuses it (Keras's call too)
                raise ValueError(f"EinsumDense's equation {self.equation!r} names '{d}' "
                                 f"{outputs.count(d)} times in its output '{outputs}'; an "
                                 "output letter may appear once")
        for d in set(inputs):
            sizes = {input_shape[in_at[d] - inputs.rindex(d) + i]
                     for i, letter in enumerate(inputs) if letter == d}
            if len(sizes) > 1 or (inputs.count(d) > 1 and None in sizes):
                raise ValueError(f"EinsumDense's equation {self.equation!r} names '{d}' for "
                                 f"input axes of sizes {format_sizes(sizes)} (input shape "
                                 f"{format_shape(input_shape)}); a repeated letter's axes "
                                 "need one known size")
        for d in inputs:
            if d in out_at and shape[out_at[d]] is not None and \
                    shape[out_at[d]] != input_shape[in_at[d]]:
                raise ValueError(f"Input shape and output shape do not match at shared "
                                 f"dimension '{d}'. Input shape is {input_shape[in_at[d]]}, "
                                 f"and output shape is {shape[out_at[d]]}.")
        for d in outputs:
            if d not in inputs and d not in kernel:
                raise ValueError(f"Dimension '{d}' was specified in the output '{outputs}' "
                                 f"but has no corresponding dim in the input spec '{inputs}' "
                                 f"or weight spec '{kernel}'")
        for d in kernel:
            if d not in out_at and d not in in_at:
                raise ValueError(f"Weight dimension '{d}' did not have a match in either the "
                                 f"input spec '{inputs}' or the output spec '{outputs}'. For "
                                 "this layer, the weight must be fully specified.")
        if len(shape) != len(outputs) + max(0, len(input_shape) - len(inputs)):
            raise ValueError(f"EinsumDense's output_shape {self.partial_output_shape} does not "
                             f"fit the equation's output '{outputs}' (one size per letter "
                             "but the batch's)")

    def _bias_shape(self, outputs, shape, elided, side):
        if self.bias_axes is None:
            return None
        for char in self.bias_axes:
            if char not in outputs:
                raise ValueError(f"Bias dimension '{char}' was requested, but is not part of "
                                 f"the output spec '{outputs}'")
        first = min(outputs.find(c) for c in self.bias_axes)
        offset = elided if side == "left" else 0
        sizes = {c: shape[i + offset] for i, c in enumerate(outputs)}
        bias = [sizes[c] if c in self.bias_axes else 1 for c in outputs[first:]]
        if side != "left":
            bias += [1] * max(elided, 0)
        if None in bias:
            raise ValueError(f"EinsumDense's bias axes {self.bias_axes!r} need their output "
                             f"sizes; output_shape gives {self.partial_output_shape}")
        return tuple(bias)

    # ------------------------------------------------------------ shapes and weights

    def output_shape(self, input_shape):
        """The shape of the data Keras's einsum gives. Keras's own output shape differs
        in two ways, which its summary shows: an output_shape null
        stays null where the data has the input's size, and a left ellipsis's axes come
        in reverse order (Keras inserts each at position 1): `keras_output_shape`."""
        shape = list(self.analyze(input_shape)[2])
        inputs, _, outputs, side = _parse(self.equation)
        elided = len(input_shape) - len(inputs)
        shift = elided if side == "left" else 0  # the left ellipsis's axes come first
        if side == "left" and elided > 1:
            shape[1:elided] = input_shape[1:elided]
        for i, d in enumerate(outputs):
            if i + shift > 0 and shape[i + shift] is None and d in inputs:
                shape[i + shift] = input_shape[inputs.index(d) + shift]
        return tuple(shape)

    def keras_output_shape(self, input_shape):
        """Keras's compute_output_shape, which its summary shows: output_shape's nulls
        kept, and a left ellipsis's axes reversed."""
        return self.analyze(input_shape)[2]

    def weight_specs(self, input_shape):
        kernel, bias, _, fan_in, fan_out = self.analyze(input_shape)
        specs = [WeightSpec("kernel", kernel, ("fans", self.kernel_initializer,
                                               tuple(fan_in), tuple(fan_out)))]
        if bias is not None:
            specs.append(WeightSpec("bias", bias, self.bias_initializer))
        return specs

    def letters(self, ndim: int):
        """(input, kernel, output) letters with the elided axes named: numpy's einsum
        with explicit letters, so the gradients can be written the same way."""
        inputs, kernel, outputs, side = _parse(self.equation)
        used = set(inputs + kernel + outputs)
        spare = "".join(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        if c not in used)[:max(ndim - len(inputs), 0)]
        if side == "left":
            return spare + inputs, kernel, spare + outputs
        if side == "right":
            return inputs + spare, kernel, outputs + spare
        return inputs, kernel, outputs

    def letter_sizes(self, input_shape) -> dict:
        """{letter: size} over input, kernel and output, the batch counted as 1 (one
        sample's: what MACs count)."""
        inputs, kernel, outputs = self.letters(len(input_shape))
        kernel_shape = self.analyze(input_shape)[0]
        output_shape = self.output_shape(input_shape)
        sizes = {}
        for letters, shape in ((outputs, output_shape), (kernel, kernel_shape),
                               (inputs, input_shape)):
            for letter, size in zip(letters, shape):
                sizes.setdefault(letter, size)
        sizes[inputs[0]] = 1  # the batch
        return {letter: size or 1 for letter, size in sizes.items()}

    # ------------------------------------------------------------ forward and backward

    def forward_train(self, params, x, rng):
        import numpy as np

        from seqcli import activations

        inputs, kernel, outputs = self.letters(x.ndim)
        z = np.einsum(f"{inputs},{kernel}->{outputs}", x, params["kernel"])
        if "bias" in params:
            z = z + params["bias"]
        y = activations.get(self.activation)(z)
        return y, (x, z, y)

    def backward(self, params, cache, dy):
        import numpy as np

        from seqcli import activations

        x, z, y = cache
        dz = activations.gradient(self.activation)(z, y, dy)
        inputs, kernel, outputs = self.letters(x.ndim)
        grads = {"kernel": np.einsum(f"{inputs},{outputs}->{kernel}", x, dz)}
        # input axes in neither the kernel nor the output were summed away: their
        # gradient is the same along them
        kept = "".join(c for c in inputs if c in kernel or c in outputs)
        dx = np.einsum(f"{outputs},{kernel}->{kept}", dz, params["kernel"])
        dx = np.broadcast_to(dx.reshape([x.shape[i] if c in kept else 1
                                         for i, c in enumerate(inputs)]), x.shape)
        if "bias" in params:
            bias = params["bias"]
            lead = dz.ndim - bias.ndim
            summed = dz.sum(axis=tuple(range(lead))) if lead else dz
            axes = tuple(i for i, n in enumerate(bias.shape) if n == 1 and summed.shape[i] != 1)
            grads["bias"] = summed.sum(axis=axes, keepdims=True).reshape(bias.shape)
        return np.ascontiguousarray(dx), grads


def format_sizes(sizes) -> str:
    return " and ".join(sorted("None" if size is None else str(size) for size in sizes))
