"""Keras's losses: per-sample values and their gradient, as Keras computes them.

A loss is reduced as Keras's `reduction` says: by default "sum_over_batch_size", the
mean of the per-sample values. Probabilities are clipped to [1e-7, 1 - 1e-7] (Keras's
epsilon), and the gradient is zero where clipping bites, as JAX's clip gives. Every
argument of Keras 3's loss classes is taken: `label_smoothing` and `axis` (the
crossentropies), `ignore_class` (sparse), focal `alpha`/`gamma`, Tversky's `alpha`/`beta`,
`reduction`, `name` and `dtype`. Where Keras takes a max or a clip, the gradient is JAX's:
half to each side of a tie, shared evenly among the entries of a tied reduce-max.
"""

from __future__ import annotations

import numpy as np

from seqcli.settings import resolve
# the name and default tables are numpy-free: reading a compiled Keras file needs them
from seqcli.setting_tables import LOSSES, REDUCTIONS  # noqa: F401
from seqcli.setting_tables import LOSS_ALIASES as ALIASES
from seqcli.setting_tables import LOSS_POSITIONAL as POSITIONAL

EPSILON = 1e-7
_MAX_INVERSE = np.float32(1 / 1e-7)  # Keras's normalize: 1 / epsilon


def _reduction(value):
    if value in REDUCTIONS:
        return None
    if value is None or value == "none":
        return ("would leave one loss per sample, which cannot be trained on or reported as "
                f"one number (Keras's fit fails too); use one of {', '.join(REDUCTIONS)}")
    return f"must be one of {', '.join(REDUCTIONS)}"


def _integer(value):
    return None if isinstance(value, int) and not isinstance(value, bool) else \
        "must be an integer"


CHECKS = {  # Keras's own checks of these arguments, as one-line reasons
    "reduction": _reduction,
    "axis": _integer,
    "ignore_class": lambda v: None if v is None else _integer(v) and "must be an integer or null",
    "label_smoothing": lambda v: None if isinstance(v, (int, float)) and not isinstance(v, bool)
    and 0 <= v <= 1 else "must be a number from 0 to 1",
    "name": lambda v: None if v is None or isinstance(v, str) else "must be a string or null",
    "dtype": lambda v: None if v in (None, "float32") else
    "must be float32 or null: seqcli computes in float32",
}


def _axes(value):
    """Dice's and Tversky's `axis`: null (the whole batch, Keras's default), or axes
    from 1 (one value per sample; the batch axis only with all the others: null)."""
    axes = value if isinstance(value, list) else [value]
    if value is None:
        return None
    if not axes or any(_integer(a) for a in axes):
        return "must be null, an integer or a list of integers"
    if 0 in axes:
        return ("takes in the batch axis 0: use null for one value over the whole batch "
                "(Keras's default), or axes from 1 for one value per sample")
    return None


CHECKS.update({("dice", "axis"): _axes, ("tversky", "axis"): _axes})
NOT_ELEMENTWISE = ("reduction", "name", "dtype", "axis", "label_smoothing", "ignore_class")
# losses that Keras's wrapper matches in rank before they move `axis` last
RANK_FIRST = ("binary_crossentropy", "binary_focal_crossentropy", "cosine_similarity")
# Keras's binary label smoothing (towards 0.5), not the categorical one
BINARY_SMOOTHING = ("binary_crossentropy", "binary_focal_crossentropy")


def get(value, where: str = "") -> tuple[str, dict]:
    return resolve(value, LOSSES, ALIASES, "loss", where, POSITIONAL, CHECKS)


def loss_and_gradient(loss: tuple[str, dict], y_true, y_pred, sample_weight=None, mask=None):
    """(reduced loss, dLoss/dy_pred) for a batch, reduced as Keras's `reduction` says: by
    default the weighted sum over the number of values (not over the sum of the weights).
    An output mask (Keras's, from mask_zero) and `ignore_class` leave values out."""
    name, args = loss
    per_sample, grad, valid = _values(name, y_true, y_pred, args)
    if valid is not None:
        mask = valid if mask is None else np.logical_and(mask, valid)
    reduction = args.get("reduction", "sum_over_batch_size")
    weight = loss_weights(per_sample, sample_weight, mask, reduction)
    if weight is not None and per_sample.ndim < np.ndim(weight):
        # one value for the batch (Dice, Tversky with axis null): Keras broadcasts it
        # against the weights, so its gradient is scaled by their sum
        per_sample, grad = per_sample * weight, grad * weight.sum()
    elif weight is not None:
        per_sample = per_sample * weight
        grad = grad * expand_weights(weight, grad.ndim)
    divisor = _divisor(per_sample, weight, sample_weight, mask, reduction)
    return float(per_sample.sum()) / divisor, (grad / divisor).astype(y_pred.dtype)


def _divisor(values, weight, sample_weight, mask, reduction):
    """Keras's reduce_values: "sum" divides by nothing, "mean_with_sample_weight" by the
    sum of the weights (sample weights and mask together), the others by the count."""
    if reduction == "sum":
        return 1.0
    if reduction == "mean_with_sample_weight" and (sample_weight is not None or mask is not None):
        total = float(np.sum(weight))
        return total if total else 1.0  # Keras's divide_no_nan: 0 / 0 gives 0
    return max(values.size, 1)


def loss_weights(values, sample_weight, mask, reduction="sum_over_batch_size"):
    """Keras's apply_mask and sample weighting: with a mean reduction a mask weighs its
    valid entries by total / valid, so the mean is over them alone (with the others, the
    mask is 0 or 1); sample weights multiply in."""
    weight = None
    if mask is not None:
        weight = np.asarray(mask, dtype=values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
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


def _values(name, y_true, y_pred, args):
    """(per-sample values, their gradient, the entries ignore_class keeps or None), with
    Keras's label smoothing, and the class (or mean) axis where `axis` puts it."""
    own = {k: v for k, v in args.items() if k not in NOT_ELEMENTWISE}
    y_true = np.asarray(y_true)
    if args.get("label_smoothing"):
        y_true = _smoothed(name, y_true, y_pred, args["label_smoothing"])
    if name in ("dice", "tversky"):
        return (*_FUNCTIONS[name](y_true, y_pred, axis=args["axis"], **own), None)
    axis = args.get("axis", -1)
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"`axis` {axis} is out of range for an output of rank {y_pred.ndim}")
    axis %= y_pred.ndim
    if name == "sparse_categorical_crossentropy":
        if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
            y_true = np.squeeze(y_true, axis)
        values, grad, valid = sparse_categorical_crossentropy(
            y_true, np.moveaxis(y_pred, axis, -1), ignore_class=args["ignore_class"], **own)
        return values, np.moveaxis(grad, -1, axis), valid
    if axis == y_pred.ndim - 1:
        return (*_FUNCTIONS[name](y_true, y_pred, **own), None)
    if name in RANK_FIRST:
        y_true = match_rank(y_true, y_pred)
    if y_true.shape == y_pred.shape:
        y_true = np.moveaxis(y_true, axis, -1)
    values, grad = _FUNCTIONS[name](y_true, np.moveaxis(y_pred, axis, -1), **own)
    return values, np.moveaxis(grad, -1, axis), None


def _smoothed(name, y_true, y_pred, amount):
    """Keras's label smoothing: binary targets towards 0.5, one-hot ones towards
    1 / classes (the last axis's size, whatever `axis` is, as Keras counts them)."""
    target = y_true.astype(y_pred.dtype)
    amount = y_pred.dtype.type(amount)
    if name in BINARY_SMOOTHING:
        return target * (1 - amount) + y_pred.dtype.type(0.5) * amount
    return target * (1 - amount) + amount / y_pred.dtype.type(target.shape[-1])


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


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None):
    """Also the entries that ignore_class keeps (None without it): the others count 0,
    with no gradient, and are masked out of the mean, as Keras does."""
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        one_hot = labels.shape == y_pred.shape  # the targets fit categorical_crossentropy
        raise ValueError(f"the targets have shape {labels.shape} but the model outputs "
                         f"{y_pred.shape}; sparse_categorical_crossentropy takes one class "
                         "index per sample" + ("; one-hot targets like these go with "
                                               "categorical_crossentropy" if one_hot else ""))
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)
        y_pred = np.where(valid[..., None], y_pred, np.ones_like(y_pred))  # any finite row
    classes = y_pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes
                        or not np.all(labels == np.round(labels))):
        raise ValueError(f"class indices must be whole numbers from 0 to {classes - 1}"
                         + ("" if ignore_class is None else f" (or {ignore_class}, ignored)"))
    target = np.eye(classes, dtype=y_pred.dtype)[labels.astype(np.int64)]
    values, grad = _crossentropy(target, y_pred, from_logits)
    if valid is not None:
        values, grad = np.where(valid, values, 0), np.where(valid[..., None], grad, 0)
    return values, grad, valid


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


def poisson(y_true, y_pred):
    target = match_rank(y_true, y_pred)
    shifted = y_pred + np.float32(EPSILON)
    return _mean_last(y_pred - target * np.log(shifted), 1 - target / shifted)


def log_cosh(y_true, y_pred):
    # Keras's x + softplus(-2x) - log 2, which stays finite where cosh overflows
    error = y_pred - match_rank(y_true, y_pred)
    values = error + np.logaddexp(np.float32(0), -2 * error) - np.float32(np.log(2.0))
    return _mean_last(values, np.tanh(error))


def _hinge_labels(y_true, y_pred):
    """Keras's hinge targets: 0/1 labels become -1/1 when every label of the batch is
    0 or 1; other targets (already -1/1) are taken as they are."""
    target = match_rank(y_true, y_pred)
    return 2 * target - 1 if np.all((target == 0) | (target == 1)) else target


def hinge(y_true, y_pred):
    target = _hinge_labels(y_true, y_pred)
    margin = 1 - target * y_pred
    return _mean_last(np.maximum(margin, 0), -target * _above(margin, 0))


def squared_hinge(y_true, y_pred):
    target = _hinge_labels(y_true, y_pred)
    margin = 1 - target * y_pred
    kept = np.maximum(margin, 0)
    return _mean_last(kept * kept, -2 * kept * target * _above(margin, 0))


def categorical_hinge(y_true, y_pred):
    target = match_rank(y_true, y_pred)
    pos = (target * y_pred).sum(axis=-1)
    others = (1 - target) * y_pred
    neg = others.max(axis=-1)
    margin = neg - pos + 1
    tied = others == neg[..., None]  # JAX shares a max's gradient among tied entries
    d_neg = tied * (1 - target) / tied.sum(axis=-1, keepdims=True)
    return np.maximum(margin, 0), (d_neg - target) * _above(margin, 0)[..., None]


def cosine_similarity(y_true, y_pred):
    """Keras's normalize: x * min(rsqrt(sum x^2), 1 / epsilon) along the last axis."""
    target, _ = _unit(match_rank(y_true, y_pred))
    unit, inverse = _unit(y_pred)
    grad = -target * inverse
    free = inverse < _MAX_INVERSE  # else the norm is clamped, a constant
    grad = grad + free * y_pred * inverse ** 3 * (target * y_pred).sum(axis=-1, keepdims=True)
    return -(target * unit).sum(axis=-1), grad


def _unit(x):
    with np.errstate(divide="ignore"):
        inverse = np.minimum(1 / np.sqrt((x * x).sum(axis=-1, keepdims=True)), _MAX_INVERSE)
    return x * inverse, inverse


def mean_absolute_percentage_error(y_true, y_pred):
    target = match_rank(y_true, y_pred)
    scale = np.maximum(np.abs(target), np.float32(EPSILON))
    error = (target - y_pred) / scale
    return _mean_last(100 * np.abs(error), -100 * np.sign(error) / scale)


def mean_squared_logarithmic_error(y_true, y_pred):
    eps = np.float32(EPSILON)
    shifted = np.maximum(y_pred, eps) + 1
    error = np.log(shifted) - np.log(np.maximum(match_rank(y_true, y_pred), eps) + 1)
    return _mean_last(error * error, 2 * error / shifted * _above(y_pred, eps))


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False):
    """Keras's: the crossentropy of the (clipped) probability, scaled by (1 - p_t)^gamma
    of the unclipped one, and by alpha / 1 - alpha with class balancing."""
    from seqcli.ops import sigmoid

    target = match_rank(y_true, y_pred)
    prob = sigmoid(y_pred) if from_logits else y_pred
    clipped, inside = _clip(prob, EPSILON, 1 - EPSILON)
    bce = -(target * np.log(clipped) + (1 - target) * np.log(1 - clipped))
    d_bce = (-target / clipped + (1 - target) / (1 - clipped)) * inside
    miss = 1 - (target * prob + (1 - target) * (1 - prob))  # 1 - p_t
    factor, d_factor = _power(miss, gamma)
    values, grad = factor * bce, factor * d_bce - d_factor * (2 * target - 1) * bce
    if apply_class_balancing:
        weight = target * alpha + (1 - target) * (1 - alpha)
        values, grad = weight * values, weight * grad
    if from_logits:
        grad = grad * prob * (1 - prob)
    return _mean_last(values, grad)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False):
    """Keras's: alpha (1 - p)^gamma times the crossentropy of each class's normalized,
    clipped probability p, summed over the classes."""
    from seqcli.ops import softmax

    target = match_rank(y_true, y_pred)
    prob = softmax(y_pred) if from_logits else y_pred
    total = prob.sum(axis=-1, keepdims=True)
    normalized = prob / total
    clipped, inside = _clip(normalized, EPSILON, 1 - EPSILON)
    cce = -target * np.log(clipped)
    factor, d_factor = _power(1 - clipped, gamma)
    values = (alpha * factor * cce).sum(axis=-1)
    g = alpha * (factor * -target / clipped - d_factor * cce) * inside  # d/d(normalized)
    grad = (g - (g * normalized).sum(axis=-1, keepdims=True)) / total
    if from_logits:
        grad = prob * (grad - (grad * prob).sum(axis=-1, keepdims=True))
    return values, grad


def _power(x, exponent):
    """(x^exponent, its derivative), 0 for exponent 0 as JAX's power has it."""
    exponent = np.float32(exponent)
    value = np.power(x, exponent)
    if exponent == 0:
        return value, np.zeros_like(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return value, exponent * np.power(x, exponent - 1)


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(t p) / (sum t + sum p + epsilon) over `axis` (null: the whole batch,
    one value)."""
    target, axes = match_rank(y_true, y_pred), _sum_axes(axis, y_pred.ndim)
    common = (target * y_pred).sum(axis=axes, keepdims=True)
    total = target.sum(axis=axes, keepdims=True) + y_pred.sum(axis=axes, keepdims=True) + \
        np.float32(EPSILON)
    values = 1 - 2 * common / total
    grad = -2 * target / total + 2 * common / (total * total)
    return _squeezed(values, axes), grad


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha FP + beta FN + epsilon) over `axis`, soft counts."""
    target, axes = match_rank(y_true, y_pred), _sum_axes(axis, y_pred.ndim)
    common = (target * y_pred).sum(axis=axes, keepdims=True)
    false_pos = ((1 - y_pred) * target).sum(axis=axes, keepdims=True)
    false_neg = (y_pred * (1 - target)).sum(axis=axes, keepdims=True)
    total = common + false_pos * np.float32(alpha) + false_neg * np.float32(beta) + \
        np.float32(EPSILON)
    d_total = target - np.float32(alpha) * target + np.float32(beta) * (1 - target)
    values = 1 - common / total
    grad = -(target / total - common / (total * total) * d_total)
    return _squeezed(values, axes), grad


def _sum_axes(axis, ndim):
    """Dice's and Tversky's `axis` as a tuple; axes that take in the batch axis (0) are
    only allowed all together (null), one value for the batch, as Keras's default."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, list) else [axis]
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"`axis` {a} is out of range for an output of rank {ndim}")
    axes = tuple(sorted({a % ndim for a in axes}))
    if 0 in axes and len(axes) < ndim:
        raise ValueError(f"`axis` {axis} takes in the batch axis 0; use null for one value "
                         "over the whole batch, or axes from 1 for one value per sample")
    return axes


def _squeezed(values, axes):
    return values.reshape(()) if len(axes) == values.ndim else values.squeeze(axes)


def _above(x, bound):
    """d max(x, bound) / dx as JAX has it: 1 above, 0 below, 1/2 at a tie."""
    return np.where(x > bound, 1, np.where(x == bound, 0.5, 0)).astype(np.float32)


def _clip(values, low, high):
    return np.clip(values, low, high), (values >= low) & (values <= high)


_FUNCTIONS = {  # name -> (y_true, y_pred, **args) -> (per-sample values, dLoss/dy_pred)
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,  # called by _values
    "kl_divergence": kl_divergence,
    "poisson": poisson,
    "log_cosh": log_cosh,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "categorical_hinge": categorical_hinge,
    "cosine_similarity": cosine_similarity,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy,
    "dice": dice,  # called by _values, with its own axis
    "tversky": tversky,
}
