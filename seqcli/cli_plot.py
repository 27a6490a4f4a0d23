"""`seqcli plot`: the model as a diagram (SVG, graphviz DOT or Mermaid)."""

from __future__ import annotations

import os

import click

from seqcli.cli import cli
from seqcli.cli_model import BATCH_SIZE_SHOWN, INPUT_SHAPE, SPEC, load_built, require_built
from seqcli.files import writable


def _format_of(path: str) -> str:
    from seqcli.plot import FORMATS

    extension = os.path.splitext(path)[1].lower()
    if path == "-":  # as convert: the name's ending is the only way to choose the format
        raise click.BadParameter("plot picks the format from the file name's ending, and "
                                 "standard output has none; give a file name ending in .svg, "
                                 ".dot or .mmd", param_hint="'-o' / '--output'")
    if extension not in FORMATS:
        raise click.BadParameter(f"cannot tell the format from {path!r}: the file name must "
                                 "end in .svg, .dot or .mmd", param_hint="'-o' / '--output'")
    return FORMATS[extension]


@cli.command()
@SPEC
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              callback=writable,
              help="The file to write; its extension chooses the format: .svg, .dot "
              "(graphviz) or .mmd (Mermaid).")
@click.option("--show-shapes/--no-show-shapes", default=True, show_default=True,
              help="Show each layer's input and output shapes.")
@click.option("--show-trainable", is_flag=True,
              help="Mark layers with weights Trainable (green) or Non-trainable (red).")
@click.option("--show-layer-activations", is_flag=True,
              help="Show the activation of layers that take one (Keras's \"linear\" for none).")
@click.option("--expand-nested", is_flag=True,
              help="Draw nested models' layers inside a dashed box.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB",
              show_default=True, help="Top to bottom, or left to right.")
@INPUT_SHAPE
@BATCH_SIZE_SHOWN
def plot(spec, output, show_shapes, show_trainable, show_layer_activations, expand_nested,
         rankdir, input_shape, batch_size):
    """Draw the model the way Keras's plot_model does.

    \b
    Example:
      seqcli plot specs/guide_cnn.yaml -o model.svg
      seqcli plot specs/guide_transfer.yaml -o model.mmd --expand-nested --show-trainable
    """
    from seqcli import plot as plot_module
    from seqcli import summary as summary_module
    from seqcli.files import write_text

    fmt = _format_of(output)
    _, model = load_built(spec, input_shape, batch_size)
    require_built(model, spec)
    result = summary_module.summarize(model)
    show = plot_module.Show(show_shapes, show_trainable, show_layer_activations)
    write_text(output, plot_module.render(fmt, result, show, expand_nested, rankdir.upper()))
    kind = {"svg": "an SVG", "dot": "a DOT", "mermaid": "a Mermaid"}[fmt]
    click.echo(f"seqcli: wrote {kind} diagram of model {result.name!r} to {output}",
               err=True)
