"""`seqcli diff` and `seqcli explain`: two models compared, one layer's numbers worked out."""

from __future__ import annotations

import sys

import click

from seqcli.cli import cli
from seqcli.cli_model import INPUT_SHAPE, load_built
from seqcli.errors import Status


def _summary(path, input_shape):
    from seqcli import summary

    _, model = load_built(path, input_shape)
    return summary.summarize(model)


@cli.command()
@click.argument("old", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("new", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@INPUT_SHAPE
def diff(old, new, fmt, input_shape):
    """Compare two models layer by layer: exit 0 when the same, 3 when they differ.

    Layers are matched by name, then by position; added (+), removed (-) and changed (~)
    layers are listed with their changed arguments, output shapes, parameter counts and
    MACs, then the totals. Nested models are compared recursively. OLD and NEW are any
    sources seqcli reads (specs, .keras, Keras JSON, .h5).

    \b
    Example:
      seqcli diff specs/guide_cnn_step1.yaml specs/guide_cnn.yaml
    """
    from seqcli import model_diff

    report = model_diff.compare(_summary(old, input_shape), _summary(new, input_shape))
    if fmt == "json":
        click.echo(model_diff.render_json(report))
    else:
        click.echo(model_diff.render_text(report, old, new), nl=False)
    if not report["same"]:
        sys.exit(Status.CHECK)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("layer")
@INPUT_SHAPE
def explain(spec, layer, input_shape):
    """Show how a layer's output shape, parameters and MACs come out, as formulas.

    LAYER is a top-level layer's name, or outer/inner for a layer of a nested model.

    \b
    Example:
      seqcli explain specs/guide_cnn.yaml conv2d
    """
    from seqcli import explain as explaining

    summary = _summary(spec, input_shape)
    row = explaining.find(summary.rows, layer, where=spec)
    click.echo(explaining.explain(row, layer).render(), nl=False)
