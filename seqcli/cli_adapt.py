"""`seqcli adapt`: Keras's `layer.adapt(x)` for Normalization and Discretization,
streamed over a .npy file in row batches."""

from __future__ import annotations

import dataclasses
import sys

import click

from seqcli import spec as spec_module
from seqcli.cli import cli
from seqcli.cli_model import SPEC, WEIGHTS


@cli.command()
@SPEC
@click.option("--data", "data_path", required=True, type=click.Path(allow_dash=True),
              help="The data to adapt to (batch first): a .npy, read a batch of rows at a "
                   "time, CSV/TSV numbers, or '-' for standard input.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="The .npz weights to write, with Normalization's adapted mean and variance.")
@WEIGHTS
@click.option("--spec-out", type=click.Path(dir_okay=False),
              help="Write the model with its adapted arguments (Discretization's "
                   "bin_boundaries) as .yaml, .json or .keras.")
@click.option("--layer", "layer_names", multiple=True, metavar="NAME",
              help="Adapt only this top-level layer (repeatable); default: every "
                   "Normalization and Discretization that learns from data.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Rows per batch. Discretization's bins are Keras's adapt on a list of "
                   "batches of this many rows.")
def adapt(spec, data_path, output, weights_path, spec_out, layer_names, batch_size):
    """Adapt preprocessing layers to data, as Keras's layer.adapt(x) does.

    Normalization learns its mean and variance (into -o's weights); Discretization with
    num_bins learns its bin boundaries (spec arguments: into --spec-out). A layer deeper in
    the model adapts to what reaches it through the layers before it.

    \b
    Example:
      seqcli adapt model.yaml --data x.npy -o weights.npz
      seqcli adapt model.yaml --data x.npy -o weights.npz --spec-out adapted.yaml
    """
    from seqcli import adapt as adapt_module
    from seqcli import convert, runner, streams
    from seqcli import weights as weights_module
    from seqcli.errors import about_data

    if spec == "-" and data_path == "-":
        raise click.UsageError("the spec and the data cannot both come from standard input")
    rows = streams.open_input(data_path, "--data")
    loaded = spec_module.load(spec, sys.stdin)
    model = runner.build_for(loaded.model, rows, "<stdin>" if data_path == "-" else data_path)
    chosen = adapt_module.adaptable(model, layer_names)
    _check_outputs(chosen, output, spec_out)
    weights, notes = weights_module.load(model, weights_path, 0, loaded.weights)
    if output is not None or chosen[0][0] > 0:  # the weights are written, or data flows
        for note in notes:                      # through layers before an adapted one
            click.echo(f"seqcli: {note}", err=True)
    with about_data("<stdin>" if data_path == "-" else data_path):  # adapt has no
        new_weights, layers = adapt_module.adapt(                  # --allow-nonfinite
            model, weights, lambda: runner.batches(rows, batch_size, fix=""), chosen)
    for _, layer in chosen:
        click.echo(f"seqcli: adapted {layer.describe()} to {len(rows):,} rows", err=True)
    if spec_out is not None:
        source = model if convert.needs_weights(spec_out) else loaded.model
        convert.write(spec_out, loaded, dataclasses.replace(source, layers=tuple(layers)),
                      new_weights)
        click.echo(f"seqcli: wrote {spec_out}", err=True)
    if output is not None:
        weights_module.save(output, new_weights)
        click.echo(f"seqcli: wrote {len(new_weights)} weights to {output}", err=True)


def _check_outputs(chosen, output, spec_out):
    """Everything that will be written must be writable, and asked for, before any work."""
    from seqcli import adapt as adapt_module
    from seqcli import convert, files

    arguments = [layer for _, layer in chosen if adapt_module.stores_arguments(layer)]
    stats = [layer for _, layer in chosen if not adapt_module.stores_arguments(layer)]
    if arguments and spec_out is None:
        raise click.UsageError(f"{arguments[0].describe()} keeps what it learns as spec "
                               "arguments (bin_boundaries): give --spec-out FILE")
    if stats and output is None:
        raise click.UsageError(f"{stats[0].describe()} keeps what it learns as weights "
                               "(mean, variance): give -o W.npz")
    if output is not None and not output.lower().endswith(".npz"):
        raise click.UsageError(f"-o {output}: adapt writes weights as .npz")
    if spec_out is not None:
        ending = convert.format_of(spec_out)
        if ending not in (".yaml", ".yml", ".json", ".keras"):
            raise click.UsageError(f"--spec-out {spec_out}: write the model as .yaml, .json "
                                   "or .keras")
    for option, path in (("-o", output), ("--spec-out", spec_out)):
        if path is not None:
            files.check_writable(path, f"{option} {path}")
