"""SpectralNormalization: a layer whose kernel (or embeddings) is divided by its largest
singular value in training, estimated by power iteration from the stored `vector_u`.

As Keras 3 on JAX does it: in training, u and v come from `power_iterations` rounds on
the kernel seen as a matrix (its last axis the columns), sigma = v W u^T, and the layer
runs with W / sigma; the gradient flows through W / sigma (u and v held constant) back
to the stored kernel, which the optimizer then updates as it is (Keras's assignment of
the normalized kernel inside its training step does not outlive the step), and
`vector_u` takes the new u. At inference the layer runs with the stored kernel. An
all-zero kernel is left alone.
"""

from __future__ import annotations

from seqcli.args import Int, arg
from seqcli.errors import ArgError
from seqcli.layers.base import WeightSpec, layer_class
from seqcli.layers.wrappers import LayerArg, _Wrapper
from seqcli.registry import register

NORMALIZED = ("kernel", "embeddings")  # the weight Keras normalizes, in its order of search
EPSILON = 1e-7  # Keras's ops.normalize: x * min(1 / norm, 1 / epsilon)


@register
@layer_class
class SpectralNormalization(_Wrapper):
    layer: object = arg(LayerArg(), doc="the layer (Dense, a convolution, Embedding, "
                        "EinsumDense) whose kernel is normalized")
    power_iterations: int = arg(Int(1), default=1, doc="power-iteration rounds per step")

    positional = ("layer", "power_iterations")
    summary = "Divides a layer's kernel by its spectral norm in training (GANs' Lipschitz bound)"
    weights_doc = "the wrapped layer's, and vector_u (1, the kernel's last axis; not trainable)"

    # Keras's SpectralNormalization returns its layer's output tensor, and the mask that
    # layer set on it rides along (despite Keras's warning that the mask is destroyed):
    # a Dense inside passes the mask on, an Embedding with mask_zero makes one
    @property
    def masking(self) -> str:
        return "passes" if self.layer.masking == "passes" else "drops"

    @property
    def makes_mask(self) -> bool:
        return self.layer.makes_mask

    def make_mask(self, x):
        return self.layer.make_mask(x)

    def check(self):
        if self.layer.regularizes_output:
            raise ArgError("layer", "an activity_regularizer on the layer inside "
                           "SpectralNormalization is not supported; put it on the "
                           "SpectralNormalization itself")
        for weight in NORMALIZED:  # Keras on JAX treats these inconsistently
            prefix = self.layer.weight_args.get(weight)
            for kind in ("regularizer", "constraint"):
                if prefix and self.layer.rule(f"{prefix}_{kind}") is not None:
                    raise ArgError("layer", f"a {prefix}_{kind} on the layer inside "
                                   "SpectralNormalization is not supported: Keras (on JAX) "
                                   "applies it to the kernel before normalization in one "
                                   "place and after it in another; remove it")

    def _target(self, specs) -> WeightSpec:
        names = {spec.name: spec for spec in specs}
        for weight in NORMALIZED:
            if weight in names and not self.layer.wraps and \
                    type(self.layer).__name__ not in ("SimpleRNN", "LSTM", "GRU"):
                return names[weight]
        raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor "
                         "'embeddings'")

    def output_shape(self, input_shape):
        self._target(self.layer.weight_specs(input_shape))
        return self.layer.output_shape(input_shape)

    def keras_output_shape(self, input_shape):
        return self.layer.keras_output_shape(input_shape)

    def weight_specs(self, input_shape):
        specs = self.layer.weight_specs(input_shape)
        target = self._target(specs)
        return specs + [WeightSpec("vector_u", (1, target.shape[-1]),
                                   {"truncated_normal": {"stddev": 0.02}}, trainable=False)]

    def weight_rules(self):
        return self.layer.weight_rules()

    def _weight(self, params) -> str:
        return next(name for name in NORMALIZED if name in params)

    def _inner(self, params, **replace):
        return {k: replace.get(k, v) for k, v in params.items() if k != "vector_u"}

    def forward(self, params, x):
        return self.layer.forward(self._inner(params), x)

    def forward_train(self, params, x, rng):
        name = self._weight(params)
        kernel, u = params[name], params["vector_u"]
        if not kernel.any():  # Keras keeps an all-zero kernel (and u) as they are
            y, cache = self.layer.forward_train(self._inner(params), x, rng)
            return y, (cache, name, None, u)
        matrix = kernel.reshape(-1, kernel.shape[-1])
        for _ in range(self.power_iterations):
            v = _normalize(u @ matrix.T)
            u = _normalize(v @ matrix)
        sigma = (v @ matrix @ u.T)[0, 0]
        normalized = kernel / sigma
        y, cache = self.layer.forward_train(self._inner(params, **{name: normalized}), x, rng)
        return y, (cache, name, (normalized, sigma, u, v), u)

    def backward(self, params, cache, dy):
        inner_cache, name, normalization, _ = cache
        if normalization is None:
            return self.layer.backward(self._inner(params), inner_cache, dy)
        normalized, sigma, u, v = normalization
        dx, grads = self.layer.backward(self._inner(params, **{name: normalized}),
                                        inner_cache, dy)
        if name in grads:  # W / sigma(W), sigma = v W u^T with u and v held constant
            d_normalized = grads[name]
            d_sigma = -(d_normalized * normalized).sum() / sigma
            grads[name] = d_normalized / sigma + d_sigma * (v.T @ u).reshape(normalized.shape)
        return dx, grads

    def updates(self, cache):
        return {"vector_u": cache[3], **self.layer.updates(cache[0])}

    def describe(self) -> str:
        return f"{type(self).__name__} {self.name!r} of {self.layer.describe()}"


def _normalize(x):
    import numpy as np

    return x * np.minimum(1 / np.sqrt(np.sum(x * x)), x.dtype.type(1 / EPSILON))
