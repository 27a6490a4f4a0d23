"""`seqcli check`: a model's size against budgets, for CI jobs (exit 3 when over)."""

from __future__ import annotations

import sys

import click

from seqcli.cli import cli
from seqcli.cli_model import INPUT_SHAPE, SPEC, load_built, require_built
from seqcli.errors import SeqcliError, Status


def parse_count(ctx, param, value):
    """'1.2G' -> 1_200_000_000 (K, M, G, T: powers of 1000)."""
    return None if value is None else _parse(value, binary=False)


def parse_bytes(ctx, param, value):
    """'512M' -> 512_000_000, '512MiB' -> 512 * 2**20."""
    return None if value is None else _parse(value, binary=True)


def _parse(text: str, binary: bool) -> int:
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*", text.lower())
    if not match or (match.group(3) or match.group(4)) and not binary:
        raise click.BadParameter(f"expected a number such as 1.5M or 2G, got {text!r}")
    power = " kmgt".index(match.group(2) or " ")
    base = 1024 if match.group(3) else 1000
    return int(float(match.group(1)) * base ** power)


@cli.command()
@SPEC
@click.option("--max-params", callback=parse_count, metavar="N", help="e.g. 5M")
@click.option("--max-macs", callback=parse_count, metavar="N",
              help="Multiply-accumulates per sample, e.g. 1G.")
@click.option("--max-flops", callback=parse_count, metavar="N", help="FLOPs per sample.")
@click.option("--max-memory", callback=parse_bytes, metavar="SIZE",
              help="Training memory for --batch-size, e.g. 2GiB or 500M.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="The batch --max-memory is for.")
@INPUT_SHAPE
def check(spec, max_params, max_macs, max_flops, max_memory, batch_size, input_shape):
    """Check a model against budgets: exit 0 within all, 3 over any (one line each).

    Memory is what training takes (weights, gradients, the compiled optimizer's slots,
    and the activations kept for a batch).

    \b
    Example:
      seqcli check model.yaml --max-params 5M --max-macs 1G --max-memory 2GiB
    """
    from seqcli import cost, summary, training

    loaded, model = load_built(spec, input_shape)
    require_built(model, spec)
    result = summary.summarize(model)
    optimizer = None
    if loaded.compile and loaded.compile.get("loss") is not None:
        optimizer = training.compile_settings(loaded.compile, where=loaded.name).optimizer
    memory = cost.memory(result.rows, result.input_shape, batch_size, optimizer)
    measured = {"params": (result.total_params, max_params, False),
                "macs": (sum(r.macs for r in result.rows), max_macs, False),
                "flops": (sum(r.flops for r in result.rows), max_flops, False),
                "memory": (memory["training_bytes"], max_memory, True)}
    over = False
    for name, (value, limit, binary) in measured.items():
        if limit is not None and value > limit:
            over = True
            shown, bound = cost.human(value, binary), cost.human(limit, binary)
            if shown == bound:  # rounded alike: the exact numbers say which is larger
                shown, bound = f"{value:,}", f"{limit:,}"
            click.echo(f"budget: {name} {shown} > {bound}", err=True)
    if over:
        sys.exit(Status.CHECK)
    click.echo("within budget: " + ", ".join(
        f"{name} {cost.human(value, binary)}" for name, (value, _, binary) in measured.items()))


@cli.command()
@click.argument("spec_a", metavar="A", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("spec_b", metavar="B", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def diff(spec_a, spec_b, fmt):
    """Compare two models layer by layer: exit 0 when the same, 3 when they differ.

    Layers are matched by name, then by position; added (+), removed (-) and changed (~)
    layers are listed with their changed arguments, output shapes and parameter counts,
    then the totals.

    \b
    Example:
      seqcli diff model.yaml model_v2.yaml
    """
    import json

    from seqcli import diff as diffs

    a = diffs.entries(load_built(spec_a)[1])
    b = diffs.entries(load_built(spec_b)[1])
    changes = diffs.compare(a, b)
    if fmt == "json":
        result = diffs.to_json(changes, a, b)
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(diffs.render_text(changes, a, b), nl=False)
    if any(change.status != "same" for change in changes):
        sys.exit(Status.CHECK)


@cli.command()
@SPEC
@click.argument("layer_name", metavar="LAYER")
@INPUT_SHAPE
def explain(spec, layer_name, input_shape):
    """Show how a layer's output shape, parameter count and MACs come out.

    \b
    Example:
      seqcli explain guide_cnn.yaml conv2d
    """
    from seqcli import explain as explaining

    _, model = load_built(spec, input_shape)
    if not model.built:
        raise SeqcliError("the model has no input shape, so its shapes are unknown; give "
                          "--input-shape D1,D2,...", spec)
    click.echo("\n".join(explaining.explain(explaining.layer_step(model, layer_name))))
