"""Keras's metrics, accumulated over an epoch like Keras's stateful metrics.

A metric is named as `keras.metrics.get` and `model.compile` take it (`mape`, `AUC`,
`RootMeanSquaredError`), or given with its arguments ({precision: {thresholds: 0.3}},
'AUC(curve="PR")'). Keras logs a metric named by a string under that string, and one
given with arguments under its `name` argument, else its class's default name.
"""

from __future__ import annotations

import functools

import numpy as np

from seqcli.errors import SeqcliError
from seqcli.losses import match_rank
from seqcli.setting_tables import METRIC_ALIASES as ALIASES, METRIC_DEFAULT_NAMES as DEFAULT_NAMES
from seqcli.setting_tables import METRIC_POSITIONAL as POSITIONAL, METRICS


def check(values, where: str = "") -> list:
    """The metrics as written, each known and its arguments checked."""
    for value in values:
        get(value, where)
    return list(values)


def get(value, where: str = "") -> tuple[str, dict]:
    """(canonical name, full arguments with Keras's defaults)."""
    from seqcli.settings import resolve

    name, args = resolve(value, METRICS, ALIASES, "metric", where, POSITIONAL, CHECKS)
    for key, given in args.items():
        if key in NOT_YET and given != METRICS[name][key]:
            raise SeqcliError(f"{name}'s `{key}` is not supported yet; {NOT_YET[key]}", where)
    if name == "auc" and args["num_labels"] and not args["multi_label"]:
        raise SeqcliError("auc's `num_labels` is needed only when `multi_label` is true", where)
    _check_classes(name, args, where)
    if name in F_SCORES and args["average"] is None:
        raise SeqcliError(f"{name}'s `average` null (Keras's default) gives one score per "
                          "class, which a log of one number per metric cannot hold; give "
                          "average 'micro', 'macro' or 'weighted'", where)
    return name, args


def _check_classes(name, args, where):
    """The required arguments (the IoU metrics' num_classes and target_class_ids, the
    value PrecisionAtRecall and its kin hold), ids in range."""
    for key in ("num_classes", "target_class_ids", *HELD):
        if key in args and args[key] is None:
            raise SeqcliError(f"{name} needs `{key}`", where)
    classes = args.get("num_classes") or 2
    ids = args.get("target_class_ids") or []
    if ids and max(ids) >= classes:
        raise SeqcliError(f"{name}'s `target_class_ids` {max(ids)} is out of range "
                          f"[0, {classes})", where)


def logged_name(value) -> str:
    """The name Keras logs a metric under: the string as given, else its `name`
    argument, else its class's default name."""
    if isinstance(value, str) and "(" not in value:
        return value
    name = get(value)[0]
    return _given_name(value) or DEFAULT_NAMES.get(name, name)


def _given_name(value):
    from seqcli.settings import _split

    given = _split(value, "metric", "")
    keyword = given[2].get("name")
    order = POSITIONAL[get(value)[0]]
    if keyword is None and "name" in order[:len(given[1])]:
        keyword = given[1][order.index("name")]
    return keyword


def _unnamed(value) -> bool:
    """An object of a class whose default name Keras numbers in a session (name=None:
    auto_name gives auc, auc_1, ...), given without a name."""
    if isinstance(value, str) and "(" not in value:
        return False  # logged under the string
    return get(value)[0] in CONFUSION and not _given_name(value)


def _session_name(name: str, uids: dict) -> str:
    """Keras's naming.uniquify: the second unnamed AUC() of a session is auc_1."""
    index = uids.get(name, 0)
    uids[name] = index + 1
    return f"{name}_{index}" if index else name


def session_names(values: list) -> list:
    """The names Keras gives a compile's metrics (its metrics, then its weighted ones) in
    a fresh session, before the logs number repeats (name_uniquely)."""
    uids = {}
    return [_session_name(logged_name(v), uids) if _unnamed(v) else logged_name(v)
            for v in values]


class Mean:
    """The running mean of per-sample values (Keras's MeanMetricWrapper)."""

    def __init__(self, name: str, function, weighted: bool = False, masked: bool = True):
        self.name, self.function, self.weighted = name, function, weighted
        self.masked = masked  # Keras's MeanMetricWrapper reads the output's mask; Mean does not
        self.total, self.count = 0.0, 0

    def update(self, y_true, y_pred, mask=None, sample_weight=None) -> None:
        """Add a batch: an output mask (Keras's) leaves its masked values out, and a
        weighted metric (Keras's weighted_metrics) weighs each sample."""
        from seqcli.losses import expand_weights

        values = _values_of(self, y_true, y_pred)
        weight = None
        if self.weighted and sample_weight is not None:
            weight = expand_weights(sample_weight, values.ndim).astype(values.dtype)
        if mask is not None and self.masked:
            masked = np.asarray(mask, values.dtype)
            weight = masked if weight is None else weight * masked
        if weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            if not _broadcasts(weight.shape, values.shape):
                raise SeqcliError(f"metric {self.name}: sample weights of shape {weight.shape} "
                                  f"do not fit its values of shape {values.shape} (a metric "
                                  "over the batch axis has no per-sample values to weigh)")
            weight = np.broadcast_to(weight, values.shape)
            self.total += float((values * weight).sum())
            self.count += float(weight.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def state(self) -> tuple:
        """What a batch added, to merge another worker's batches in order."""
        return self.total, self.count

    def merge(self, state) -> None:
        self.total += state[0]
        self.count += state[1]


class RootMean(Mean):
    """Keras's RootMeanSquaredError: the root of the running (weighted) mean of the
    squared errors, not a mean of per-batch roots. Keras's Mean ignores the mask."""

    def __init__(self, name: str, weighted: bool = False):
        super().__init__(name, mean_squared_error, weighted, masked=False)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class R2:
    """Keras's R2Score: per output column, 1 - (weighted squared residuals) / (weighted
    squares about the weighted mean), from sums kept over the epoch; then averaged as
    `class_aggregation` says, and adjusted for `num_regressors`."""

    def __init__(self, name: str, class_aggregation: str, num_regressors: int,
                 weighted: bool = False):
        self.name, self.weighted = name, weighted
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.sums = None  # (sum, squared sum, residual, count) per column, samples

    def update(self, y_true, y_pred, mask=None, sample_weight=None) -> None:
        try:
            target = match_rank(np.asarray(y_true), y_pred)
        except ValueError as exc:
            raise SeqcliError(f"metric {self.name}: {exc}") from None
        if y_pred.ndim != 2:
            raise SeqcliError(f"metric {self.name}: R2Score takes outputs of shape (samples, "
                              f"outputs); received {y_pred.shape}")
        weight = np.ones_like(target)
        if self.weighted and sample_weight is not None:
            weight = np.broadcast_to(np.asarray(sample_weight, np.float32)[:, None],
                                     target.shape)
        weighted = target * weight
        self.merge(((weighted.sum(axis=0), (target * weighted).sum(axis=0),
                     ((target - y_pred) ** 2 * weight).sum(axis=0), weight.sum(axis=0),
                     target.size)))

    def result(self) -> float:
        if self.sums is None:
            return 0.0
        total_sum, squared, residual, count, samples = self.sums
        with np.errstate(divide="ignore", invalid="ignore"):
            total = squared - total_sum * (total_sum / count)
            scores = 1 - residual / total
        scores = np.where(np.isinf(scores), 0.0, scores)
        if self.class_aggregation == "uniform_average":
            score = scores.mean()
        else:  # variance_weighted_average
            score = (total * scores).sum() / total.sum()
        n, p = samples, self.num_regressors
        if p != 0 and p < n - 1:  # else Keras warns and keeps the plain score
            score = 1 - (1 - score) * (n - 1) / (n - p - 1)
        return float(score)

    def state(self) -> tuple:
        return self.sums

    def merge(self, state) -> None:
        if state is not None:
            self.sums = state if self.sums is None else tuple(
                mine + theirs for mine, theirs in zip(self.sums, state))


def _broadcasts(shape, to) -> bool:
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def _values_of(metric, y_true, y_pred):
    try:
        return metric.function(np.asarray(y_true), y_pred)
    except (ValueError, IndexError) as exc:
        raise SeqcliError(f"metric {metric.name}: {exc}") from None


def make(value, y_true_shape: tuple, y_pred_shape: tuple, weighted: bool = False):
    """A metric, with `up` set where it improves by rising (Keras's _direction)."""
    metric = _made(value, y_true_shape, y_pred_shape, weighted)
    metric.up = get(value)[0] in RISING
    metric.unnamed = _unnamed(value)
    return metric


def name_uniquely(plain: list, weighted: list) -> None:
    """Keras's naming: unnamed objects numbered as a fresh session numbers them (see
    session_names); then CompileMetrics.result's: a name already logged gets _1, _2,
    ...; a weighted metric whose name a plain one has is weighted_NAME (numbered in
    turn)."""
    uids = {}  # first Keras's session numbering of unnamed objects (auc, auc_1)
    for metric in plain + weighted:
        if metric.unnamed:
            metric.name = _session_name(metric.name, uids)
    counters = {}
    for metric in plain:
        metric.name = _unique(metric.name, counters)
    for metric in weighted:
        taken = metric.name in counters
        metric.name = _unique(f"weighted_{metric.name}" if taken else metric.name, counters)


def _unique(name: str, counters: dict) -> str:
    if name not in counters:
        counters[name] = 1
        return name
    index = counters[name]
    counters[name] += 1
    return f"{name}_{index}"


def _check_labels(label, args, columns) -> None:
    """A multi-label AUC has a curve per output column: its label_weights and num_labels
    must count those columns (Keras fails on any other count)."""
    for key, count in (("num_labels", args["num_labels"]), ("label_weights", None if
                       args["label_weights"] is None else len(args["label_weights"]))):
        if count is not None and columns is not None and count != columns:
            raise SeqcliError(f"metric {label}: `{key}` counts {count} labels, but the model "
                              f"outputs {columns} columns, one label each")


def _made(value, y_true_shape, y_pred_shape, weighted):
    """The metric's object; "accuracy" picks binary, sparse or categorical accuracy as
    Keras does."""
    name, args = get(value)
    label = logged_name(value)
    if name == ROOT_MEAN:
        return RootMean(label, weighted)
    if name == "r2_score":
        return R2(label, args["class_aggregation"], args["num_regressors"], weighted)
    if name in F_SCORES:
        from seqcli.f_score import make_f_score
        return make_f_score(args, label, weighted)
    if name in CONFUSION:
        from seqcli.confusion import make_confusion
        if name == "auc" and args["multi_label"]:
            _check_labels(label, args, y_pred_shape[-1])
        return make_confusion(name, args, label, weighted)
    own = {k: v for k, v in args.items() if k not in ("name", "dtype", *NOT_YET)}
    if name in LOSS_METRICS:
        return Mean(label, functools.partial(_loss_values, LOSS_METRICS[name], own), weighted)
    function = _FUNCTIONS[name]
    if name == "accuracy":
        binary = y_pred_shape[-1] == 1
        sparse = len(y_true_shape) < len(y_pred_shape) or (
            y_true_shape[-1] == 1 and y_pred_shape[-1] > 1)
        function = binary_accuracy if binary else (
            sparse_categorical_accuracy if sparse else categorical_accuracy)
    return Mean(label, functools.partial(function, **own) if own else function, weighted)


def _loss_values(loss, args, y_true, y_pred):
    """A loss function's per-sample values (seqcli.losses), as Keras's metric of the
    same name averages them; Keras's metric cosine_similarity is the positive one."""
    from seqcli.losses import _values

    values, _, _ = _values(loss, y_true, y_pred, {"axis": -1, "ignore_class": None, **args})
    return -values if loss == "cosine_similarity" else values


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


def pearson_correlation(y_true, y_pred, axis=-1):
    """Keras's pearson_correlation: the correlation along `axis` (population standard
    deviations), one value per sample for the default axis."""
    y_true = match_rank(y_true, y_pred)
    true = y_true - y_true.mean(axis=axis, keepdims=True)
    pred = y_pred - y_pred.mean(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant row: nan, as in Keras
        true = true / true.std(axis=axis, keepdims=True)
        pred = pred / pred.std(axis=axis, keepdims=True)
    return (true * pred).mean(axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Keras's concordance_correlation, as Keras 3 writes it (its covariance centres the
    targets on the predictions' mean)."""
    y_true = match_rank(y_true, y_pred)
    true_mean = y_true.mean(axis=axis, keepdims=True)
    pred_mean = y_pred.mean(axis=axis, keepdims=True)
    true_var = (y_true - true_mean).var(axis=axis, keepdims=True)
    pred_var = (y_pred - pred_mean).var(axis=axis, keepdims=True)
    covariance = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + (true_mean - pred_mean) ** 2
    return (2 * covariance / (norm + np.float32(1e-7))).mean(axis=axis)


_FUNCTIONS = {
    "accuracy": None,  # the accuracy that fits the targets: see `make`
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_absolute_error": mean_absolute_error, "mean_squared_error": mean_squared_error,
    # means of per-sample values over the epoch (Keras's MeanMetricWrapper), not one
    # correlation of the epoch's values
    "pearson_correlation": pearson_correlation,
    "concordance_correlation": concordance_correlation,
}
# Keras's metrics that average a loss function's per-sample values -> that loss (of the
# same name, but for log_cosh_error)
LOSS_METRICS = {**{name: name for name in (
    "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
    "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity")},
    "log_cosh_error": "log_cosh"}
CONFUSION = ("true_positives", "false_positives", "true_negatives", "false_negatives",
             "precision", "recall", "auc", "binary_io_u", "io_u", "mean_io_u",
             "one_hot_io_u", "one_hot_mean_io_u", "precision_at_recall",
             "recall_at_precision", "sensitivity_at_specificity",
             "specificity_at_sensitivity")  # seqcli.confusion's
# the value each of the last four holds (Keras's first, required, argument)
HELD = ("recall", "precision", "specificity", "sensitivity")
F_SCORES = ("f1_score", "f_beta_score")  # seqcli.f_score's
ROOT_MEAN = "root_mean_squared_error"
# the metrics Keras marks as improving upwards (_direction "up")
RISING = ("accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
          "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
          "cosine_similarity", "precision", "recall", "auc", "r2_score", "binary_io_u", "io_u",
          "mean_io_u", "one_hot_io_u", "one_hot_mean_io_u", *F_SCORES, *CONFUSION[-4:],
          "pearson_correlation", "concordance_correlation")

# what Keras takes that seqcli does not compute (yet), with why
NOT_YET = {"from_sorted_ids": "Keras's sorted-ids form of the predictions"}


def _name_check(value):
    return None if value is None or isinstance(value, str) else "must be a string"


def _dtype_check(value):
    return None if value in (None, "float32") else "must be float32 (seqcli computes in float32)"


def _positive_integer(value):
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a positive integer"


def _axis_check(value):
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else "must be an integer axis"


def _optional_integer(value):
    ok = value is None or isinstance(value, int) and not isinstance(value, bool)
    return None if ok else "must be an integer or null"


def _threshold_check(value):
    """One threshold: seqcli logs one number per metric (Keras's list of thresholds
    gives a list)."""
    if isinstance(value, list):
        return "must be one number in [0, 1] (a list gives one value per threshold, " \
            "which a log of one number per metric cannot hold)"
    return None if value is None or _unit_number(value) else "must be a number in [0, 1]"


def _unit_check(value):
    return None if _unit_number(value) else "must be a number in [0, 1]"


def _thresholds_check(value):
    ok = value is None or isinstance(value, list) and all(_unit_number(v) for v in value)
    return None if ok else "must be a list of numbers in [0, 1]"


def _unit_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _more_than_one(value):
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 1
    return None if ok else "must be an integer > 1"


def _optional_positive(value):
    return None if value is None else _positive_integer(value)


def _weights_check(value):
    ok = value is None or isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value)
    return None if ok else "must be a list of non-negative numbers"


def _one_of(choices):
    def check(value):
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _non_negative_integer(value):
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "must be an integer >= 0"


def _class_ids_check(value):
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    return None if ok else "must be a list of class indices (integers >= 0)"


def _number_check(value):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return None if ok else "must be a number"


def _positive_float(high=None, optional=False):
    """Keras's F-scores take a Python float only (beta > 0; 0 < threshold <= 1, or null)."""
    def check(value):
        if value is None and optional:
            return None
        if not isinstance(value, float):
            return "must be a number written as a float (Keras takes a Python float: 2.0, not 2)"
        if value <= 0:
            return "must be > 0"
        return "must be <= 1" if high is not None and value > high else None
    return check


def _average_check(value):
    if value is None:
        return "null gives one score per class, which a log of one number per metric " \
            "cannot hold; give 'micro', 'macro' or 'weighted'"
    return _one_of(("micro", "macro", "weighted"))(value)


def _bool_check(value):
    return None if isinstance(value, bool) else "must be true or false"


CHECKS = {"name": _name_check, "dtype": _dtype_check, "k": _positive_integer,
          "axis": _axis_check, "ignore_class": _optional_integer,
          "thresholds": _threshold_check, "top_k": _optional_positive,
          "class_id": _optional_integer, ("auc", "thresholds"): _thresholds_check,
          ("auc", "num_thresholds"): _more_than_one, ("auc", "num_labels"): _optional_positive,
          ("auc", "label_weights"): _weights_check,
          # null (one score per column) is refused: a log holds one number per metric
          ("r2_score", "class_aggregation"): _one_of(("uniform_average",
                                                      "variance_weighted_average")),
          ("r2_score", "num_regressors"): _non_negative_integer,
          "num_classes": _positive_integer, "target_class_ids": _class_ids_check,
          ("binary_io_u", "threshold"): _number_check, "sparse_y_true": _bool_check,
          "sparse_y_pred": _bool_check,
          **{key: _unit_check for key in HELD}, "num_thresholds": _positive_integer,
          "average": _average_check, "beta": _positive_float(),
          **{(name, "threshold"): _positive_float(1.0, optional=True) for name in F_SCORES},
          # Keras's AUCCurve.from_str and AUCSummationMethod.from_str
          ("auc", "curve"): _one_of(("ROC", "roc", "PR", "pr", "PRGAIN", "prgain")),
          ("auc", "summation_method"): _one_of(("interpolation", "Interpolation", "majoring",
                                                "Majoring", "minoring", "Minoring"))}
