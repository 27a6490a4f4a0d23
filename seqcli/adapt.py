"""Adapting preprocessing layers to data, as Keras's `layer.adapt` does, streamed over row
batches so the data never has to fit in memory:

- Normalization: the mean and variance over every axis but the kept ones, merged across
  batches exactly (counts, means and sums of squared deviations in float64: the result
  does not depend on the batching, and is np.mean/np.var of the whole data, which is what
  Keras's adapt(x) computes). Keras 3 leaves the `count` weight as it was; so does seqcli.
- Discretization (num_bins): Keras's streaming quantile summary (summarize,
  merge_summaries, compress_summary, get_bin_boundaries of
  keras/src/layers/preprocessing/discretization.py, same numpy calls in the same order),
  so the bin boundaries are Keras's for the same batches.

A layer deeper in the model adapts to what reaches it: the data goes through the layers
before it (inference, with the weights as adapted so far), one pass per adapted layer.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from seqcli.errors import SeqcliError


# ---------------------------------------------------------------- Keras's quantile summary

def summarize(values, epsilon):
    values = np.reshape(values, [-1])
    values = np.sort(values)
    elements = np.size(values)
    num_buckets = 1.0 / epsilon
    increment = elements / num_buckets
    step = max(increment, 1)
    start = step - 1
    boundaries = values[int(start)::int(step)]
    weights = np.ones_like(boundaries)
    weights = weights * step
    return np.stack([boundaries, weights])


def merge_summaries(prev_summary, next_summary, epsilon):
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def compress_summary(summary, epsilon):
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    summary = np.stack((new_bins, new_weights))
    return summary.astype("float32")


def bin_boundaries(summary, num_bins) -> list:
    return compress_summary(summary, 1.0 / num_bins)[0, :-1].tolist()


class Quantiles:
    """Discretization's adapt state: update per batch, then the boundaries."""

    def __init__(self, layer):
        self.layer = layer
        self.summary = np.array([[], []], dtype="float32")

    def update(self, batch):
        summary = summarize(np.asarray(batch).astype("float32"), self.layer.epsilon)
        self.summary = merge_summaries(summary, self.summary, self.layer.epsilon)

    def result(self, weights):
        if self.summary.shape[1] == 0:
            raise SeqcliError("no data reached it", self.layer.describe())
        return {}, {"bin_boundaries": bin_boundaries(self.summary, self.layer.num_bins)}


# ---------------------------------------------------------------- Normalization

class Moments:
    """Normalization's adapt state: exact count, mean and squared deviations (Chan et
    al.'s pairwise merge, in float64)."""

    def __init__(self, layer):
        self.layer = layer
        self.count, self.mean, self.squares = 0, 0.0, 0.0

    def update(self, batch):
        keep = self.layer._keep(batch.ndim)
        reduce = tuple(d for d in range(batch.ndim) if d not in keep)
        count = int(np.prod([batch.shape[d] for d in reduce], dtype=np.int64))
        if count == 0:
            return
        batch = batch.astype(np.float64)
        mean = batch.mean(axis=reduce)
        squares = ((batch - np.expand_dims(mean, reduce)) ** 2).sum(axis=reduce)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.squares = self.squares + squares + delta ** 2 * (self.count * count / total)
        self.count = total

    def result(self, weights):
        if self.count == 0:
            raise SeqcliError("no data reached it", self.layer.describe())
        name = self.layer.name
        mean = np.asarray(self.mean, dtype=np.float32)
        variance = np.asarray(self.squares / self.count, dtype=np.float32)
        shape = weights[f"{name}/mean"].shape
        return {f"{name}/mean": mean.reshape(shape),
                f"{name}/variance": variance.reshape(shape)}, {}


# ---------------------------------------------------------------- the model

def adaptable(model, names=()) -> list:
    """(index, layer) of the top-level layers to adapt: those named, else every one that
    learns from data (Normalization without a given mean and variance, Discretization
    with num_bins)."""
    from seqcli.layers.encoding import Discretization
    from seqcli.layers.preprocessing import Normalization

    def learns(layer):
        if isinstance(layer, Normalization):
            return layer.mean is None
        return isinstance(layer, Discretization) and layer.num_bins is not None

    by_name = {layer.name: (i, layer) for i, layer in enumerate(model.layers)}
    for name in names:
        if name not in by_name:
            from seqcli.errors import did_you_mean
            raise SeqcliError(f"no top-level layer {name!r}{did_you_mean(name, by_name)}",
                              "--layer")
        if not learns(by_name[name][1]):
            raise SeqcliError("only Normalization (without a given mean and variance) and "
                              "Discretization (with num_bins) adapt to data",
                              by_name[name][1].describe())
    chosen = [by_name[n] for n in dict.fromkeys(names)] if names else \
        [(i, layer) for i, layer in enumerate(model.layers) if learns(layer)]
    if not chosen:
        raise SeqcliError("the model has no layer that adapts to data (Normalization "
                          "without a given mean and variance, Discretization with num_bins)")
    return sorted(chosen, key=lambda pair: pair[0])


def state_for(layer):
    from seqcli.layers.encoding import Discretization

    return Quantiles(layer) if isinstance(layer, Discretization) else Moments(layer)


def adapt(model, weights: dict, batches, chosen) -> tuple[dict, list]:
    """(weights with the adapted statistics, the top-level layers with the adapted
    arguments). `batches()` gives a fresh iterator of float32 row batches per pass."""
    from seqcli import weights as weights_module

    weights = dict(weights)
    layers = list(model.layers)
    for index, layer in chosen:
        state = state_for(layer)
        params = weights_module.nest(weights)
        for batch in batches():
            for before in layers[:index]:
                batch = before.forward(params.get(before.name, {}), batch)
            state.update(batch)
        new_weights, new_args = state.result(weights)
        weights.update(new_weights)
        if new_args:
            layers[index] = dataclasses.replace(layer, **new_args)
    return weights, layers


def stores_arguments(layer) -> bool:
    """Whether adapting the layer changes its spec arguments (Discretization's bins)
    rather than its weights."""
    from seqcli.layers.encoding import Discretization

    return isinstance(layer, Discretization)
