"""Keras's losses: per-sample values and their gradient, as Keras computes them.

A loss is reduced as Keras's default "sum_over_batch_size": the mean of the
per-sample values. Probabilities are clipped to [1e-7, 1 - 1e-7] (Keras's
epsilon), and the gradient is zero where clipping bites, as JAX's clip gives.
"""

from __future__ import annotations

import numpy as np

from seqcli.settings import resolve
# the name and default tables are numpy-free: reading a compiled Keras file needs them
from seqcli.setting_tables import LOSSES  # noqa: F401
from seqcli.setting_tables import LOSS_ALIASES as ALIASES

EPSILON = 1e-7


def get(value, where: str = "") -> tuple[str, dict]:
    return resolve(value, LOSSES, ALIASES, "loss", where)


def loss_and_gradient(loss: tuple[str, dict], y_true, y_pred, sample_weight=None, mask=None):
    """(mean loss, dLoss/dy_pred) for a batch. Sample weights make it Keras's weighted sum
    over the number of values (not over the sum of the weights); an output mask (Keras's,
    from mask_zero) leaves the masked values out, averaging over the others."""
    name, args = loss
    per_sample, grad = _FUNCTIONS[name](np.asarray(y_true), y_pred, **args)
    count = per_sample.size
    weight = loss_weights(per_sample, sample_weight, mask)
    if weight is not None:
        per_sample = per_sample * weight
        grad = grad * expand_weights(weight, grad.ndim)
    return float(per_sample.sum()) / max(count, 1), (grad / max(count, 1)).astype(y_pred.dtype)


def loss_weights(values, sample_weight, mask):
    """Keras's apply_mask and sample weighting: a mask weighs its valid entries by
    total / valid, so the mean is over them alone; sample weights multiply in."""
    weight = None
    if mask is not None:
        weight = np.asarray(mask, dtype=values.dtype)
        valid = weight.sum()
        weight = weight * values.dtype.type(weight.size / valid if valid else 0)
    if sample_weight is not None:
        given = expand_weights(sample_weight, values.ndim).astype(values.dtype)
        weight = given if weight is None else weight * given
    return weight


def expand_weights(weight, ndim: int):
    """Weights over the first axes, shaped to broadcast over values of rank `ndim`."""
    weight = np.asarray(weight)
    return weight.reshape(weight.shape + (1,) * (ndim - weight.ndim))


def per_sample_values(loss: tuple[str, dict], y_true, y_pred):
    name, args = loss
    return _FUNCTIONS[name](np.asarray(y_true), y_pred, **args)[0]


def match_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank: (N,) targets for (N, 1) outputs."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"the targets have shape {y_true.shape} but the model outputs "
                         f"{y_pred.shape}")
    return y_true.astype(y_pred.dtype, copy=False)


def _mean_last(values, grad):
    size = values.shape[-1]
    return values.mean(axis=-1), grad / size


def mean_squared_error(y_true, y_pred):
    error = y_pred - match_rank(y_true, y_pred)
    return _mean_last(error * error, 2 * error)


def mean_absolute_error(y_true, y_pred):
    error = y_pred - match_rank(y_true, y_pred)
    return _mean_last(np.abs(error), np.sign(error))


def huber(y_true, y_pred, delta=1.0):
    error = y_pred - match_rank(y_true, y_pred)
    small = np.abs(error) <= delta
    values = np.where(small, 0.5 * error * error, delta * np.abs(error) - 0.5 * delta * delta)
    return _mean_last(values, np.where(small, error, delta * np.sign(error)))


def binary_crossentropy(y_true, y_pred, from_logits=False):
    target = match_rank(y_true, y_pred)
    if from_logits:
        # -t log sigmoid(z) - (1 - t) log sigmoid(-z), written to stay finite
        values = np.logaddexp(0, -y_pred) * target + np.logaddexp(0, y_pred) * (1 - target)
        from seqcli.ops import sigmoid
        return _mean_last(values, sigmoid(y_pred) - target)
    clipped, inside = _clip(y_pred, EPSILON, 1 - EPSILON)
    values = -(target * np.log(clipped) + (1 - target) * np.log(1 - clipped))
    grad = (-target / clipped + (1 - target) / (1 - clipped)) * inside
    return _mean_last(values, grad)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    target = np.asarray(y_true, dtype=y_pred.dtype)
    if target.shape != y_pred.shape:
        raise ValueError(f"the targets have shape {target.shape} but the model outputs "
                         f"{y_pred.shape}; categorical_crossentropy takes one-hot targets "
                         "(sparse_categorical_crossentropy takes class indices)")
    return _crossentropy(target, y_pred, from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        one_hot = labels.shape == y_pred.shape  # the targets fit categorical_crossentropy
        raise ValueError(f"the targets have shape {labels.shape} but the model outputs "
                         f"{y_pred.shape}; sparse_categorical_crossentropy takes one class "
                         "index per sample" + ("; one-hot targets like these go with "
                                               "categorical_crossentropy" if one_hot else ""))
    classes = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes
                        or not np.all(labels == np.round(labels))):
        raise ValueError(f"class indices must be whole numbers from 0 to {classes - 1}")
    target = np.eye(classes, dtype=y_pred.dtype)[labels.astype(np.int64)]
    return _crossentropy(target, y_pred, from_logits)


def _crossentropy(target, y_pred, from_logits):
    if from_logits:
        from seqcli.ops import log_softmax
        log_prob = log_softmax(y_pred)
        grad = np.exp(log_prob) * target.sum(axis=-1, keepdims=True) - target
        return -(target * log_prob).sum(axis=-1), grad
    total = y_pred.sum(axis=-1, keepdims=True)
    normalized = y_pred / total
    clipped, inside = _clip(normalized, EPSILON, 1 - EPSILON)
    values = -(target * np.log(clipped)).sum(axis=-1)
    g = -target / clipped * inside  # d/d(normalized)
    grad = (g - (g * normalized).sum(axis=-1, keepdims=True)) / total
    return values, grad


def kl_divergence(y_true, y_pred):
    target, _ = _clip(match_rank(y_true, y_pred), EPSILON, 1)
    clipped, inside = _clip(y_pred, EPSILON, 1)
    values = (target * np.log(target / clipped)).sum(axis=-1)
    return values, -target / clipped * inside


def _clip(values, low, high):
    return np.clip(values, low, high), (values >= low) & (values <= high)


_FUNCTIONS = {  # name -> (y_true, y_pred, **args) -> (per-sample values, dLoss/dy_pred)
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "kl_divergence": kl_divergence,
}
