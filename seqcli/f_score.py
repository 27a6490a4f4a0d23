"""Keras's F1Score and FBetaScore (keras/src/metrics/f_score_metrics.py): true
positives, false positives, false negatives and the true labels' weight, summed per class
over the epoch (or over all classes for `average: micro`), then the F-beta score of those
sums. As in Keras, these read no output mask."""

from __future__ import annotations

import functools

import numpy as np

from seqcli.confusion import Confusion

EPSILON = np.float32(1e-7)  # Keras's backend.epsilon()


def make_f_score(args: dict, label: str, weighted: bool) -> Confusion:
    count = functools.partial(f_counts, threshold=args["threshold"],
                              micro=args["average"] == "micro")
    result_of = functools.partial(f_score, beta=args.get("beta", 1.0), average=args["average"])
    return Confusion(label, count, result_of, weighted)


def f_counts(y_true, y_pred, sample_weight=None, threshold=None, micro=False):
    """One batch's (tp, fp, fn, true weight): Keras's FBetaScore.update_state. Without a
    threshold each sample's largest nonzero output is its prediction."""
    if y_true.ndim != 2 or y_pred.ndim != 2:
        raise ValueError("F-scores take outputs and targets of shape (samples, classes); "
                         f"received targets {y_true.shape} and outputs {y_pred.shape}")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"the targets have shape {y_true.shape} but the model outputs "
                         f"{y_pred.shape}")
    if threshold is None:
        top = y_pred.max(axis=-1, keepdims=True)
        predicted = (y_pred >= top) & (np.abs(y_pred) > 1e-9)
    else:
        predicted = y_pred > np.float32(threshold)
    predicted = predicted.astype(np.float32)
    target = y_true.astype(np.float32)
    weight = 1 if sample_weight is None else np.asarray(sample_weight, np.float32)[:, None]

    def summed(values):
        values = values * weight
        return values.sum() if micro else values.sum(axis=0)

    return (summed(predicted * target), summed(predicted * (1 - target)),
            summed((1 - predicted) * target), summed(target))


def f_score(tp, fp, fn, support, beta=1.0, average="macro"):
    """Keras's FBetaScore.result."""
    precision = tp / (tp + fp + EPSILON)
    recall = tp / (tp + fn + EPSILON)
    b2 = beta ** 2
    score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
    if average == "weighted":
        return (score * support / (support.sum() + EPSILON)).sum()
    return np.mean(score)  # micro (one score already) or macro
