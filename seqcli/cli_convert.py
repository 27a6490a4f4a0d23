"""`seqcli convert`: any model seqcli reads, to a seqcli spec, Keras's files, or weights."""

from __future__ import annotations

import click

from seqcli.cli import cli
from seqcli.cli_model import (INPUT_SHAPE, SPEC, WEIGHTS, load_built, weights_for,
                              weights_saver)
from seqcli.files import binary_writable, refuse_same_file, writable


@cli.command()
@SPEC
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              callback=writable,
              help="What to write; its name picks the format: .yaml, .json, .keras, "
                   ".weights.h5, .npz, .onnx (pip install 'seqcli[onnx]').")
@WEIGHTS
@click.option("--weights-out", type=click.Path(dir_okay=False), callback=binary_writable,
              help="Also write the weights: .npz, .weights.h5 or .keras.")
@INPUT_SHAPE
def convert(spec, output, weights_path, weights_out, input_shape):
    """Convert a model: a spec or Keras's files, to a spec, a .keras archive, weights.

    SRC (SPEC) is anything seqcli reads; a source without weights of its own takes
    --weights (or fresh ones, seed 0, as `run` does).

    \b
    Example:
      seqcli convert model.keras -o model.yaml --weights-out model.npz
      seqcli convert model.yaml --weights tuned.npz -o tuned.keras
      seqcli convert model.keras -o model.onnx
    """
    from seqcli import convert as convert_module

    refuse_same_file(("-o", output), ("--weights-out", weights_out))
    needs = convert_module.needs_weights(output) or weights_out is not None
    loaded, model = load_built(spec, input_shape)
    save_weights = weights_saver(weights_out, loaded, model, "--weights-out")
    weights = weights_for(model, weights_path, loaded.weights) if needs else None
    if save_weights:  # first: the larger file, so a full disk stops before the spec changes
        save_weights(weights)
    convert_module.write(output, loaded, model, weights)
    click.echo(f"seqcli: wrote {output}" + (f" and {weights_out}" if weights_out else ""),
               err=True)
