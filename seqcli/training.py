"""`fit` and `evaluate`, step for step as Keras's `model.fit` and `model.evaluate`.

Per epoch: batches in order (or shuffled), a training-mode forward pass, the
loss and its gradient, a backward pass, one optimizer step on the trainable
weights only. The reported loss and metrics are running means over the epoch's
batches (computed before each step's update), as Keras reports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from seqcli import losses, metrics, optimizers, regularizers
from seqcli.errors import SeqcliError
from seqcli.model import Sequential
from seqcli.threads import single_blas
from seqcli.weights import flatten, nest, specs_of

DEFAULT_OPTIMIZER = "rmsprop"  # Keras's compile() default
# up to this many samples, a step's products are too small to share among BLAS threads,
# whose spinning between products costs more than it saves (convolutions share their
# own work among the cores)
SMALL_BATCH = 256


@dataclass
class Compiled:
    """What `model.compile(...)` sets: loss, optimizer and metrics."""

    loss: tuple
    optimizer: tuple
    metrics: list
    weighted_metrics: list = field(default_factory=list)  # weighed by sample_weight

    def section(self) -> dict:
        """These settings as a spec's `compile:` section, each in its one-key form."""
        (loss, loss_args), (optimizer, optimizer_args) = self.loss, self.optimizer
        section = {"loss": {loss: dict(loss_args)}, "optimizer": {optimizer: dict(optimizer_args)}}
        for key in ("metrics", "weighted_metrics"):
            if getattr(self, key):
                section[key] = list(getattr(self, key))
        return section


def compile_settings(spec_compile, loss=None, optimizer=None, learning_rate=None,
                     metric_names=None, where="", purpose: str = "train with") -> Compiled:
    """The spec's `compile:` section with the command line's values on top. A bad value
    is blamed on where it came from: its option (`--loss`), else the spec: `where`, or
    `where(key)` when it can locate each of the section's keys."""
    at = where if callable(where) else (lambda key: where)
    where = at(None)
    section = dict(spec_compile or {})
    unknown = set(section) - {"loss", "optimizer", "metrics", "weighted_metrics"}
    if unknown:
        raise SeqcliError(f"`compile` has no key {sorted(unknown)[0]!r}; it takes loss, "
                          "optimizer, metrics, weighted_metrics", where)

    def origin(option, given):
        return option if given is not None else at(option.removeprefix("--"))

    if loss is None and section.get("loss") is None:
        raise SeqcliError(f"no loss to {purpose}: give --loss, or `compile: {{loss: ...}}` "
                          "in the spec (e.g. sparse_categorical_crossentropy)", where)
    chosen_loss = losses.get(loss if loss is not None else section["loss"],
                             origin("--loss", loss))
    name, args = optimizers.get(optimizer if optimizer is not None
                                else section.get("optimizer", DEFAULT_OPTIMIZER),
                                origin("--optimizer", optimizer))
    if learning_rate is not None:
        args = {**args, "learning_rate": learning_rate}
    names = metric_names if metric_names is not None else section.get("metrics") or []
    weighted = section.get("weighted_metrics") or []
    for key, value in (("metrics", names), ("weighted_metrics", weighted)):
        if not isinstance(value, list):
            raise SeqcliError(f"`{key}` must be a list of names, e.g. [accuracy]", at(key))
    return Compiled(chosen_loss, (name, args),
                    metrics.check(names, origin("--metrics", metric_names)),
                    metrics.check(weighted, at("weighted_metrics")))


@dataclass
class Monitor:
    """The quantity early stopping and checkpoints watch, and its best value so far."""

    name: str
    best: float | None = None
    wait: int = 0
    up: bool | None = None  # Keras's "auto" mode: the metric's own direction

    @property
    def maximize(self) -> bool:
        return self.up if self.up is not None else "acc" in self.name

    def update(self, logs: dict) -> bool:
        """True when this epoch improved on the best value."""
        if self.name not in logs:
            raise SeqcliError(f"cannot monitor {self.name!r}: the logged values are "
                              f"{', '.join(logs)}")
        value = logs[self.name]
        # as Keras: the first epoch sets the best, even to NaN, which nothing later beats
        better = self.best is None or (value > self.best if self.maximize else value < self.best)
        if better:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        return better


@dataclass
class ReduceLROnPlateau:
    """Keras's callback: the learning rate times `factor` after `patience` epochs in
    which `monitor` did not improve by `min_delta`, then `cooldown` epochs of rest."""

    monitor: str
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 1e-4
    cooldown: int = 0
    min_lr: float = 0.0
    best: float | None = None
    wait: int = 0
    cooling: int = 0

    def epoch_end(self, logs: dict, optimizer) -> None:
        """Logs the epoch's learning rate (as Keras does) and lowers it when due."""
        logs["learning_rate"] = float(optimizer.learning_rate())
        current = logs[self.monitor]
        if self.cooling > 0:
            self.cooling -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif self.cooling == 0:
            self.wait += 1
            if self.wait >= self.patience and logs["learning_rate"] > np.float32(self.min_lr):
                optimizer.args["learning_rate"] = max(logs["learning_rate"] * self.factor,
                                                      self.min_lr)
                self.cooling, self.wait = self.cooldown, 0

    def _improved(self, current) -> bool:
        if self.best is None:
            return True
        if "acc" in self.monitor:  # Keras's "auto" mode: accuracies go up
            return current - self.min_delta > self.best
        return current + self.min_delta < self.best


@dataclass
class History:
    epochs: list = field(default_factory=list)  # one dict of logs per epoch
    stopped_early: bool = False
    interrupted: bool = False

    def as_lists(self) -> dict:
        """Keras's `History.history`: each logged name -> its per-epoch values."""
        names = list(self.epochs[0]) if self.epochs else []
        return {name: [logs[name] for logs in self.epochs] for name in names}


class NonFiniteLoss(SeqcliError):
    """The loss became NaN or Inf; the weights are as they were before that step."""


class Reporter:
    """Hooks for progress; the command line prints, the library does not."""

    def epoch_begin(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, step: int, logs: dict) -> None: ...
    def epoch_end(self, epoch: int, logs: dict, improved: bool) -> None: ...


def check_targets(model: Sequential, compiled: Compiled, x, y, where: str = "",
                  sample=1024, rows: int | None = None) -> None:
    """Targets that do not fit the loss fail now, before any training or output. The
    message gives the whole targets' shape (the check probes a sample of them; `rows`
    is their count when `y` is only their head, as a Dask run reads it) and `where`
    they are."""
    n = min(len(y), sample)
    shape = model.output_shape((n, *x.shape[1:]))
    probe = np.full(shape, 0.5, dtype=np.float32)  # a valid probability and a valid logit
    try:
        _loss(compiled, np.asarray(y[:n]), probe)
        for metric in _metrics(compiled, y, model, x):
            metric.update(np.asarray(y[:n]), probe)
        if compiled.loss[0] == "sparse_categorical_crossentropy":
            _loss(compiled, np.asarray(y), np.full((len(y), shape[-1]), 0.5, np.float32))
    except SeqcliError as exc:
        raise SeqcliError(_whole_shapes(exc.message, n, len(y) if rows is None else rows),
                          where) from None


def _whole_shapes(message: str, probed: int, rows: int) -> str:
    """'(1024, 3)' in a probe's message read as the data's '(70000, 3)'."""
    return message.replace(f"({probed},", f"({rows},")


def trainable_keys(model: Sequential) -> list[str]:
    return [spec.name for spec in specs_of(model) if spec.trainable]


def trainable_rules(model: Sequential, trainable) -> dict:
    """{key: (regularizer, constraint)} of the trainable weights: Keras regularizes and
    constrains only those."""
    trainable = set(trainable)
    return {key: pair for key, pair in model.plan.weight_rules().items() if key in trainable}


def weight_penalty(weights: dict, rules: dict) -> float:
    """The weights' regularization terms, as Keras adds them to the loss."""
    return sum(regularizers.penalty(regularizer, weights[key])
               for key, (regularizer, _) in rules.items() if regularizer is not None)


def split_validation(x, y, fraction: float, sample_weight=None):
    """Keras's validation_split: the last fraction of the data (and of the sample
    weights), before any shuffling."""
    split_at = int(math.floor(len(x) * (1.0 - fraction)))
    if split_at == 0 or split_at == len(x):
        raise SeqcliError(f"--validation-split {fraction} leaves no training or no validation "
                          f"samples out of {len(x)}")
    if sample_weight is None:
        return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])
    return (x[:split_at], y[:split_at], sample_weight[:split_at]), \
        (x[split_at:], y[split_at:], sample_weight[split_at:])


def class_sample_weights(y, class_weight: dict):
    """Keras's class_weight as per-sample weights: each sample weighs its class's weight
    (1 for a class not listed); one-hot targets count by their arg-max."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype(np.int64)
    return np.array([class_weight.get(int(label), 1.0) for label in labels], np.float32)


@dataclass
class FitOptions:
    """Keras's fit arguments that shape the loop."""

    epochs: int = 1
    batch_size: int = 32
    shuffle: bool = True
    seed: int = 0
    validation: tuple | None = None  # (x, y) or (x, y, sample weights)
    sample_weight: object = None  # one weight per training sample (class_weight gives them)
    monitor: Monitor | None = None
    patience: int | None = None  # early stopping, watching `monitor`
    reduce_lr: ReduceLROnPlateau | None = None


def fit(model: Sequential, weights: dict, x, y, compiled: Compiled,
        options: FitOptions = FitOptions(), reporter: Reporter | None = None,
        should_stop=lambda: False) -> History:
    """Train `weights` in place; returns the per-epoch logs."""
    trainer = Trainer(model, weights, compiled, options.seed)
    reporter = reporter or Reporter()
    monitor, history = options.monitor, History()
    steps = math.ceil(len(x) / options.batch_size)
    for epoch in range(options.epochs):
        reporter.epoch_begin(epoch, options.epochs, steps)
        logs = trainer.epoch(x, y, options, reporter, should_stop, epoch)
        history.interrupted = should_stop()
        if options.validation is not None and not history.interrupted:
            x_val, y_val, *weighted = options.validation
            scores = evaluate(model, weights, x_val, y_val, compiled, options.batch_size,
                              sample_weight=weighted[0] if weighted else None)
            logs.update({f"val_{name}": value for name, value in scores.items()})
        if options.reduce_lr is not None and not history.interrupted:
            options.reduce_lr.epoch_end(logs, trainer.optimizer)
        history.epochs.append(logs)
        improved = monitor.update(logs) if monitor else False
        reporter.epoch_end(epoch, logs, improved)
        if history.interrupted:
            break
        if monitor and options.patience is not None and monitor.wait >= options.patience:
            history.stopped_early = True
            break
    trainer.optimizer.finalize(weights)  # e.g. use_ema: the weights become their averages
    return history


class Trainer:
    """One fit's state: the weights it trains (in place), the optimizer and the random
    stream. Every change to the weights happens in `step`, in sight."""

    def __init__(self, model: Sequential, weights: dict, compiled: Compiled, seed: int):
        self.model, self.weights, self.compiled = model, weights, compiled
        self.params = nest(weights)  # views of the same arrays, as the layers take them
        self.optimizer = optimizers.Optimizer(compiled.optimizer)
        self.trainable = trainable_keys(model)
        self.rules = trainable_rules(model, self.trainable)  # regularizers, constraints
        self.rng = np.random.default_rng(seed)

    def epoch(self, x, y, options: FitOptions, reporter, should_stop, epoch: int) -> dict:
        """One pass over the data; the logs are running means, as Keras reports them."""
        if options.batch_size > SMALL_BATCH:
            return self._epoch(x, y, options, reporter, should_stop, epoch)
        with single_blas():  # set once per epoch: setting it costs tens of microseconds
            return self._epoch(x, y, options, reporter, should_stop, epoch)

    def _epoch(self, x, y, options, reporter, should_stop, epoch):
        order = self.rng.permutation(len(x)) if options.shuffle else np.arange(len(x))
        tracked = _metrics(self.compiled, y, self.model, x)
        loss_sum, seen, logs = 0.0, 0, {}
        for step, start in enumerate(range(0, len(x), options.batch_size)):
            index = order[start:start + options.batch_size]
            y_batch = np.asarray(y[index])
            weights = None if options.sample_weight is None else options.sample_weight[index]
            loss, result = self.step(np.asarray(x[index], dtype=np.float32), y_batch,
                                     f"at epoch {epoch + 1}, step {step + 1}", weights)
            loss_sum += loss * len(index)
            seen += len(index)
            for metric in tracked:
                metric.update(y_batch, result.output, result.mask, weights)
            logs = {"loss": loss_sum / seen, **{m.name: m.result() for m in tracked}}
            reporter.step(step + 1, logs)
            if should_stop():
                break
        return logs

    def step(self, x_batch, y_batch, when: str, sample_weight=None):
        """One optimizer step on a batch: (the batch's loss, the forward pass)."""
        result = self.model.run(self.params, x_batch, training=True, rng=self.rng)
        loss, d_loss = _loss(self.compiled, y_batch, result.output, sample_weight, result.mask)
        # the layers' own terms (activity regularizers) and the weights' regularizers
        loss += result.penalty + weight_penalty(self.weights, self.rules)
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"the loss became {loss} {when}; try a lower learning rate, "
                                "or check the data for NaN/Inf")
        _, grads = self.model.backward(self.params, result, d_loss, input_grad=False)
        grads = flatten(grads)
        for key, (regularizer, _) in self.rules.items():
            if regularizer is not None:
                grads[key] = grads[key] + regularizers.gradient(regularizer, self.weights[key])
        self.optimizer.apply(self.weights, grads, self.trainable)
        for key, (_, constraint) in self.rules.items():  # as Keras: after the update
            if constraint is not None:
                self.weights[key][...] = regularizers.constrain(constraint, self.weights[key])
        for key, value in result.updates.items():  # e.g. BatchNormalization's statistics
            self.weights[key][...] = value
        return loss, result


def _metrics(compiled, y, model, x) -> list:
    output = model.output_shape((None, *x.shape[1:]))
    return metric_list(compiled, y.shape, output)


def metric_list(compiled, y_shape=(None, 1), output_shape=(None, 2)) -> list:
    """The metrics, then the weighted ones, named as Keras logs them (the shapes pick
    which accuracy "accuracy" is)."""
    plain = [metrics.make(name, y_shape, output_shape) for name in compiled.metrics]
    weighted = [metrics.make(name, y_shape, output_shape, weighted=True)
                for name in compiled.weighted_metrics]
    metrics.name_uniquely(plain, weighted)
    return plain + weighted


def _loss(compiled, y_true, y_pred, sample_weight=None, mask=None):
    try:
        return losses.loss_and_gradient(compiled.loss, y_true, y_pred, sample_weight, mask)
    except ValueError as exc:
        raise SeqcliError(f"{compiled.loss[0]}: {exc}") from None


def evaluate(model: Sequential, weights: dict, x, y, compiled: Compiled,
             batch_size=32, engine=None, sample_weight=None) -> dict:
    """Loss and metrics over the whole data, at inference (Keras's `model.evaluate`);
    `engine` runs the forward passes (default: numpy); `sample_weight` weighs the loss."""
    if engine is None:
        from seqcli.engines import NumpyEngine
        engine = NumpyEngine(model, weights)
    tracked = _metrics(compiled, y, model, x)
    regularization = weight_penalty(weights, trainable_rules(model, trainable_keys(model)))
    loss_sum, seen = 0.0, 0
    for start in range(0, len(x), batch_size):
        x_batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        y_batch = np.asarray(y[start:start + batch_size])
        result = engine.forward(x_batch)
        weights_batch = None if sample_weight is None else sample_weight[start:start + batch_size]
        loss, _ = _loss(compiled, y_batch, result.output, weights_batch, result.mask)
        loss_sum += (loss + result.penalty + regularization) * len(x_batch)
        seen += len(x_batch)
        for metric in tracked:
            metric.update(y_batch, result.output, result.mask, weights_batch)
    return {"loss": loss_sum / max(seen, 1), **{m.name: m.result() for m in tracked}}
