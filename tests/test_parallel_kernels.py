"""The faster paths of the numpy engine (issue 15) compute what the plain ones do.

The Keras fixtures are small, so most of them run the plain paths: a convolution too
small to share among threads, a batch too small for row blocks. These tests run the
shared and fused paths on inputs large enough to take them, and compare with a direct
computation or with the general path. No timing is asserted."""

import itertools
import os
import signal
import threading
import time

import numpy as np
import pytest

from seqcli import ops, spec, weights
from seqcli import threads as threads_module
from seqcli.layers import recurrent


def _direct_conv(x, kernel, bias):
    """A 'valid', stride-1 2-D convolution by one product per window offset."""
    kh, kw = kernel.shape[:2]
    out = np.zeros((x.shape[0], x.shape[1] - kh + 1, x.shape[2] - kw + 1, kernel.shape[-1]),
                   np.float64)
    for i, j in itertools.product(range(kh), range(kw)):
        out += x[:, i:i + out.shape[1], j:j + out.shape[2]].astype(np.float64) @ kernel[i, j]
    return out + bias


@pytest.fixture
def split_log(monkeypatch):
    """Records how many parts each run_split call was allowed (to show the shared path ran)."""
    calls = []
    original = threads_module.run_split

    def logged(tasks, worker, parts=None):
        calls.append(min(parts or threads_module.cores(), len(tasks)))
        original(tasks, worker, parts)

    monkeypatch.setattr(threads_module, "run_split", logged)
    monkeypatch.setattr(threads_module, "cores", lambda: 2)  # share even on one core
    return calls


def test_a_convolution_shared_among_threads_equals_the_direct_sum(split_log):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 70, 66, 8)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 8, 16)).astype(np.float32)
    bias = rng.normal(size=16).astype(np.float32)
    y = ops.conv(x, kernel, (1, 1), "valid", (1, 1), 1, bias)
    assert max(split_log) == 2
    np.testing.assert_allclose(y, _direct_conv(x, kernel, bias), rtol=1e-5, atol=1e-4)


def test_shared_convolution_gradients_equal_one_thread(split_log, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 64, 64, 6)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 6, 8)).astype(np.float32)
    dy = rng.normal(size=(8, 32, 32, 8)).astype(np.float32)
    shared = ops.conv_backward(x, kernel, dy, (2, 2), "same", (1, 1))
    assert max(split_log) == 2
    monkeypatch.setattr(threads_module, "cores", lambda: 1)
    alone = ops.conv_backward(x, kernel, dy, (2, 2), "same", (1, 1))
    for a, b in zip(shared, alone):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    dx, dkernel = ops.conv_backward(x, kernel, dy, (2, 2), "same", (1, 1), input_grad=False)
    assert dx is None
    np.testing.assert_allclose(dkernel, alone[1], rtol=1e-5, atol=1e-4)


def test_convolution_gradients_are_the_same_bits_on_any_number_of_cores(monkeypatch):
    """The runs of samples and the order of their sums depend on the shapes only: `fit`
    on a 1-core and a 4-core machine trains the same weights."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(24, 32, 32, 4)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 4, 8)).astype(np.float32)
    dy = rng.normal(size=(24, 32, 32, 8)).astype(np.float32)
    results = []
    for count in (1, 2, 3, 4):
        monkeypatch.setattr(threads_module, "cores", lambda count=count: count)
        results.append(ops.conv_backward(x, kernel, dy, (1, 1), "same", (1, 1)))
    for dx, dkernel in results[1:]:
        np.testing.assert_array_equal(dx, results[0][0])
        np.testing.assert_array_equal(dkernel, results[0][1])


def test_large_batches_in_row_blocks_equal_each_sample_alone(split_log):
    model = spec.load_text("input_shape: [20]\nlayers:\n  - Dense: {units: 16, activation: relu}"
                           "\n  - Dense: {units: 3, activation: softmax}\n", "blocks").model
    params = weights.nest(weights.fresh(model, seed=2))
    x = np.random.default_rng(3).normal(size=(2100, 20)).astype(np.float32)
    y = model.forward(params, x)
    assert y.shape == (2100, 3) and max(split_log) == 2
    for start in (0, 1023, 1024, 2099):
        np.testing.assert_allclose(y[start], model.forward(params, x[start:start + 1])[0],
                                   rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape,pool,padding", [((3, 9, 8, 4), (2, 2), "valid"),
                                                ((3, 9, 8, 4), (2, 2), "same"),
                                                ((2, 7, 5), (3,), "valid"),
                                                ((2, 5, 6, 4, 3), (2, 2, 2), "same")])
def test_max_pooling_gradient_over_tiles_goes_to_each_window_first_maximum(shape, pool,
                                                                            padding):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, shape).astype(np.float32)  # small integers: many ties
    dy = rng.normal(size=ops.pool(x, pool, pool, padding, "max").shape).astype(np.float32)
    dx = ops.pool_backward(x, dy, pool, pool, padding, "max")
    expected = np.zeros_like(x)
    pads = ops._pool_pads(x, pool, pool, padding)
    padded = ops.pad_spatial(x, pads, value=-np.inf)
    for index in np.ndindex(*dy.shape):  # each window: its first maximum in scan order
        n, *where, c = index
        offsets = list(itertools.product(*(range(p) for p in pool)))
        values = [padded[(n, *(w * p + o for w, p, o in zip(where, pool, offset)), c)]
                  for offset in offsets]
        first = offsets[int(np.argmax(values))]
        at = [w * p + o - before for w, p, o, (before, _) in zip(where, pool, first, pads)]
        expected[(n, *at, c)] += dy[index]
    np.testing.assert_array_equal(dx, expected)


def _direct_pool(x, pool, strides, padding, mode):
    """Pooling window by window, each window's values gathered and reduced at once."""
    pads = ops._pool_pads(x, pool, strides, padding)
    padded = ops.pad_spatial(x.astype(np.float64), pads,
                             value=np.nan if mode == "average" else -np.inf)
    out_sizes = [(size - p) // s + 1 for size, p, s in zip(padded.shape[1:-1], pool, strides)]
    out = np.empty((x.shape[0], *out_sizes, x.shape[-1]))
    for where in np.ndindex(*out_sizes):
        window = padded[(slice(None), *(slice(w * s, w * s + p)
                                        for w, s, p in zip(where, strides, pool)))]
        flat = window.reshape(x.shape[0], -1, x.shape[-1])
        out[(slice(None), *where)] = np.nanmax(flat, axis=1) if mode == "max" \
            else np.nanmean(flat, axis=1)
    return out


@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((5, 61, 59, 40), (3, 3), (3, 3), "valid"),
    ((5, 61, 59, 40), (3, 3), (2, 2), "same"),
    ((4, 300, 230), (4,), (3,), "same"),
    ((3, 21, 20, 19, 16), (2, 3, 2), (2, 2, 1), "valid")])
@pytest.mark.parametrize("mode", ["max", "average"])
def test_pooling_shared_among_threads_equals_each_window_reduced(split_log, shape, pool,
                                                                 strides, padding, mode):
    x = np.random.default_rng(11).normal(size=shape).astype(np.float32)
    y = ops.pool(x, pool, strides, padding, mode)
    assert max(split_log) == 2  # large enough to be shared out
    np.testing.assert_allclose(y, _direct_pool(x, pool, strides, padding, mode),
                               rtol=1e-6, atol=1e-6)


def test_relu_inside_the_convolution_equals_relu_after_it(split_log):
    model = spec.load_text("input_shape: [64, 60, 5]\nlayers:\n"
                           "  - Conv2D: {filters: 12, kernel_size: 3, activation: relu}\n"
                           "  - Conv2D: {filters: 4, kernel_size: 2, strides: 2, "
                           "activation: relu, padding: same}\n", "relu").model
    params = weights.nest(weights.fresh(model, seed=12))
    x = np.random.default_rng(13).normal(size=(6, 64, 60, 5)).astype(np.float32)
    fused = model.forward(params, x)
    assert max(split_log) == 2
    unfused = model.run(params, x, training=True, rng=np.random.default_rng(0)).output
    np.testing.assert_array_equal(fused, unfused)
    assert (fused == 0).any() and (fused > 0).any()


@pytest.mark.parametrize("shape,pool,padding", [((6, 61, 60, 32), (2, 2), "valid"),
                                                ((6, 45, 44, 32), (3, 3), "same")])
def test_shared_max_pooling_gradient_equals_one_thread(split_log, monkeypatch, shape, pool,
                                                        padding):
    rng = np.random.default_rng(14)
    x = rng.integers(0, 4, shape).astype(np.float32)  # ties: the first maximum must win
    y = ops.pool(x, pool, pool, padding, "max")
    dy = rng.normal(size=y.shape).astype(np.float32)
    shared = ops.pool_backward(x, dy, pool, pool, padding, "max", y)
    assert max(split_log) == 2
    monkeypatch.setattr(threads_module, "cores", lambda: 1)
    np.testing.assert_array_equal(shared, ops.pool_backward(x, dy, pool, pool, padding, "max"))
    assert np.count_nonzero(shared) == np.count_nonzero(dy)  # one position per window


RECURRENT = ["LSTM: {units: 6, return_sequences: true}", "GRU: {units: 6}",
             "GRU: {units: 6, use_bias: false, return_sequences: true}",
             "LSTM: {units: 5, go_backwards: true, dropout: 0.2, recurrent_dropout: 0.3}",
             "Bidirectional: {layer: {LSTM: {units: 4}}}",
             "Bidirectional: {layer: {GRU: {units: 4, return_sequences: true}}, merge_mode: mul}"]


@pytest.mark.parametrize("entry", RECURRENT)
def test_fused_recurrent_steps_equal_the_general_ones(entry, monkeypatch):
    model = spec.load_text(f"input_shape: [9, 5]\nlayers:\n  - {entry}\n", "rnn").model
    params = weights.nest(weights.fresh(model, seed=5))
    for key, value in weights.flatten(params).items():
        if "bias" in key:  # the recurrent biases matter too
            value[...] = np.random.default_rng(6).normal(size=value.shape)
    x = (np.random.default_rng(7).normal(size=(4, 9, 5)) * 3).astype(np.float32)

    def everything():
        out = model.forward(params, x)
        result = model.run(params, x, training=True, rng=np.random.default_rng(8))
        dy = np.random.default_rng(9).normal(size=result.output.shape).astype(np.float32)
        dx, grads = model.backward(params, result, dy)
        return [out, result.output, dx, *weights.flatten(grads).values()]

    fused = everything()
    monkeypatch.setattr(recurrent._Recurrent, "fused", property(lambda self: False))
    monkeypatch.setattr(recurrent.GRU, "fused", property(lambda self: False))
    general = everything()
    for a, b in zip(fused, general, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_shares_its_convolutions_on_threads_of_its_own(split_log):
    """A child forked after the parent used its threads has none of them; the child
    must make its own rather than wait on the parent's forever."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(6, 70, 66, 8)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 8, 16)).astype(np.float32)
    expected = ops.conv(x, kernel, (1, 1), "valid", (1, 1))
    assert max(split_log) == 2
    child = os.fork()
    if child == 0:  # the child: exit 0 only if its convolution is the parent's
        same = np.array_equal(ops.conv(x, kernel, (1, 1), "valid", (1, 1)), expected)
        os._exit(0 if same else 3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    pytest.fail("the forked child's convolution never finished")


def test_a_failing_part_raises_only_after_every_part_has_ended(monkeypatch):
    monkeypatch.setattr(threads_module, "cores", lambda: 3)
    finished = []

    def worker(part):
        if part == [1]:
            raise ValueError("part two failed")
        if part == [2]:
            time.sleep(0.2)  # still writing its outputs when part two fails
        finished.append(part)

    with pytest.raises(ValueError, match="part two failed"):
        threads_module.run_split([0, 1, 2], worker)
    assert sorted(finished) == [[0], [2]]


@pytest.mark.parametrize("setting,expected", [
    ({"OMP_NUM_THREADS": "1"}, 1), ({"OPENBLAS_NUM_THREADS": "1"}, 1),
    ({"OMP_NUM_THREADS": "64"}, None), ({"OMP_NUM_THREADS": "many"}, None),
    ({"OMP_NUM_THREADS": "0"}, None)])
def test_the_thread_count_follows_the_environment_as_dask_workers_set_it(monkeypatch, setting,
                                                                          expected):
    for name in threads_module.THREAD_LIMITS:
        monkeypatch.delenv(name, raising=False)
    machine = threads_module.cores()
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    assert threads_module.cores() == (expected or machine)
    calls = []
    threads_module.run_split([0, 1, 2, 3], lambda part: calls.append(
        (part, threading.current_thread() is threading.main_thread())))
    if expected == 1:  # one part, on the calling thread
        assert calls == [([0, 1, 2, 3], True)]
