"""Keras's confusion-matrix metrics (keras/src/metrics/confusion_metrics.py): the
(weighted) true/false positives/negatives at thresholds, counted over the epoch as
metrics_utils.update_confusion_matrix_variables counts them, and Precision, Recall and
AUC made of those counts; and the IoU metrics (iou_metrics.py), made of a class-by-class
confusion matrix. As in Keras, these read no output mask."""

from __future__ import annotations

import functools

import numpy as np

from seqcli.errors import SeqcliError

NEG_INF = np.float32(-1e10)  # Keras's threshold when top_k picks the positives
EPSILON = 1e-7  # Keras's backend.epsilon(), around AUC's end thresholds
CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}  # Keras's AUCCurve.from_str
SUMMATIONS = ("interpolation", "majoring", "minoring")
COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


class Confusion:
    """Counts (tp, fp, tn, fn) per threshold summed over batches; `result_of` makes the
    metric of them."""

    def __init__(self, name: str, count, result_of, weighted: bool = False):
        self.name, self.count, self.result_of, self.weighted = name, count, result_of, weighted
        self.counts = None

    def update(self, y_true, y_pred, mask=None, sample_weight=None) -> None:
        weight = sample_weight if self.weighted else None
        try:
            batch = self.count(np.asarray(y_true), np.asarray(y_pred, np.float32), weight)
        except (ValueError, IndexError) as exc:
            raise SeqcliError(f"metric {self.name}: {exc}") from None
        self.merge(batch)

    def result(self) -> float:
        return 0.0 if self.counts is None else float(self.result_of(*self.counts))

    def state(self) -> tuple:
        return self.counts

    def merge(self, state) -> None:
        if state is not None:
            self.counts = state if self.counts is None else tuple(
                mine + theirs for mine, theirs in zip(self.counts, state))


IOU = ("binary_io_u", "io_u", "mean_io_u", "one_hot_io_u", "one_hot_mean_io_u")


def make_confusion(name: str, args: dict, label: str, weighted: bool) -> Confusion:
    if name == "auc":
        return _auc(args, label, weighted)
    if name in IOU:
        return _iou(name, args, label, weighted)
    if name in AT_VALUE:
        return _at_value(name, args, label, weighted)
    thresholds = args.get("thresholds")
    if thresholds is None:
        thresholds = 0.5 if args.get("top_k") is None else NEG_INF
    count = functools.partial(counts, thresholds=np.array([thresholds], np.float32),
                              top_k=args.get("top_k"), class_id=args.get("class_id"))
    result_of = {"precision": precision, "recall": recall}.get(name)
    if result_of is None:  # true_positives, ...: the count itself
        index = COUNTS.index(name)
        result_of = lambda *counted: counted[index][0]  # noqa: E731
    return Confusion(label, count, result_of, weighted)


def precision(tp, fp, tn, fn):
    return _divide_no_nan(tp, tp + fp)[0]


def recall(tp, fp, tn, fn):
    return _divide_no_nan(tp, tp + fn)[0]


def counts(y_true, y_pred, sample_weight=None, thresholds=None, top_k=None, class_id=None,
           label_weights=None, multi_label=False):
    """One batch's (tp, fp, tn, fn) per threshold (per threshold and label when
    `multi_label`): Keras's update_confusion_matrix_variables."""
    y_true, y_pred = _same_rank(y_true.astype(np.float32), y_pred)
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight, np.float32)
        weight = np.broadcast_to(weight.reshape(weight.shape + (1,) * (y_pred.ndim - weight.ndim)),
                                 y_pred.shape)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError("class_id needs outputs of shape (samples, classes); "
                             f"received {y_pred.shape}")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
        weight = None if weight is None else weight[..., class_id, None]
    if label_weights is not None:
        labels = np.broadcast_to(np.asarray(label_weights, np.float32), y_pred.shape)
        weight = labels if weight is None else weight * labels
    if multi_label:  # one column of counts per label
        if y_pred.ndim != 2:
            raise ValueError(f"multi_label needs outputs of rank 2; received {y_pred.shape}")
        columns = [_counts_flat(y_true[:, j], y_pred[:, j],
                                None if weight is None else weight[:, j], thresholds)
                   for j in range(y_pred.shape[1])]
        return tuple(np.stack(parts, axis=-1) for parts in zip(*columns))
    return _counts_flat(y_true.ravel(), y_pred.ravel(),
                        None if weight is None else weight.ravel(), thresholds)


def _counts_flat(y_true, y_pred, weight, thresholds):
    if _evenly_distributed(thresholds):
        return _bucketed(y_true, y_pred, weight, thresholds)
    positive = y_pred[None, :] > thresholds[:, None]
    label = (y_true != 0)[None, :]
    ones = np.ones_like(y_pred) if weight is None else weight
    tp = np.where(label & positive, ones, 0).sum(axis=1)
    fp = np.where(~label & positive, ones, 0).sum(axis=1)
    fn = np.where(label & ~positive, ones, 0).sum(axis=1)
    tn = np.where(~label & ~positive, ones, 0).sum(axis=1)
    return tp, fp, tn, fn


def _bucketed(y_true, y_pred, weight, thresholds):
    """Keras's _update_confusion_matrix_variables_optimized, for evenly spaced
    thresholds: each prediction counted in its bucket, the buckets summed from the top."""
    n = len(thresholds)
    weight = np.float32(1.0) if weight is None else weight
    target = (y_true != 0).astype(np.float32)
    true_labels, false_labels = target * weight, (1 - target) * weight
    bucket = np.ceil(np.clip(y_pred, 0, 1) * np.float32(n - 1)) - 1
    if thresholds[0] < 0 or thresholds[-1] > 1:  # thresholds with epsilon at the ends
        bucket = np.maximum(bucket, 0)
    bucket = bucket.astype(np.int64)
    kept = bucket >= 0  # segment_sum drops the others

    def summed_from_top(values):
        values = np.broadcast_to(values, bucket.shape)
        buckets = np.bincount(bucket[kept], weights=values[kept], minlength=n)
        return np.cumsum(buckets[::-1].astype(np.float32))[::-1]

    tp, fp = summed_from_top(true_labels), summed_from_top(false_labels)
    total_true = np.broadcast_to(true_labels, bucket.shape).sum()
    total_false = np.broadcast_to(false_labels, bucket.shape).sum()
    return tp, fp, total_false - fp, total_true - tp


def _evenly_distributed(thresholds) -> bool:
    """Keras's is_evenly_distributed_thresholds (AUC's with epsilon ends included)."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(_plain_ends(thresholds), even, atol=EPSILON))


def _plain_ends(thresholds):
    """AUC's thresholds as Keras checks their spacing: its ends are 0 and 1 there."""
    ends = np.array(thresholds, np.float64)
    ends[0], ends[-1] = max(ends[0], 0.0), min(ends[-1], 1.0)
    return ends


def _same_rank(y_true, y_pred):
    """Keras's squeeze_or_expand_to_same_rank(y_pred, y_true)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"the targets have shape {y_true.shape} but the model outputs "
                         f"{y_pred.shape}")
    return y_true, y_pred


def _filter_top_k(x, k):
    """Keras's _filter_top_k: the k largest of the last axis kept, the others NEG_INF."""
    top = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(x.shape, bool)
    np.put_along_axis(keep, top, True, axis=-1)
    return np.where(keep, x, NEG_INF).astype(np.float32)


def _divide_no_nan(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))


# ---------------------------------------------------------------- AUC

def _auc(args, label, weighted) -> Confusion:
    if args["thresholds"] is not None:
        inner = sorted(args["thresholds"])
    else:
        n = args["num_thresholds"]
        inner = [(i + 1) * 1.0 / (n - 1) for i in range(n - 2)]
    thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON], np.float32)
    count = functools.partial(counts, thresholds=thresholds,
                              label_weights=None if args["multi_label"] else args["label_weights"],
                              multi_label=args["multi_label"])
    if args["from_logits"]:
        count = _after_sigmoid(count)
    result_of = functools.partial(auc, curve=CURVES[args["curve"].lower()],
                                  summation=args["summation_method"].lower(),
                                  label_weights=args["label_weights"]
                                  if args["multi_label"] else None)
    return Confusion(label, count, result_of, weighted)


def _after_sigmoid(count):
    def counted(y_true, y_pred, weight):
        return count(y_true, (1 / (1 + np.exp(-y_pred))).astype(np.float32), weight)
    return counted


def auc(tp, fp, tn, fn, curve="ROC", summation="interpolation", label_weights=None):
    """Keras's AUC.result: a Riemann sum over the thresholds' curve points."""
    if curve == "PR" and summation == "interpolation":
        return _by_label(_interpolated_pr(tp, fp, fn), label_weights)
    recall = _divide_no_nan(tp, tp + fn)
    if curve == "ROC":
        x, y = _divide_no_nan(fp, fp + tn), recall
    elif curve == "PR":
        x, y = recall, _divide_no_nan(tp, tp + fp)
    else:  # PRGAIN
        scale = _divide_no_nan(tp + fn, tn + fp)
        recall_gain = np.where(tp == 0, 0.0, 1.0 - scale * _divide_no_nan(fn, tp))
        x = np.maximum(recall_gain, 0.0)
        y = np.where(tp == 0, 1.0, 1.0 - scale * _divide_no_nan(fp, tp))
    if summation == "interpolation":
        heights = (y[:-1] + y[1:]) / 2.0
    elif summation == "minoring":
        heights = np.minimum(y[:-1], y[1:])
    else:
        heights = np.maximum(y[:-1], y[1:])
    return _by_label((x[:-1] - x[1:]) * heights, label_weights)


def _interpolated_pr(tp, fp, fn):
    """Keras's interpolate_pr_auc (Davis & Goadrich 2006)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = _divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
    with np.errstate(divide="ignore"):
        logged = np.log(np.where(ratio > 0, ratio, 1.0))
    return _divide_no_nan(slope * (dtp + intercept * logged), np.maximum(tp[1:] + fn[1:], 0))


def _by_label(terms, label_weights):
    if terms.ndim == 1:
        return terms.sum()
    by_label = terms.sum(axis=0)  # multi_label: each label's own curve
    if label_weights is None:
        return by_label.mean()
    weights = np.asarray(label_weights, np.float64)
    return _divide_no_nan((by_label * weights).sum(), weights.sum())


# ------------------------------------- PrecisionAtRecall and its kin

# (the value held, the rate constrained by it, the rate maximized) per metric
AT_VALUE = {"precision_at_recall": ("recall", "recall", "precision"),
            "recall_at_precision": ("precision", "precision", "recall"),
            "sensitivity_at_specificity": ("specificity", "specificity", "recall"),
            "specificity_at_sensitivity": ("sensitivity", "recall", "specificity")}


def _at_value(name, args, label, weighted) -> Confusion:
    """Keras's SensitivitySpecificityBase: counts at `num_thresholds` evenly spaced
    thresholds from 0 to 1 (0.5 alone for one), no epsilon at the ends."""
    n = args["num_thresholds"]
    thresholds = [0.5] if n == 1 else \
        [0.0, *[(i + 1) * 1.0 / (n - 1) for i in range(n - 2)], 1.0]
    count = functools.partial(counts, thresholds=np.array(thresholds, np.float32),
                              class_id=args["class_id"])
    held, constrained, dependent = AT_VALUE[name]
    return Confusion(label, count, functools.partial(
        best_at, value=args[held], constrained=constrained, dependent=dependent), weighted)


def best_at(tp, fp, tn, fn, value, constrained, dependent):
    """Keras's _find_max_under_constraint: the largest `dependent` rate over the
    thresholds whose `constrained` rate is at least `value` (else 0)."""
    rates = {"recall": _divide_no_nan(tp, tp + fn), "precision": _divide_no_nan(tp, tp + fp),
             "specificity": _divide_no_nan(tn, tn + fp)}
    feasible = rates[constrained].astype(np.float32) >= np.float32(value)
    return max(0.0, float(np.where(feasible, rates[dependent], 0).max()))


# ---------------------------------------------------------------- IoU

def _iou(name, args, label, weighted) -> Confusion:
    num_classes = 2 if name == "binary_io_u" else args["num_classes"]
    targets = args.get("target_class_ids")
    if targets is None:  # MeanIoU: every class
        targets = list(range(num_classes))
    one_hot = name.startswith("one_hot")
    count = functools.partial(
        class_matrix, num_classes=num_classes, ignore_class=args.get("ignore_class"),
        sparse_y_true=args.get("sparse_y_true", not one_hot),
        sparse_y_pred=args.get("sparse_y_pred", True), axis=args.get("axis", -1),
        threshold=args.get("threshold"), integer=args["dtype"] is None)
    return Confusion(label, count, functools.partial(iou, target_class_ids=list(targets)),
                     weighted)


def class_matrix(y_true, y_pred, sample_weight=None, num_classes=2, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1, threshold=None,
                 integer=True):
    """One batch's confusion matrix (true class by predicted class): Keras's
    _IoUBase.update_state. Keras's default dtype is "int": labels, predictions and
    sample weights are truncated to integers first."""
    if threshold is not None:  # BinaryIoU
        y_pred = (y_pred >= np.float32(threshold)).astype(np.float32)
    if not sparse_y_true:
        y_true = np.argmax(y_true, axis=axis)
    if not sparse_y_pred:
        y_pred = np.argmax(y_pred, axis=axis)
    cast = np.trunc if integer else np.asarray
    y_true, y_pred = cast(np.ravel(y_true)), cast(np.ravel(y_pred))
    weight = np.float32(1) if sample_weight is None else cast(np.ravel(sample_weight))
    if np.size(weight) not in (1, y_true.size):  # Keras broadcasts them to the values
        raise ValueError(f"{np.size(weight)} sample weights for {y_true.size} values: Keras's "
                         "IoU metrics weigh one value per sample")
    weight = np.broadcast_to(weight, y_true.shape)
    inside = (y_true >= 0) & (y_true < num_classes) & (y_pred >= 0) & (y_pred < num_classes)
    if ignore_class is not None:
        inside &= y_true != ignore_class
    matrix = np.zeros((num_classes, num_classes), np.float64)
    np.add.at(matrix, (y_true[inside].astype(np.int64), y_pred[inside].astype(np.int64)),
              weight[inside])
    return (matrix,)


def iou(matrix, target_class_ids):
    """Keras's IoU.result: the mean over the target classes with a nonzero union of
    true positives / (the union + epsilon)."""
    true_positives = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positives
    true_positives, union = true_positives[target_class_ids], union[target_class_ids]
    valid = union > 1e-9
    ratios = np.where(valid, true_positives / (union + EPSILON), 0.0)
    return ratios.sum() / (valid.sum() + EPSILON)
