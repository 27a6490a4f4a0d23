"""Keras's metrics, accumulated over an epoch like Keras's stateful metrics."""

from __future__ import annotations

import numpy as np

from seqcli.errors import SeqcliError, did_you_mean
from seqcli.losses import match_rank

def check(names, where: str = "") -> list[str]:
    """The metric names, each known."""
    for name in names:
        if name not in NAMES:
            raise SeqcliError(f"unknown metric {name!r}{did_you_mean(name, NAMES)}; known: "
                              f"{', '.join(NAMES)}", where)
    return list(names)


class Mean:
    """The running mean of per-sample values (Keras's MeanMetricWrapper)."""

    def __init__(self, name: str, function, weighted: bool = False):
        self.name, self.function, self.weighted = name, function, weighted
        self.total, self.count = 0.0, 0

    def update(self, y_true, y_pred, mask=None, sample_weight=None) -> None:
        """Add a batch: an output mask (Keras's) leaves its masked values out, and a
        weighted metric (Keras's weighted_metrics) weighs each sample."""
        from seqcli.losses import expand_weights

        try:
            values = self.function(np.asarray(y_true), y_pred)
        except (ValueError, IndexError) as exc:
            raise SeqcliError(f"metric {self.name}: {exc}") from None
        weight = None
        if self.weighted and sample_weight is not None:
            weight = expand_weights(sample_weight, values.ndim).astype(values.dtype)
        if mask is not None:
            masked = np.asarray(mask, values.dtype)
            weight = masked if weight is None else weight * masked
        if weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            weight = np.broadcast_to(weight, values.shape)
            self.total += float((values * weight).sum())
            self.count += float(weight.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


def make(name: str, y_true_shape: tuple, y_pred_shape: tuple, weighted: bool = False,
         label: str | None = None) -> Mean:
    """A metric; "accuracy" picks binary, sparse or categorical accuracy as Keras does."""
    function = _FUNCTIONS.get(name)
    if name in ("accuracy", "acc"):
        binary = y_pred_shape[-1] == 1
        sparse = len(y_true_shape) < len(y_pred_shape) or (
            y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
        function = binary_accuracy if binary else (
            sparse_categorical_accuracy if sparse else categorical_accuracy)
    return Mean(label or name, function, weighted)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    target = match_rank(y_true, y_pred)
    return (target == (y_pred > threshold)).astype(np.float32).mean(axis=-1)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    labels = y_true[..., 0] if y_true.ndim == y_pred.ndim else y_true
    return (labels == np.argmax(y_pred, axis=-1)).astype(np.float32)


def _in_top_k(labels, y_pred, k):
    # a label is in the top k when fewer than k scores beat its own
    own = np.take_along_axis(y_pred, labels[..., None].astype(np.int64), axis=-1)
    return ((y_pred > own).sum(axis=-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    labels = y_true[..., 0] if y_true.ndim == y_pred.ndim else y_true
    return _in_top_k(labels, y_pred, k)


def mean_absolute_error(y_true, y_pred):
    return np.abs(y_pred - match_rank(y_true, y_pred)).mean(axis=-1)


def mean_squared_error(y_true, y_pred):
    return ((y_pred - match_rank(y_true, y_pred)) ** 2).mean(axis=-1)


_FUNCTIONS = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mae": mean_absolute_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mean_squared_error": mean_squared_error,
}
# "accuracy" (and Keras's "acc") stands for the accuracy that fits the targets: see `make`
NAMES = ("accuracy", "acc", *_FUNCTIONS)
