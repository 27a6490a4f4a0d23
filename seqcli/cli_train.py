"""Commands that train and score a model: fit, evaluate."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
import time

import click

from seqcli import spec as spec_module
from seqcli.cli import cli
from seqcli.cli_dask import check_local_options, dask_options
from seqcli.cli_model import (ALLOW_NONFINITE, MAX_MEMORY, SPEC, WEIGHTS, engine_for,
                              engine_option, weights_for, weights_saver)
from seqcli.errors import SeqcliError, Status
from seqcli.files import binary_writable, refuse_same_file, shown, writable

class Finite(click.FloatRange):
    """A float range that also refuses nan and inf (click's range lets nan through: every
    comparison with it is false)."""

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def data_options(dask: bool) -> list:
    """--data, --x, --y; only a command with --engine offers Dask's inputs in its help."""
    more = "; with --engine dask also a glob or folder of .npy shards, or a Zarr array" \
        if dask else ""
    return [
        click.option("--data", "data_path", type=click.Path(dir_okay=False),
                     help="An .npz holding arrays `x` (inputs) and `y` (targets); '-' reads "
                          "standard input."),
        click.option("--x", "x_path", type=click.Path(), help="Inputs as .npy or .csv/.tsv "
                     f"text ('-': standard input{more})."),
        click.option("--y", "y_path", type=click.Path(), help="Targets as .npy or .csv/.tsv "
                     "(likewise)."),
    ]
COMPILE = [
    click.option("--loss", help="A Keras loss: name or call, e.g. "
                 "'SparseCategoricalCrossentropy(from_logits=True)' (default: the spec's)."),
    click.option("--metrics", "metric_names", multiple=True, metavar="NAMES",
                 help="Metrics, comma-separated or repeated, as Keras names them or as calls, "
                 "e.g. accuracy,mae or 'AUC(curve=\"PR\"),Precision(0.3)'."),
]


def options(decorators):
    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


def load_xy(data_path, x_path, y_path, what="--data"):
    """(x, y) from an .npz with `x` and `y` ('-': standard input), or from two .npy or
    CSV/TSV files."""
    from seqcli import arrays, streams

    if bool(data_path) == bool(x_path or y_path) or bool(x_path) != bool(y_path):
        raise click.UsageError(f"give {what} D.npz (with arrays x and y), or --x X.npy and "
                               "--y Y.npy")
    if data_path:
        found = streams.read_npz(what) if data_path == "-" else arrays.read_npz(data_path)
        data_path = "<stdin>" if data_path == "-" else data_path
        if set(found) != {"x", "y"}:
            raise SeqcliError(f"expected exactly the arrays `x` and `y`; found "
                              f"{', '.join(sorted(found)) or 'none'}", data_path)
        x, y, where = found["x"], found["y"], data_path
    else:
        x, y = streams.open_input(x_path, "--x", rows=False), \
            streams.open_input(y_path, "--y", rows=False)
        where = "<stdin>" if y_path == "-" else y_path
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) == 0:
        raise SeqcliError(f"x has {len(x) if x.ndim else 0} samples and y has "
                          f"{len(y) if y.ndim else 0}; they must match and not be empty", where)
    return x, y


def data_where(data_path, x_path, y_path) -> tuple:
    """What messages call the inputs and the targets: their files."""
    return (data_path or x_path, data_path or y_path)


def check_data(x, y, allow_nonfinite: bool, where=("", "")) -> None:
    """No NaN or Inf in the inputs or targets (unless allowed); `where` names their files."""
    from seqcli.errors import about_data
    from seqcli.runner import check_finite

    if not allow_nonfinite:
        with about_data(where[0]):
            check_finite(x)
        with about_data(where[1]):
            check_finite(y, what="targets")


def _metric_list(metric_names):
    from seqcli.settings import split_names

    return split_names(metric_names)


def _compiled_model(spec, x, y, loss, optimizer, learning_rate, metric_names, where,
                    purpose="train with"):
    """The model built for x, its compile settings, and the targets checked against it;
    `where` names the inputs' and the targets' files."""
    from seqcli import runner, training

    loaded = spec_module.load(spec, sys.stdin)
    model = runner.build_for(loaded.model, x, where[0])
    compiled = training.compile_settings(loaded.compile, loss, optimizer, learning_rate,
                                         _metric_list(metric_names), compile_where(loaded),
                                         purpose)
    training.check_targets(model, compiled, x, y, where[1])
    return model, compiled, loaded


def compile_where(loaded):
    """key -> where the spec's `compile:` section holds it ('file:line:col' in a spec
    file; the file's name otherwise)."""
    if loaded.doc is None:
        return loaded.name
    from seqcli.spec import SpecSource

    source = SpecSource(loaded.doc)
    return lambda key: source.where(("compile", key) if key else ("compile",))


# ---------------------------------------------------------------- progress

class Progress:
    """Keras-style progress: a bar per epoch on a terminal, one line per epoch otherwise."""

    def __init__(self, stream, on_terminal: bool, checkpoint=None):
        self.stream, self.on_terminal, self.checkpoint = stream, on_terminal, checkpoint
        self.epochs = self.steps = self.drawn = 0
        self.started = self.last_draw = 0.0

    def epoch_begin(self, epoch, epochs, steps):
        self.epochs, self.steps, self.started = epochs, steps, time.monotonic()
        if self.on_terminal:
            self._write(f"Epoch {epoch + 1}/{epochs}\n")

    def step(self, step, logs):
        now = time.monotonic()
        if self.on_terminal and (now - self.last_draw > 0.1 or step == self.steps):
            self.last_draw = now
            left = (now - self.started) / step * (self.steps - step)
            self._redraw(f"{self._bar(step)} - ETA: {left:.0f}s{format_logs(logs)}")

    def epoch_end(self, epoch, logs, improved):
        seconds = time.monotonic() - self.started
        if self.on_terminal:
            self._redraw(f"{self._bar(self.steps)} - {seconds:.1f}s{format_logs(logs)}")
            self._write("\n")
            self.drawn = 0
        else:
            steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
            self._write(f"Epoch {epoch + 1}/{self.epochs} - {steps} - "
                        f"{seconds:.1f}s{format_logs(logs)}\n")
        if improved and self.checkpoint:
            self.checkpoint()

    def _bar(self, step, width=30):
        done = width * step // max(self.steps, 1)
        arrow = ">" if step < self.steps else "="
        fill = ("=" * max(done - 1, 0) + arrow) if done else ""
        return f"{step}/{self.steps} [{fill.ljust(width, '.')}]"

    def _redraw(self, line):
        # pad over what the previous, longer line left on the terminal
        self._write("\r" + line.ljust(self.drawn))
        self.drawn = len(line)

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


def format_logs(logs: dict) -> str:
    return "".join(f" - {name}: {value:.4f}" for name, value in logs.items())


class StopOnInterrupt:
    """Ctrl-C asks training to stop after the current step; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        click.echo("\nseqcli: stopping after this step (Ctrl-C again to abort)", err=True)


# ---------------------------------------------------------------- fit

@cli.command()
@SPEC
@options(data_options(dask=False))
@WEIGHTS
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              callback=binary_writable,
              help="Where to write the trained weights: .npz, .weights.h5 or .keras.")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--shuffle/--no-shuffle", default=True, show_default=True,
              help="Shuffle the training samples every epoch.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed for shuffling, dropout and fresh weights.")
@click.option("--validation-split", type=Finite(0, 1, min_open=True, max_open=True),
              help="Hold out this last fraction of the data for validation.")
@click.option("--validation-data", "validation_path", type=click.Path(dir_okay=False),
              help="An .npz with `x` and `y` to validate on.")
@options(COMPILE)
@click.option("--optimizer", help="A Keras optimizer: name or call, e.g. 'SGD(momentum=0.9)' "
              "(default: the spec's, else rmsprop).")
@click.option("--learning-rate", type=Finite(0, min_open=True),
              help="The optimizer's learning rate.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False),
              callback=writable,
              help="Write per-epoch loss and metrics (.json or .csv).")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False),
              callback=binary_writable,
              help="Keep the best weights (by --monitor) in this file (as -o).")
@click.option("--monitor", help="What --checkpoint, --early-stopping and "
              "--reduce-lr-on-plateau watch "
              "(default: val_loss with validation data, else loss).")
@click.option("--early-stopping", "patience", type=click.IntRange(min=1), metavar="PATIENCE",
              help="Stop after this many epochs without improvement.")
@click.option("--reduce-lr-on-plateau", "lr_patience", type=click.IntRange(min=1),
              metavar="PATIENCE", help="Lower the learning rate after this many epochs "
              "without improvement of --monitor (Keras's ReduceLROnPlateau).")
@click.option("--reduce-lr-factor", type=Finite(0, 1, min_open=True, max_open=True),
              default=0.1, show_default=True, help="What --reduce-lr-on-plateau multiplies by.")
@click.option("--min-lr", type=Finite(0), default=0.0, show_default=True,
              help="The lowest learning rate --reduce-lr-on-plateau goes to.")
@click.option("--sample-weight", "sample_weight_path", type=click.Path(dir_okay=False),
              help="A .npy of one weight per sample, weighing the loss (Keras's sample_weight).")
@click.option("--class-weight", callback=lambda ctx, param, value: parse_class_weight(value),
              metavar="CLASS:W,...", help="Weigh each class's samples in the loss, e.g. 0:1,1:5.")
@click.option("--keep-on-nan", is_flag=True,
              help="If the loss turns NaN/Inf, still write the weights from before that step.")
@MAX_MEMORY
@ALLOW_NONFINITE
def fit(spec, data_path, x_path, y_path, weights_path, output, epochs, batch_size, shuffle,
        seed, validation_split, validation_path, loss, metric_names, optimizer, learning_rate,
        history_path, checkpoint_path, monitor, patience, lr_patience, reduce_lr_factor,
        min_lr, sample_weight_path, class_weight, keep_on_nan, max_memory, allow_nonfinite):
    """Train a model; layers with `trainable: false` never change.

    \b
    Example:
      seqcli fit frozen.yaml --data train.npz --weights w.npz -o trained.npz \\
          --loss sparse_categorical_crossentropy --optimizer adam --epochs 5 \\
          --metrics accuracy --validation-split 0.2 --history history.json
    """
    from seqcli import runner, training

    if validation_split and validation_path:
        raise click.UsageError("use --validation-split or --validation-data, not both")
    if checkpoint_path == "-":
        raise click.UsageError("--checkpoint is rewritten each time --monitor improves; "
                               "give it a file, not '-'")
    _check_history_path(history_path)
    refuse_same_file(("-o", output), ("--checkpoint", checkpoint_path))
    _refuse_unused_lr_settings(lr_patience)
    from seqcli import budget, streams

    streams.claim_all(SPEC=spec, data=data_path, x=x_path, y=y_path, weights=weights_path,
                      validation_data=validation_path, sample_weight=sample_weight_path)
    x, y = load_xy(data_path, x_path, y_path)
    where = data_where(data_path, x_path, y_path)
    check_data(x, y, allow_nonfinite, where)
    model, compiled, loaded = _compiled_model(spec, x, y, loss, optimizer, learning_rate,
                                              metric_names, where)
    # a .keras output (or checkpoint) is compiled with what training used: the spec's
    # `compile:` with the command line's --loss, --optimizer and --metrics on top
    trained = dataclasses.replace(loaded, compile=compiled.section())
    save_output = weights_saver(output, trained, model)
    save_best = weights_saver(checkpoint_path, trained, model, "--checkpoint")
    budget.check(model, min(batch_size, len(x)), max_memory, training=True)
    validation = load_xy(validation_path, None, None, "--validation-data") \
        if validation_path else None
    if validation is not None:
        check_data(*validation, allow_nonfinite, (validation_path, validation_path))
        runner.build_for(model, validation[0], validation_path)  # fails now, not after epoch 1
        training.check_targets(model, compiled, *validation, validation_path)
    sample_weight = _sample_weights(sample_weight_path, class_weight, y)
    if validation_split:
        train, validation = training.split_validation(x, y, validation_split, sample_weight)
        x, y = train[:2]
        sample_weight = train[2] if sample_weight is not None else None
    watcher = _monitor(monitor, compiled, validation,
                       checkpoint_path or patience or lr_patience)
    reduce_lr = _reduce_lr(compiled, watcher, lr_patience, reduce_lr_factor, min_lr)
    weights = weights_for(model, weights_path, loaded.weights, seed)
    # with `-o -` the weights own standard output: progress goes to stderr
    shown = sys.stderr if output == "-" else sys.stdout
    progress = Progress(shown, shown.isatty(),
                        (lambda: save_best(weights)) if save_best else None)
    from seqcli import memory

    memory.keep_freed_memory()  # each step's arrays reuse the last one's pages
    try:
        with StopOnInterrupt() as stop:
            options = training.FitOptions(
                epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed,
                validation=validation, sample_weight=sample_weight, monitor=watcher,
                patience=patience, reduce_lr=reduce_lr)
            history = training.fit(model, weights, x, y, compiled, options, progress, stop)
    except training.NonFiniteLoss as exc:
        if keep_on_nan:
            save_output(weights)
            raise SeqcliError(f"{exc.message}; kept the weights from before that step in "
                              f"{output} (--keep-on-nan)") from None
        raise SeqcliError(f"{exc.message}; nothing was written (--keep-on-nan keeps the "
                          "weights from before that step)") from None
    save_output(weights)
    if history_path:
        _write_history(history_path, history)
    _report(history, output, watcher)
    if history.interrupted:
        sys.exit(Status.INTERRUPTED)


def _refuse_unused_lr_settings(lr_patience) -> None:
    """--reduce-lr-factor and --min-lr set up --reduce-lr-on-plateau; given without it
    they would silently change nothing."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    for name, option in (("reduce_lr_factor", "--reduce-lr-factor"), ("min_lr", "--min-lr")):
        if lr_patience is None and \
                ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            raise click.UsageError(f"{option} sets up --reduce-lr-on-plateau PATIENCE; "
                                   "give that too")


def parse_class_weight(value):
    """'0:1,1:5' -> {0: 1.0, 1: 5.0} (Keras's class_weight)."""
    if value is None:
        return None
    weights = {}
    for part in value.split(","):
        label, _, weight = part.partition(":")
        try:
            label, weight = int(label), float(weight)
        except ValueError:
            raise click.BadParameter(f"expected CLASS:WEIGHT pairs such as 0:1,1:5; got "
                                     f"{value!r}") from None
        if label in weights:  # the later one would silently win
            raise click.BadParameter(f"class {label} given more than once in {value!r}")
        if not (weight >= 0 and math.isfinite(weight)):
            raise click.BadParameter(f"a class weight must be a finite number >= 0; got "
                                     f"{value!r}")
        weights[label] = weight
    return weights


def _sample_weights(path, class_weight, y):
    """One weight per training sample, from --sample-weight (.npy, or a column of CSV/TSV
    text) or --class-weight."""
    import numpy as np

    from seqcli import streams, tables, training

    if path and class_weight:
        raise click.UsageError("use --sample-weight or --class-weight, not both (Keras "
                               "refuses both at once)")
    if class_weight:
        return training.class_sample_weights(y, class_weight)
    if not path:
        return None
    weights = streams.open_input(path, "--sample-weight", rows=False)
    if tables.is_table(path) and weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]  # a column of text: one weight per line
    where = "<stdin>" if path == "-" else path
    if weights.shape != (len(y),) or weights.dtype.kind not in "fiu":
        raise SeqcliError(f"expected {len(y)} sample weights, one number per sample (shape "
                          f"({len(y)},)); found {weights.dtype} of shape {weights.shape}", where)
    weights = weights.astype("float32")
    bad = np.flatnonzero(~np.isfinite(weights))
    if bad.size:  # it would turn the loss NaN at the first step, far from its cause
        raise SeqcliError(f"the sample weights hold NaN or Inf (first in sample {bad[0]})",
                          where)
    return weights


def _reduce_lr(compiled, watcher, patience, factor, min_lr):
    from seqcli.training import ReduceLROnPlateau

    if patience is None:
        return None
    if isinstance(compiled.optimizer[1]["learning_rate"], dict):
        raise click.UsageError("--reduce-lr-on-plateau needs a constant learning rate; the "
                               "optimizer has a learning-rate schedule")
    return ReduceLROnPlateau(watcher.name, factor=factor, patience=patience, min_lr=min_lr)


def _monitor(name, compiled, validation, needed):
    from seqcli import training
    from seqcli.training import Monitor

    if not needed:
        if name is not None:  # Keras has no monitor outside a callback: it would do nothing
            raise click.UsageError("--monitor is what --checkpoint, --early-stopping and "
                                   "--reduce-lr-on-plateau watch; give one of them")
        return None
    tracked = training.metric_list(compiled)
    logged = ["loss", *(metric.name for metric in tracked)]
    logged += [f"val_{n}" for n in logged] if validation is not None else []
    name = name or ("val_loss" if validation is not None else "loss")
    if name not in logged:
        from seqcli.errors import did_you_mean
        raise SeqcliError(f"cannot monitor {name!r}{did_you_mean(name, logged)}; the logged "
                          f"values are: {', '.join(logged)}", "--monitor")
    # as Keras's EarlyStopping and ModelCheckpoint: up for the metrics that rise
    return Monitor(name, up=name.removeprefix("val_") in {m.name for m in tracked if m.up})


def _check_history_path(path):
    if path and not path.lower().endswith((".json", ".csv")):
        raise click.UsageError("--history takes a .json or .csv file name")


def _write_history(path, history) -> None:
    from seqcli import files

    lists = history.as_lists()
    if path.lower().endswith(".csv"):  # Keras's CSVLogger layout: epoch, then sorted names
        names = sorted(lists)
        lines = [",".join(["epoch", *names])]
        lines += [",".join([str(i), *(repr(lists[n][i]) for n in names)])
                  for i in range(len(history.epochs))]
        files.write_text(path, "\n".join(lines) + "\n")
    else:
        files.write_text(path, json.dumps({"epoch": list(range(len(history.epochs))), **lists},
                                          indent=2) + "\n")


def _report(history, output, watcher) -> None:
    done = f"{len(history.epochs)} epoch{'s' * (len(history.epochs) != 1)}"
    if history.interrupted:
        what = f"interrupted during epoch {len(history.epochs)}; kept what was trained"
    elif history.stopped_early:
        what = (f"stopped early after {done}: {watcher.name} had not improved for "
                f"{watcher.wait}")
    else:
        what = f"trained for {done}"
    click.echo(f"seqcli: {what}; wrote the weights to {shown(output)}", err=True)


# ---------------------------------------------------------------- evaluate

@cli.command()
@SPEC
@options(data_options(dask=True))
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False),
              help="The weights to score (.npz or Keras .h5); a .keras model has its own.")
@options(COMPILE)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@MAX_MEMORY
@ALLOW_NONFINITE
@engine_option("--x and --y", "")
@dask_options
def evaluate(spec, data_path, x_path, y_path, weights_path, loss, metric_names, batch_size, fmt,
             max_memory, allow_nonfinite, engine_name, scheduler, chunk_rows):
    """Score a model: the loss and metrics on data (Keras's model.evaluate).

    \b
    Example:
      seqcli evaluate model.yaml --data test.npz --weights trained.npz --metrics accuracy
      seqcli evaluate model.yaml --x 'x/*.npy' --y y.zarr --weights w.npz --engine dask
    """
    from seqcli import training

    from seqcli import budget

    if engine_name == "dask":
        from seqcli import cli_dask
        return cli_dask.evaluate(spec, data_path, x_path, y_path, weights_path, loss,
                                 metric_names, batch_size, fmt, max_memory, allow_nonfinite,
                                 scheduler, chunk_rows)
    check_local_options(scheduler, chunk_rows)
    from seqcli import streams

    streams.claim_all(SPEC=spec, data=data_path, x=x_path, y=y_path, weights=weights_path)
    x, y = load_xy(data_path, x_path, y_path)
    where = data_where(data_path, x_path, y_path)
    check_data(x, y, allow_nonfinite, where)
    model, compiled, loaded = _compiled_model(spec, x, y, loss, None, None, metric_names,
                                              where, "score")
    embedded = loaded.weights
    if weights_path is None and embedded is None:
        raise click.UsageError("give --weights (the spec has no weights of its own)")
    budget.check(model, min(batch_size, len(x)), max_memory)
    engine = engine_for(engine_name, model, weights_path, embedded)
    from seqcli.errors import about_data

    with about_data(where[0]):
        scores = training.evaluate(model, engine.weights, x, y, compiled, batch_size, engine)
    if fmt == "json":
        click.echo(json.dumps(scores, indent=2))
    else:
        click.echo(format_logs(scores).removeprefix(" - "))
