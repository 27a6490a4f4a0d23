"""`seqcli convert SRC -o DST`: a model in another format, chosen by DST's extension."""

from __future__ import annotations

import sys

import click

from seqcli.cli import cli
from seqcli.cli_model import SPEC


@cli.command()
@SPEC
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The file to write: .yaml/.yml/.json (a seqcli spec), .keras, "
                   ".weights.h5 or .npz.")
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False),
              help="Weights for a source without its own (.npz, .weights.h5, .h5).")
@click.option("--weights-out", type=click.Path(dir_okay=False),
              help="With a spec target: also write the weights to this .npz.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the fresh weights a source without weights gets.")
def convert(spec, output, weights_path, weights_out, seed):
    """Write a model (a spec or Keras's files) in the format DST's extension names.

    \b
    Example:
      seqcli convert model.keras -o model.yaml --weights-out model.npz
      seqcli convert model.yaml --weights tuned.npz -o tuned.keras
    """
    from seqcli import convert as convert_module
    from seqcli import spec as spec_module

    writer, needs_weights = convert_module.writer_for(output)
    if weights_out is not None and needs_weights:
        raise click.UsageError("--weights-out goes with a spec target (.yaml, .json); "
                               f"{output} holds the weights already")
    loaded = spec_module.load(spec, sys.stdin)
    weights = None
    if needs_weights or weights_out is not None:
        weights = _weights(loaded.model, weights_path, seed)
    writer(output, loaded, weights)
    click.echo(f"seqcli: wrote {output}", err=True)
    if weights_out is not None:
        convert_module.WRITERS[".npz"][0](weights_out, loaded, weights)
        click.echo(f"seqcli: wrote the weights to {weights_out}", err=True)


def _weights(model, weights_path, seed):
    from seqcli import weights as weights_module

    weights, notes = weights_module.load(model, weights_path, seed)
    for note in notes:
        click.echo(f"seqcli: {note}", err=True)
    return weights
