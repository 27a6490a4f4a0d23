"""Keras's initializer formulas (distributions, since Keras's random stream differs)."""

import math

import numpy as np
import pytest

from seqcli.initializers import check_initializer, compute_fans, initialize


def draw(spec, shape, seed=0):
    return initialize(check_initializer(spec), shape, np.random.default_rng(seed))


def test_fans_follow_keras():
    assert compute_fans((784, 32)) == (784, 32)
    assert compute_fans((5, 5, 3, 32)) == (75, 800)
    assert compute_fans((10,)) == (10, 10)


@pytest.mark.parametrize("name,shape,limit", [
    ("glorot_uniform", (300, 200), math.sqrt(6 / 500)),
    ("he_uniform", (300, 200), math.sqrt(6 / 300)),
    ("lecun_uniform", (3, 3, 16, 8), math.sqrt(3 / 144)),
])
def test_uniform_variance_scaling_limits(name, shape, limit):
    values = draw(name, shape)
    assert values.dtype == np.float32 and values.shape == shape
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.98 * limit


@pytest.mark.parametrize("name,shape,stddev", [
    ("glorot_normal", (400, 400), math.sqrt(2 / 800)),
    ("he_normal", (400, 300), math.sqrt(2 / 400)),
    ("lecun_normal", (500, 200), math.sqrt(1 / 500)),
])
def test_truncated_normal_variance_scaling(name, shape, stddev):
    values = draw(name, shape)
    # the stddev is corrected for truncation at 2 standard deviations, so the
    # drawn values have the target stddev and none lie beyond the cut
    assert abs(values.std() / stddev - 1) < 0.02
    assert np.abs(values).max() <= 2 * stddev / 0.87962566103423978 + 1e-6


def test_fixed_and_random_initializers():
    assert not draw("zeros", (3,)).any() and (draw("ones", (3,)) == 1).all()
    assert (draw({"constant": {"value": 0.5}}, (2, 2)) == 0.5).all()
    normal = draw({"random_normal": {"mean": 1.0, "stddev": 0.1}}, (200, 200))
    assert abs(normal.mean() - 1) < 0.01 and abs(normal.std() - 0.1) < 0.005
    uniform = draw("random_uniform", (100, 100))
    assert uniform.min() >= -0.05 and uniform.max() <= 0.05
    q = draw("orthogonal", (6, 4))
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    np.testing.assert_array_equal(draw("identity", (3, 3)), np.eye(3, dtype=np.float32))


def test_same_seed_same_values():
    np.testing.assert_array_equal(draw("glorot_uniform", (4, 4), 1), draw("glorot_uniform", (4, 4), 1))
    assert not np.array_equal(draw("glorot_uniform", (4, 4), 1), draw("glorot_uniform", (4, 4), 2))


@pytest.mark.parametrize("spec,words", [
    ("glorot", "did you mean 'glorot_normal'"),
    ({"random_normal": {"sigma": 1}}, "no argument 'sigma'"),
    ({"variance_scaling": {"mode": "fan_all"}}, "fan_in, fan_out, fan_avg"),
    ({"constant": {"value": "x"}}, "must be a number"),
    (3, "expected an initializer name"),
])
def test_bad_initializers_are_explained(spec, words):
    with pytest.raises(ValueError, match=words):
        check_initializer(spec)


def test_einsum_dense_kernel_fans_are_kerass_input_and_output_axes():
    """Keras sizes EinsumDense's glorot kernel by the kernel axes meeting the input (fan
    in) and the output (fan out), not by its last two axes: here (16, 6, 8) has fans 16
    and 48, a limit of sqrt(6 / 64), where the last-two-axes rule would give 0.177."""
    import json

    from seqcli import spec as spec_module, weights as weights_module

    text = json.dumps({"input_shape": [16], "layers": [{"EinsumDense": {
        "equation": "ab,bcd->acd", "output_shape": [6, 8]}}]})
    model = spec_module.load_text(text, "x.json").model
    kernel = weights_module.fresh(model, seed=3)["einsum_dense/kernel"]
    assert kernel.shape == (16, 6, 8)
    limit = (6 / (16 + 48)) ** 0.5
    assert 0.95 * limit < abs(kernel).max() <= limit
