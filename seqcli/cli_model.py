"""Commands that read a model: summary, init, weights, run, extract, catalog."""

from __future__ import annotations

import sys

import click

from seqcli.cli import cli
from seqcli.cli_dask import check_local_options, dask_options
from seqcli.errors import SeqcliError, about_data, blame_data
from seqcli.files import binary_writable, check_writable, refuse_binary_terminal, shown


def parse_shape(ctx, param, value):
    """'250,250,3' -> (250, 250, 3); 'None' or '?' marks an unknown size."""
    if value is None:
        return None
    dims = []
    parts = [part.strip() for part in value.replace("(", "").replace(")", "").split(",")]
    if len(parts) > 1 and not parts[-1]:
        parts.pop()  # a trailing comma, as in Python's (4,)
    for part in parts:
        if not part:
            raise click.BadParameter(f"an empty size in {value!r}; give every size, like "
                                     "250,250,3 (None or ? for an unknown one)")
        if part.lower() in ("none", "null", "?"):
            dims.append(None)
        elif part.isdigit() and int(part) > 0:
            dims.append(int(part))
        elif part.lstrip("-").isdigit():  # a whole number, but not a size
            raise click.BadParameter(f"a size must be 1 or more; got {part} in {value!r}")
        else:
            raise click.BadParameter(f"expected sizes separated by commas, like 250,250,3; "
                                     f"got {value!r}")
    if not dims:
        raise click.BadParameter(f"expected sizes separated by commas, like 250,250,3; got {value!r}")
    return tuple(dims)


CHOOSABLE_COLUMNS = ("params", "macs", "flops", "memory", "receptive_field", "jump")


def parse_columns(value):
    """'params,macs' -> ('params', 'macs'); the default is Keras's params column."""
    if value is None:
        return ("params",)
    names = tuple(name.strip() for name in value.split(","))
    for name in names:
        if name not in CHOOSABLE_COLUMNS:
            from seqcli.errors import did_you_mean
            raise click.BadParameter(f"no column {name!r}{did_you_mean(name, CHOOSABLE_COLUMNS)};"
                                     f" the columns are: {', '.join(CHOOSABLE_COLUMNS)}")
    return names


def parse_precision(ctx, param, value):
    """'full', or a number of digits after the point (0 to 17)."""
    if value is None or value == "full":
        return value
    if value.isdigit() and int(value) <= 17:
        return int(value)
    raise click.BadParameter(f"expected a number of digits from 0 to 17, or full; got {value!r}")


def parse_memory(ctx, param, value):
    from seqcli import budget

    if value is None:
        return budget.MAX_BYTES
    try:
        return budget.parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


SPEC = click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))
MAX_MEMORY = click.option("--max-memory", callback=parse_memory, metavar="SIZE",
                          help="Refuse to allocate more than this (default 8G), e.g. 512M.")
ALLOW_NONFINITE = click.option("--allow-nonfinite", is_flag=True,
                               help="Run on inputs holding NaN or Inf instead of refusing.")
INPUT_SHAPE = click.option("--input-shape", callback=parse_shape, metavar="D1,D2,...",
                           help="One sample's shape (batch excluded), if the spec has none.")
BATCH_SIZE_SHOWN = click.option("--batch-size", type=click.IntRange(min=1),
                                help="A fixed batch dimension to show.")
WEIGHTS = click.option("--weights", "weights_path", type=click.Path(dir_okay=False),
                       help="A .npz weights file, or Keras's .weights.h5/.h5/.keras; '-' "
                            "reads one from standard input (default: fresh weights, seed 0).")


def _data_shape(path: str) -> tuple:
    """The shape of --input's data without reading it into numpy: a .npy header, or the
    rows and columns of CSV/TSV text (a file, or sniffed on standard input)."""
    import io

    from seqcli import streams, tables
    from seqcli.npyheader import read_shape

    if path == "-":
        data = streams.read("--input")
        if streams.kind_of(data) == "text" and data.strip():
            return tables.shape("<stdin>", data)
        return read_shape(path, io.BytesIO(data))
    return tables.shape(path) if tables.is_table(path) else read_shape(path)


def weights_saver(path, loaded, model, option="-o"):
    """A function writing the weights to `path`: an .npz, or as Keras's .weights.h5 or a
    whole .keras archive (the model with its weights), chosen by the name's ending. A name
    another reader takes for something else (a spec, an ONNX model, one array) is refused
    before any work, instead of getting .npz bytes under it."""
    from seqcli import convert
    from seqcli import weights as weights_module

    if path is None:
        return None
    ending = path.lower()
    if ending.endswith((".keras", ".weights.h5")):
        return lambda weights: convert.write(path, loaded, model, weights)
    refused = {(".yaml", ".yml", ".json"): "a spec holds no weights",
               (".onnx",): "an ONNX model is written by seqcli convert SPEC --weights W -o "
                           "model.onnx",
               (".h5",): "seqcli writes Keras 3's .weights.h5, not a legacy .h5 model",
               (".npy",): "a .npy holds one array, and weights are several"}
    for endings, why in refused.items():
        if ending.endswith(endings):
            raise click.UsageError(f"{option} {path}: {why}; write the weights to an .npz, a "
                                   ".weights.h5 or a .keras file")
    return lambda weights: weights_module.save(path, weights)


def require_built(model, spec_path) -> None:
    """For a command that builds only from the spec or --input-shape (no --input): Keras's
    words, naming what this command takes, placed at the spec."""
    if not model.built:
        from seqcli.model import NOT_BUILT

        raise SeqcliError(NOT_BUILT.removesuffix(" or --input"),
                          "<stdin>" if spec_path == "-" else spec_path)


def load_built(spec_path, input_shape=None, batch_size=None, data_shape=None):
    """The spec's model, built from --input-shape, data, or the spec itself."""
    # imported here, not by the module: `seqcli catalog` reads no spec, and PyYAML with
    # seqcli's spec reader is about a fifth of a command's start-up
    from seqcli import spec as spec_module

    spec = spec_module.load(spec_path, sys.stdin)  # a built spec is traced as it loads
    model = spec.model
    if data_shape is not None:
        # data with 0 rows still has a shape; its batch size is simply not known
        data_shape = tuple(data_shape)
        if data_shape[:1] == (0,):
            data_shape = (None, *data_shape[1:])
        model = model.with_input(data_shape)
    elif input_shape is not None:
        batch = batch_size if batch_size is not None else model.batch_size
        model = _with_input_shape(model, (batch, *input_shape), input_shape)
    elif batch_size is not None and model.built:
        model = model.with_input((batch_size, *model.input_shape))
    if model.built:
        model.plan  # noqa: B018 (traced once, here: the shape must fit every layer)
    return spec, model


def _with_input_shape(model, shape, input_shape):
    """The model built for --input-shape; a shape that does not fit names the option."""
    try:
        built = model.with_input(shape)
        built.plan  # noqa: B018 (traced here: the shape must fit every layer)
    except SeqcliError as exc:
        given = "--input-shape " + ",".join("None" if d is None else str(d)
                                            for d in input_shape)
        if exc.where:
            raise SeqcliError(f"{exc.message} (with {given})", exc.where) from None
        raise SeqcliError(exc.message, given) from None
    return built


# ---------------------------------------------------------------- summary

@cli.command()
@SPEC
@INPUT_SHAPE
@BATCH_SIZE_SHOWN
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Build from the shape of this .npy data (its batch size is shown).")
@click.option("--show-trainable", is_flag=True, help="Add Keras's Trainable (Y/N) column.")
@click.option("--expand-nested", is_flag=True, help="Show the layers inside nested models.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True)
@click.option("--columns", callback=lambda ctx, param, value: parse_columns(value),
              metavar="NAMES", help="Columns after the shape, comma-separated (default "
              "params): params, macs, flops, memory, receptive_field, jump.")
@click.option("--style", type=click.Choice(["keras2", "keras3"]), default="keras2",
              show_default=True, help="The text layout: Keras 2's (the guide's) or Keras 3's "
              "box table.")
@click.option("--line-length", type=click.IntRange(1, 10_000), metavar="N",
              help="Keras 3's line_length (default: 88, capped at the terminal width less 4).")
def summary(spec, input_shape, batch_size, input_path, show_trainable, expand_nested, fmt,
            columns, style, line_length):
    """Print the Keras summary of a model: output shapes and parameter counts.

    \b
    Example:
      seqcli summary specs/guide_cnn.yaml
      seqcli summary specs/guide_unbuilt.yaml --input x.npy --format json
      seqcli summary specs/guide_cnn.yaml --style keras3
    """
    from seqcli import summary as summary_module

    if style == "keras3" and fmt != "text":
        raise click.UsageError("--style keras3 is a text layout; drop --format or use "
                               "--format text")
    if line_length is not None and style != "keras3":
        raise click.UsageError("--line-length sets the width of --style keras3")
    if style == "keras3" and columns != ("params",):
        raise click.UsageError("--columns applies to Keras 2's layout and markdown, not to "
                               "--style keras3 (Keras 3 has its own columns)")
    data_shape = None
    if spec == "-" and input_path == "-":
        raise click.UsageError("the spec and the input cannot both come from standard input")
    if input_path is not None:
        data_shape = _data_shape(input_path)
        if not data_shape:  # as `run` says it: a scalar has no batch axis to build from
            raise SeqcliError("the input is a scalar; expected an array with a batch axis "
                              "first", "<stdin>" if input_path == "-" else input_path)
    try:
        _, model = load_built(spec, input_shape, batch_size, data_shape)
    except SeqcliError as exc:  # a shape that does not fit: say which data
        if data_shape is None:
            raise
        raise blame_data(exc, "<stdin>" if input_path == "-" else input_path) from None
    if style == "keras3" and not model.built:  # Keras 3 prints unbuilt layers; 2 refuses
        from seqcli import summary_keras3
        click.echo(summary_keras3.render_unbuilt(model, show_trainable, expand_nested,
                                                 line_length), nl=False)
        return
    result = summary_module.summarize(model)
    if fmt == "json":
        click.echo(summary_module.render_json(result), nl=False)
    elif fmt == "markdown":
        click.echo(summary_module.render_markdown(result, show_trainable, expand_nested,
                                                  columns), nl=False)
    elif style == "keras3":
        from seqcli import summary_keras3
        click.echo(summary_keras3.render(result, summary_keras3.weight_bytes(model),
                                         show_trainable, expand_nested, line_length), nl=False)
    else:
        click.echo(summary_module.render_text(result, show_trainable, expand_nested, columns),
                   nl=False)


# ---------------------------------------------------------------- weights

@cli.command()
@SPEC
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              callback=binary_writable,
              help="The file to write: .npz, Keras's .weights.h5, or a .keras archive.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed (a whole number from 0).")
@INPUT_SHAPE
@MAX_MEMORY
def init(spec, output, seed, input_shape, max_memory):
    """Write fresh weights made by Keras's default initializers.

    Nested models with their own `weights:` file keep those weights.

    \b
    Example:
      seqcli init specs/guide_mlp.yaml -o weights.npz --seed 42
    """
    from seqcli import weights as weights_module

    from seqcli import budget

    loaded, model = load_built(spec, input_shape)
    save = weights_saver(output, loaded, model)
    if not model.built:  # the general message would suggest --input, which init lacks
        raise SeqcliError("the model has no input shape, so its weights have no sizes; give "
                          "it in the spec (`input_shape:` or an `Input` entry) or with "
                          "--input-shape", spec)
    budget.check(model, 0, max_memory, weights_only=True)
    weights, notes = weights_module.load(model, None, seed)
    save(weights)
    for note in notes:
        if "fresh weights" not in note:  # fresh is what init is for; say only the exceptions
            click.echo(f"seqcli: {note}", err=True)
    total = sum(v.size for v in weights.values())
    click.echo(f"seqcli: wrote {len(weights)} weights ({total:,} params) to {shown(output)}",
               err=True)


@cli.command()
@SPEC
@WEIGHTS
@INPUT_SHAPE
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def weights(spec, weights_path, input_shape, fmt):
    """List every weight: key, shape, dtype, trainable (Keras's model.weights).

    With --weights, the file is checked against the model (every key and shape).

    \b
    Example:
      seqcli weights specs/guide_mlp.yaml --weights weights.npz
    """
    from seqcli import weights as weights_module

    loaded, model = load_built(spec, input_shape)
    specs = weights_module.specs_of(model)
    if weights_path is not None or loaded.weights is not None:  # check the file's weights
        weights_module.load(model, weights_path, embedded=loaded.weights)
    rows = [{"key": s.name, "shape": list(s.shape), "dtype": s.dtype,
             "trainable": s.trainable, "params": s.size} for s in specs]
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    from tabulate import tabulate

    table = [[r["key"], str(tuple(r["shape"])), r["dtype"], "Y" if r["trainable"] else "N",
              f"{r['params']:,}"] for r in rows]
    click.echo(tabulate(table, headers=["key", "shape", "dtype", "trainable", "params"],
                        tablefmt="simple", disable_numparse=True,
                        colalign=("left", "left", "left", "center", "right")))


# ---------------------------------------------------------------- run and extract

INPUT = click.option("--input", "input_path", required=True,
                     type=click.Path(allow_dash=True),
                     help="The input .npy (batch first), or numbers as .csv/.tsv text "
                          "(one sample per line); '-' reads either from standard input.")
RUN_BATCH = click.option("--batch-size", type=click.IntRange(min=1), default=32,
                         show_default=True, help="Samples per forward pass.")


def _data_and_model(spec, input_path):
    from seqcli import runner, streams
    from seqcli import spec as spec_module

    if spec == "-" and input_path == "-":
        raise click.UsageError("the spec and the input cannot both come from standard input")
    # a .npy file is read a batch at a time; standard input and CSV/TSV text whole
    x = streams.open_input(input_path, "--input")
    spec_obj = spec_module.load(spec, sys.stdin)
    where = "<stdin>" if input_path == "-" else input_path
    return x, runner.build_for(spec_obj.model, x, where), spec_obj.weights


def weights_for(model, weights_path, embedded=None, seed=0):
    """The weights to use: --weights, else the model file's own, else fresh ones."""
    from seqcli import weights as weights_module

    weights, notes = weights_module.load(model, weights_path, seed, embedded)
    for note in notes:
        click.echo(f"seqcli: {note}", err=True)
    return weights


def engine_for(name, model, weights_path, embedded=None):
    """The named engine, made once for the model and its weights."""
    from seqcli import engines, memory

    engine_class = engines.get(name)  # first: a missing engine fails before any work
    memory.keep_freed_memory()  # each batch's arrays reuse the last one's pages
    return engine_class(model, weights_for(model, weights_path, embedded))


OTHER_FORMATS = {".npy": "run writes one .npy array (extract writes an .npz of layers)",
                 ".npz": "extract writes an .npz of layers (run writes one .npy array)"}
MODEL_ENDINGS = (".keras", ".h5", ".onnx", ".yaml", ".yml", ".json")


def _check_output(output, engine_name, writes=".npy") -> None:
    """The destination must take the output before any data is read (a Dask output may
    be a folder). `writes` is the command's own format: a name that every reader takes
    for another format is refused rather than given these bytes."""
    if output == "-":
        refuse_binary_terminal()
    elif output is not None:
        if engine_name != "dask" and output.rstrip("/").endswith(".zarr"):
            # the numpy engine would write its .npy or .npz under a name that says Zarr
            raise SeqcliError("a Zarr store is written by the Dask engine: add "
                              "--engine dask, or give a .npy or .npz name", f"-o {output}")
        other = ".npz" if writes == ".npy" else ".npy"
        if output.lower().endswith((other, *MODEL_ENDINGS)):
            raise click.UsageError(f"-o {output}: {OTHER_FORMATS[writes]}; give a {writes} "
                                   "name")
        check_writable(output, f"-o {output}", folder_ok=engine_name == "dask")


def engine_option(inputs: str = "--input", outputs: str = ", and -o a .zarr or a folder/"):
    """--engine; its help names the command's own data options (evaluate has --x and
    --y, and no -o)."""
    return click.option(
        "--engine", "engine_name", default="numpy", show_default=True, metavar="NAME",
        help="What runs the forward passes: numpy, onnxruntime (pip install "
        f"'seqcli[onnx]'), or dask (row chunks on a Dask cluster; {inputs} may then be a "
        f"glob or folder of .npy shards or a Zarr array{outputs}; pip install "
        "'seqcli[dask]').")


ENGINE = engine_option()


@cli.command()
@SPEC
@INPUT
@WEIGHTS
@click.option("-o", "--output", type=click.Path(allow_dash=True),
              help="Write the outputs as .npy ('-' for standard output); with --engine "
                   "dask also a .zarr or a folder/.")
@RUN_BATCH
@MAX_MEMORY
@ALLOW_NONFINITE
@ENGINE
@dask_options
@click.option("--precision", callback=parse_precision, metavar="N|full",
              help="Printed outputs (no -o): digits after the point (default 8), or 'full' "
                   "for the shortest digits that read back as the same float32. Every row "
                   "is printed.")
def run(spec, input_path, weights_path, output, batch_size, max_memory, allow_nonfinite,
        engine_name, scheduler, chunk_rows, precision):
    """Run a forward pass (inference) on a .npy batch.

    \b
    Example:
      seqcli run specs/guide_mlp.yaml --input x.npy --weights w.npz -o y.npy
      cat x.npy | seqcli run model.yaml --input - -o - | python consume.py
      seqcli run model.yaml --input 'shards/*.npy' --weights w.npz --engine dask -o y.zarr
    """
    _check_output(output, engine_name)
    if precision is not None and output is not None:
        raise click.UsageError("--precision is for printed outputs; -o writes every float32 "
                               "exactly")
    if engine_name == "dask":  # the whole run goes to the cluster, chunk by chunk
        from seqcli import cli_dask
        return cli_dask.run(spec, input_path, weights_path, output, batch_size, max_memory,
                            allow_nonfinite, scheduler, chunk_rows, precision)
    check_local_options(scheduler, chunk_rows, input_path)
    from seqcli import runner, streams

    streams.claim_all(SPEC=spec, input=input_path, weights=weights_path)

    from seqcli import budget

    from seqcli.files import atomic_writer

    x, model, embedded = _data_and_model(spec, input_path)
    printed = 0 if output else budget.FLOAT_BYTES * runner.output_size(model, len(x))
    budget.check(model, min(batch_size, len(x)), max_memory, extra_bytes=printed)
    engine = engine_for(engine_name, model, weights_path, embedded)
    allow, data = allow_nonfinite, "<stdin>" if input_path == "-" else input_path
    if output == "-":
        with about_data(data):
            runner.stream_npy(engine, x, batch_size, sys.stdout.buffer, allow)
    elif output is not None:  # written batch by batch, then renamed into place
        with atomic_writer(output, binary=True) as handle, about_data(data):
            runner.stream_npy(engine, x, batch_size, handle, allow)
        click.echo(f"seqcli: wrote outputs of shape {runner.output_shape(model, len(x))} "
                   f"to {output}", err=True)
    else:
        with about_data(data):
            outputs = runner.predict(engine, x, batch_size, allow)
        click.echo(runner.printed(outputs, precision))


@cli.command()
@SPEC
@INPUT
@WEIGHTS
@click.option("--layer", "layer_names", multiple=True, metavar="NAME",
              help="A layer whose output to keep (repeatable); `outer/inner` is a layer "
                   "inside a nested model.")
@click.option("--all", "all_layers", is_flag=True, help="Keep every layer's output.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The .npz file to write, one array per layer name; with --engine dask "
                   "also a .zarr or a folder/.")
@RUN_BATCH
@MAX_MEMORY
@ALLOW_NONFINITE
@ENGINE
@dask_options
def extract(spec, input_path, weights_path, layer_names, all_layers, output, batch_size,
            max_memory, allow_nonfinite, engine_name, scheduler, chunk_rows):
    """Save intermediate layer outputs (the guide's feature extractor).

    \b
    Example:
      seqcli extract specs/guide_features.yaml --input x.npy --layer my_intermediate_layer -o f.npz
      seqcli extract specs/guide_features.yaml --input x.npy --all -o features.npz
      seqcli extract specs/guide_transfer.yaml --input x.npy --layer base/conv2d -o f.npz
    """
    from seqcli import arrays, runner
    from seqcli.errors import did_you_mean

    if bool(layer_names) == all_layers:
        raise click.UsageError("give --layer NAME (repeatable) or --all, not both or neither")
    _check_output(output, engine_name, writes=".npz")
    if engine_name == "dask":
        from seqcli import cli_dask
        return cli_dask.extract(spec, input_path, weights_path, layer_names, all_layers,
                                output, batch_size, max_memory, allow_nonfinite, scheduler,
                                chunk_rows)
    check_local_options(scheduler, chunk_rows, input_path)
    from seqcli import streams

    streams.claim_all(SPEC=spec, input=input_path, weights=weights_path)
    x, model, embedded = _data_and_model(spec, input_path)
    top = [layer.name for layer in model.layers]
    known = model.plan.layer_paths()
    names = top if all_layers else list(dict.fromkeys(layer_names))
    for name in names:
        if name not in known:
            raise SeqcliError(f"no layer named {name!r}{did_you_mean(name, known)}; the "
                              f"layers are: {', '.join(known)}", f"--layer {name}")
    from seqcli import budget

    kept = sum(budget.FLOAT_BYTES * runner.size_of(
        runner.with_batch(model.plan.step(name).output_shape, len(x))) for name in names)
    budget.check(model, min(batch_size, len(x)), max_memory, extra_bytes=kept)
    engine = engine_for(engine_name, model, weights_path, embedded)
    with about_data("<stdin>" if input_path == "-" else input_path):
        features = runner.extract(engine, x, names, batch_size, allow_nonfinite)
    arrays.write_npz(output, features)
    for name, array in features.items():
        click.echo(f"seqcli: {name}: {tuple(array.shape)}", err=True)


# ---------------------------------------------------------------- catalog

@cli.command()
@click.argument("class_name", required=False)
def catalog(class_name):
    """List the layers seqcli knows; with a class, its arguments and weights.

    \b
    Example:
      seqcli catalog
      seqcli catalog Conv2D
    """
    from seqcli import catalog as catalog_module

    if class_name is None:
        click.echo(catalog_module.overview(), nl=False)
    else:  # keras.layers.Dense and layers.Dense name Dense, as they do in `seqcli add`
        click.echo(catalog_module.details(class_name.rsplit(".", 1)[-1]), nl=False)
