"""Commands that change a spec: freeze, unfreeze, new, add, pop.

Each reads SPEC (a file, or standard input for '-' or when omitted) and writes
the new spec to standard output, to -o FILE, or back with -i. The new text is
loaded and checked before anything is written; files are replaced atomically.
"""

from __future__ import annotations

import sys

import click

from seqcli import edit, files
from seqcli import spec as spec_module
from seqcli.cli import cli
from seqcli.cli_model import parse_shape
from seqcli.errors import SeqcliError, did_you_mean
from seqcli.files import writable

NOT_SPEC_ENDINGS = (".keras", ".h5", ".npz", ".npy", ".onnx", ".zarr")


def _spec_destination(ctx, param, value):
    """-o of a command that writes a spec: a name every reader takes for a Keras file or
    an array would hold YAML text, so it is refused (`seqcli convert` writes those)."""
    value = writable(ctx, param, value)
    if value and value.lower().endswith(NOT_SPEC_ENDINGS):
        raise click.BadParameter(f"{value}: a spec is written as .yaml, .yml or .json text; "
                                 "to write a Keras file or weights use seqcli convert")
    return value


OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False),
                      callback=_spec_destination,
                      help="Write the new spec to this file (.yaml, or JSON for .json).")


def _text_for(output, new_spec, new_text) -> str:
    """What -o gets: the new text, or the same spec as JSON when -o names a .json file
    and the text is YAML (seqcli, like any reader, reads a .json file as JSON)."""
    doc = new_spec.doc
    if output and output.lower().endswith(".json") and doc.fmt != "json":
        import json

        return json.dumps(doc.value(doc.root), indent=2, ensure_ascii=False) + "\n"
    return new_text
IN_PLACE = click.option("-i", "--in-place", is_flag=True,
                        help="Change SPEC itself (comments, key order and mode are kept).")


def _read(spec_path):
    from seqcli import keras_files

    path = spec_path or "-"
    if path != "-" and keras_files.sniff(path) is not None:
        raise SeqcliError(f"a Keras file, not a spec to edit; make one first: seqcli convert "
                          f"{path} -o model.yaml --weights-out weights.npz", path)
    name, text = spec_module.read_text(path, sys.stdin)
    if keras_files.is_keras_json(text):  # model.to_json(): Keras's config, not a spec
        raise SeqcliError("Keras's model JSON, not a spec to edit; make one first: seqcli "
                          f"convert {path} -o model.yaml", name)
    return path, spec_module.load_text(text, name)


def _write(path, loaded, new_text, in_place, output) -> spec_module.Spec:
    """Check the new text, then write it where asked; returns the new spec."""
    if in_place and output:
        raise click.UsageError("use -i/--in-place or -o/--output, not both")
    if in_place and path == "-":
        raise click.UsageError("-i/--in-place needs a SPEC file, not standard input")
    new_text = edit.keep_line_endings(loaded.doc.text, new_text)
    new_spec = spec_module.load_text(new_text, loaded.doc.name, loaded.doc.fmt)
    if in_place:
        files.write_text(path, new_text)
    elif output:
        files.write_text(output, _text_for(output, new_spec, new_text))
    else:
        click.echo(new_text, nl=False)
    return new_spec


def _trainable_counts(model) -> str:
    if model.built:
        from seqcli.summary import summarize
        s = summarize(model)
        return f"{s.trainable_params:,} trainable, {s.non_trainable_params:,} non-trainable params"
    trainable = sum(layer.trainable for layer in model.layers)
    return f"{trainable} of {len(model.layers)} layers trainable"


# ---------------------------------------------------------------- freeze / unfreeze

def _layer_list(value: str) -> list[str]:
    """'a,b' -> ['a', 'b']; an empty name or a name given twice is a mistake."""
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"an empty layer name in {value!r}; give names like "
                                 "dense,dense_1", param_hint="'--layers'")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise click.BadParameter(f"{', '.join(twice)} given more than once",
                                 param_hint="'--layers'")
    return names


def _selected(model, except_last, all_layers, layer_names, until) -> list[int]:
    chosen = [bool(except_last), bool(all_layers), bool(layer_names), bool(until)]
    if sum(chosen) != 1:
        raise click.UsageError("choose one of --except-last, --all, --layers a,b, --until NAME")
    names = [layer.name for layer in model.layers]
    if all_layers:
        return list(range(len(names)))
    if except_last:
        return list(range(len(names) - 1))
    wanted = [until] if until else _layer_list(layer_names)
    option = "--until" if until else "--layers"
    for name in wanted:
        if name not in names:
            known = f"the layers are: {', '.join(names)}" if names else "the model has no layers"
            raise SeqcliError(f"no top-level layer named {name!r}{did_you_mean(name, names)}; "
                              f"{known}", option)
    if until:
        return list(range(names.index(until) + 1))
    return [names.index(name) for name in wanted]


def _freeze_command(name: str, value: bool):
    verb = "Freeze" if not value else "Unfreeze"
    help_text = (
        f"{verb} layers: set `trainable: {str(value).lower()}` on them.\n\n"
        "Works as a filter (stdin to stdout), with -o FILE, or -i in place; the trainable "
        "parameter counts before and after go to stderr.\n\n"
        "\b\nExample:\n"
        f"  seqcli {name} specs/guide_mlp.yaml --except-last > frozen.yaml\n"
        f"  cat model.yaml | seqcli {name} --layers dense,dense_1\n"
        f"  seqcli {name} model.yaml --all -i")

    @cli.command(name=name, help=help_text)
    @click.argument("spec", required=False, type=click.Path(dir_okay=False, allow_dash=True))
    @click.option("--except-last", is_flag=True, help=f"{verb} every layer but the last.")
    @click.option("--all", "all_layers", is_flag=True, help=f"{verb} every layer.")
    @click.option("--layers", "layer_names", metavar="A,B", help=f"{verb} these layers.")
    @click.option("--until", metavar="NAME", help=f"{verb} the layers up to NAME, inclusive.")
    @IN_PLACE
    @OUTPUT
    def command(spec, except_last, all_layers, layer_names, until, in_place, output):
        path, loaded = _read(spec)
        indices = _selected(loaded.model, except_last, all_layers, layer_names, until)
        new_text = edit.set_trainable(loaded.doc, indices, value)
        new_spec = _write(path, loaded, new_text, in_place, output)
        click.echo(f"seqcli: {_trainable_counts(loaded.model)} -> "
                   f"{_trainable_counts(new_spec.model)}", err=True)

    return command


freeze = _freeze_command("freeze", False)
unfreeze = _freeze_command("unfreeze", True)


# ---------------------------------------------------------------- new / add / pop

@cli.command()
@click.option("--name", default="sequential", show_default=True, help="The model's name.")
@click.option("--input-shape", callback=parse_shape, metavar="D1,D2,...",
              help="One sample's shape, batch excluded.")
@click.option("--json", "as_json", is_flag=True, help="Write JSON instead of YAML.")
@OUTPUT
def new(name, input_shape, as_json, output):
    """Start a spec (to standard output unless -o).

    \b
    Example:
      seqcli new --name my_model --input-shape 250,250,3 -o model.yaml
    """
    if as_json or (output or "").lower().endswith(".json"):
        as_json = True
        import json
        body = {"name": name, **({"input_shape": list(input_shape)} if input_shape else {}),
                "layers": []}
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    else:
        shape = "" if input_shape is None else \
            "input_shape: [" + ", ".join("null" if d is None else str(d) for d in input_shape) + "]\n"
        text = f"name: {_yaml_scalar(name)}\n{shape}layers: []\n"
    try:
        spec_module.load_text(text, output or "<new>", "json" if as_json else "yaml")
    except SeqcliError as exc:  # the text is made from --name: blame it, not a line of it
        if "`name`" not in exc.message:
            raise
        raise SeqcliError(exc.message, "--name") from None
    if output:
        files.write_text(output, text)
    else:
        click.echo(text, nl=False)


def _yaml_scalar(value: str) -> str:
    import yaml
    return yaml.safe_dump(value, default_style=None, allow_unicode=True).splitlines()[0] \
        .removesuffix(" ...")


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[SPEC] LAYER_CALL")
@IN_PLACE
@OUTPUT
def add(args, in_place, output):
    """Append a layer written in Keras call syntax (literals only, never evaluated).

    With -i, prints the new summary: the guide's debugging workflow.

    \b
    Example:
      seqcli add model.yaml -i 'Conv2D(32, 3, activation="relu")'
      seqcli new --input-shape 4 | seqcli add 'layers.Dense(2, activation="relu")'
    """
    from seqcli.keras_call import parse_call

    if len(args) > 2:
        raise click.UsageError("expected [SPEC] LAYER_CALL; quote the call, e.g. 'Dense(4)'")
    spec_path, call = (None, args[0]) if len(args) == 1 else args
    class_name, layer_args = parse_call(call)
    path, loaded = _read(spec_path)
    new_text = edit.append_entry(loaded.doc, class_name, layer_args)
    try:
        new_spec = _write(path, loaded, new_text, in_place, output)
    except SeqcliError as exc:
        raise _blame_call(exc, loaded.doc, new_text, call) from None
    if in_place:
        _print_summary(new_spec)


def _blame_call(exc: SeqcliError, doc, new_text: str, call: str) -> SeqcliError:
    """An error placed in the lines `add` wrote comes from the call: place it there (at
    the argument it names), not at a line of the spec that the user never wrote and that
    was not saved."""
    import ast
    import re

    found = re.match(rf"{re.escape(doc.name)}:(\d+):\d+(.*)", exc.where or "")
    old, new = doc.text.splitlines(), new_text.splitlines()
    start = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), len(old))
    kept = 0  # lines the same at the end too (a `compile:` after `layers:`)
    while kept < min(len(old), len(new)) - start and old[-1 - kept] == new[-1 - kept]:
        kept += 1
    end = len(new) - kept
    if not found or not start < int(found.group(1)) <= end:
        return exc
    where, rest = "<layer call>", found.group(2)  # rest: ": layers[1] (Dense 'dense_1')"
    named = re.search(r"argument `(\w+)`", exc.message)
    column = _argument_column(ast.parse(call.strip(), mode="eval").body,
                              named.group(1)) if named else None
    if column is not None:
        where += f":1:{column + 1 + len(call) - len(call.lstrip())}"
    return SeqcliError(exc.message, where + rest)


def _argument_column(call, name: str):
    """Where in the call (0-based) the argument `name` was given, by keyword or by its
    place in the layer's Keras order; None if it was not written."""
    from seqcli.keras_call import _class_name
    from seqcli.registry import lookup

    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.col_offset
    positional = lookup(_class_name(call.func)).positional
    if name in positional and positional.index(name) < len(call.args):
        return call.args[positional.index(name)].col_offset
    return None


@cli.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@IN_PLACE
@OUTPUT
def pop(spec, in_place, output):
    """Remove the last layer.

    \b
    Example:
      seqcli pop model.yaml -i
    """
    path, loaded = _read(spec)
    new_spec = _write(path, loaded, edit.pop_entry(loaded.doc), in_place, output)
    if in_place:
        _print_summary(new_spec)


def _print_summary(new_spec) -> None:
    from seqcli.summary import render_text, summarize

    if new_spec.model.built:
        click.echo(render_text(summarize(new_spec.model)), nl=False)
    else:
        count = len(new_spec.model.layers)
        click.echo(f"seqcli: {count} layer{'s' if count != 1 else ''}; the model has no "
                   "input shape yet, so there is no summary (add `input_shape:` or an Input)",
                   err=True)


