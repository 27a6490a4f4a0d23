"""Model summaries: collect rows from shapes alone, then render them.

The text layout is Keras 2's `model.summary()` (the one the guide prints):
65 columns, columns at 29/55/65, long names wrapped, thousands separators in
the totals. Rows come from shape inference, so no array is allocated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

from seqcli import cost
from seqcli.layers.base import Layer, Shape, format_shape
from seqcli.model import Plan, Sequential


@dataclass
class Row:
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int
    trainable_params: int
    trainable: bool
    children: list["Row"] = field(default_factory=list)
    macs: int = 0
    flops: int = 0
    field: object = None  # cost.Field after this layer, or None once positions are mixed

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params


@dataclass
class Summary:
    name: str
    input_shape: Shape
    rows: list[Row]

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable_params for row in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params


def summarize(model: Sequential) -> Summary:
    """The summary of a built model (SeqcliError with Keras's message if unbuilt)."""
    plan = model.plan
    rows, _ = _rows(plan, True, cost.input_field(plan.input_shape))
    return Summary(model.name, plan.input_shape, rows)


def _keras_shape(step, keras_in):
    """The output shape Keras reports: where a layer before reported an axis as None
    that the data fills (EinsumDense's), Keras carries the None on."""
    if step.inner is not None:
        return step.output_shape
    own = type(step.layer).keras_output_shape is not Layer.keras_output_shape
    if keras_in == step.input_shape and not own:
        return step.output_shape  # the common case: nothing to work out again
    try:
        return step.layer.keras_output_shape(keras_in)
    except (ValueError, TypeError):  # a layer that needs the size (Keras would refuse it)
        return step.output_shape


def _rows(plan: Plan, parent_trainable: bool, field_in) -> tuple[list[Row], object]:
    """The rows, and the receptive field after the last of them."""
    rows, keras_in = [], plan.input_shape
    for step in plan.steps:
        trainable = parent_trainable and step.layer.trainable
        shown = keras_in = _keras_shape(step, keras_in)
        row = Row(step.layer, step.input_shape, shown,
                  params=sum(s.size for s in step.weights),
                  trainable_params=sum(s.size for s in step.weights if s.trainable and trainable),
                  trainable=trainable)
        if step.inner is not None:
            row.children, row.field = _rows(step.inner, trainable, field_in)
        else:
            row.field = cost.next_field(step.layer, field_in, step.input_shape,
                                        step.output_shape)
        spent = cost.layer_cost(step.layer, step.input_shape, step.output_shape, step.inner)
        row.macs, row.flops = spent.macs, spent.flops
        field_in = row.field
        rows.append(row)
    return rows, field_in


# ---------------------------------------------------------------- columns

@dataclass(frozen=True)
class Column:
    """One summary column: how it is computed from a row, shown, and keyed in JSON."""

    name: str  # as --columns would name it
    header: str  # its heading in text and markdown
    width: int  # its share of Keras 2's text line
    value: Callable[[Row], object]  # the raw value of one row's cell
    fields: Callable[[Row], dict]  # its keys and values in the JSON summary
    markdown: Callable[[object], str] = str  # how markdown shows the value (text: str)
    align: str = "left"  # markdown alignment


COLUMNS = {column.name: column for column in (
    Column("layer", "Layer (type)", 29, lambda row: f"{row.name} ({row.class_name})",
           lambda row: {"name": row.name, "class_name": row.class_name}),
    Column("output_shape", "Output Shape", 26, lambda row: format_shape(row.output_shape),
           lambda row: {"output_shape": list(row.output_shape)}),
    Column("params", "Param #", 10, lambda row: row.params,
           lambda row: {"params": row.params, "trainable_params": row.trainable_params,
                        "non_trainable_params": row.non_trainable_params},
           markdown="{:,}".format, align="right"),
    Column("trainable", "Trainable", 11, lambda row: "Y" if row.trainable else "N",
           lambda row: {"trainable": row.trainable}, align="center"),
    # the calculator's columns (text: --columns; JSON: always)
    Column("macs", "MACs", 11, lambda row: cost.human(row.macs),
           lambda row: {"macs": row.macs}, align="right"),
    Column("flops", "FLOPs", 11, lambda row: cost.human(row.flops),
           lambda row: {"flops": row.flops}, align="right"),
    Column("memory", "Memory", 13,
           lambda row: cost.human(FLOAT_BYTES * row.params + cost.output_bytes(row.output_shape),
                                  binary=True),
           lambda row: {"weight_bytes": FLOAT_BYTES * row.params,
                        "output_bytes": cost.output_bytes(row.output_shape)}, align="right"),
    Column("receptive_field", "Receptive", 12, lambda row: _field_text(row.field, "size"),
           lambda row: _field_fields(row.field), align="right"),
    Column("jump", "Jump", 8, lambda row: _field_text(row.field, "jump"),
           lambda row: {}, align="right"),
)}
KERAS_COLUMNS = ("layer", "output_shape", "params")  # what Keras's summary() shows
FLOAT_BYTES = 4


def columns(show_trainable: bool = False, extra=("params",)) -> list[Column]:
    """The layer and its shape, the chosen columns (Keras's: params), then Trainable."""
    names = ("layer", "output_shape", *extra) + (("trainable",) if show_trainable else ())
    return [COLUMNS[name] for name in names]


def _field_text(field, part) -> str:
    if field is None:
        return "-"
    return "x".join(f"{v:g}" for v in getattr(field, part))


def _field_fields(field) -> dict:
    if field is None:
        return {"receptive_field": None, "jump": None, "start": None}
    return {"receptive_field": list(field.size), "jump": list(field.jump),
            "start": list(field.start)}


# ---------------------------------------------------------------- text (Keras 2)

def text_positions(shown: list[Column]) -> tuple:
    """Where each column ends: Keras 2's 29/55/65 (int(65 * [0.45, 0.85, 1])), then 76."""
    return tuple(itertools.accumulate(column.width for column in shown))


def render_text(summary: Summary, show_trainable=False, expand_nested=False,
                extra=("params",)) -> str:
    shown = columns(show_trainable, extra)
    positions = text_positions(shown)
    line_length = positions[-1]
    lines = [f'Model: "{summary.name}"', "_" * line_length]
    lines += _format_row([column.header for column in shown], positions)
    lines.append("=" * line_length)

    def emit(row: Row, level: int, is_nested_last: bool) -> None:
        lines.extend(_format_row([column.value(row) for column in shown], positions, level))
        if expand_nested and row.children:
            lines.append("|" * (level + 1) + "¯" * (line_length - 2 * level - 2) + "|" * (level + 1))
            for i, child in enumerate(row.children):
                emit(child, level + 1, i == len(row.children) - 1)
            lines.append("|" * level + "¯" * (line_length - 2 * level) + "|" * level)
            is_nested_last = True  # Keras's loop leaves this set after the last child
        if not is_nested_last:
            lines.append("|" * level + " " * (line_length - 2 * level) + "|" * level)

    for row in summary.rows:
        emit(row, 0, False)
    lines.append("=" * line_length)
    lines.append(f"Total params: {summary.total_params:,}")
    lines.append(f"Trainable params: {summary.trainable_params:,}")
    lines.append(f"Non-trainable params: {summary.non_trainable_params:,}")
    for name, label in (("macs", "MACs"), ("flops", "FLOPs")):  # totals of chosen columns
        if name in extra:
            total = sum(getattr(row, name) for row in summary.rows)
            lines.append(f"Total {label} per sample: {total:,} ({cost.human(total)})")
    lines.append("_" * line_length)
    return "\n".join(lines) + "\n"


def _format_row(fields, positions, level=0) -> list[str]:
    """One row's lines: directly when every cell fits, else Keras's own algorithm."""
    cells = [str(f) for f in fields]
    if level or not any(cells) or not _fits_one_line(cells, positions):
        return _keras_print_row(cells, positions, level)
    starts = (0, *positions[:-1])
    return ["".join((" " + text if col == 0 else text).ljust(end - start)
                    for col, (text, start, end) in enumerate(zip(cells, starts, positions)))]


def _fits_one_line(cells, positions) -> bool:
    """True when Keras would print the row on one line with no cell overflowing."""
    starts = (0, *positions[:-1])
    last = len(positions) - 1
    for col, (text, start, end) in enumerate(zip(cells, starts, positions)):
        used = len(text) + (1 if col == 0 else 0) + (2 if col != last else 0)
        if used > end - start or any(mark in text for mark in ("),", "},", "],", "',")):
            return False
    return True


def _keras_print_row(fields, positions, level=0) -> list[str]:
    """Keras 2's print_row: fixed columns, overflow wrapped onto further lines."""
    left = list(fields)
    lines = []
    while any(left):
        line = ""
        for col in range(len(left)):
            start = positions[col - 1] if col > 0 else 0
            space = 2 if col != len(positions) - 1 else 0
            cutoff = positions[col] - start - space
            fit = left[col][:cutoff]
            # Keras breaks early after the end of a tuple, list or dict
            breaks = [fit.find(mark) + len(mark) for mark in ("),", "},", "],", "',")
                      if fit.find(mark) >= 0]
            if breaks:
                cutoff = min(breaks)
                fit = fit[:cutoff]
            if col == 0:
                line += "|" * level + " "
            line += fit + " " * space
            left[col] = left[col][cutoff:]
            line += " " * (positions[col] - len(line) - level)
        lines.append(line + "|" * level)
    return lines


# ---------------------------------------------------------------- JSON and markdown

def to_json_dict(summary: Summary) -> dict:
    return {
        "name": summary.name,
        "input_shape": list(summary.input_shape),
        "layers": [_row_dict(row) for row in summary.rows],
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "non_trainable_params": summary.non_trainable_params,
        "total_macs": sum(row.macs for row in summary.rows),
        "total_flops": sum(row.flops for row in summary.rows),
        # for the batch the summary shows (1 when it is unknown), without an optimizer
        "memory": cost.memory(summary.rows, summary.input_shape, summary.input_shape[0] or 1),
    }


def _row_dict(row: Row) -> dict:
    result = {}
    for column in COLUMNS.values():
        result.update(column.fields(row))
    if row.children:
        result["layers"] = [_row_dict(child) for child in row.children]
    return result


def render_json(summary: Summary) -> str:
    import json  # here: a YAML spec's text summary needs no json module (start-up)

    return json.dumps(to_json_dict(summary), indent=2) + "\n"


def render_markdown(summary: Summary, show_trainable=False, expand_nested=False,
                    extra=("params",)) -> str:
    from tabulate import tabulate

    shown = columns(show_trainable, extra)
    table = []

    def add(row: Row, prefix: str) -> None:
        cells = [column.markdown(column.value(row)) for column in shown]
        table.append([prefix + cells[0], *cells[1:]])
        if expand_nested:
            for child in row.children:
                add(child, prefix + row.name + "/")

    for row in summary.rows:
        add(row, "")
    body = tabulate(table, headers=[column.header for column in shown], tablefmt="pipe",
                    disable_numparse=True, colalign=[column.align for column in shown])
    return (f"**Model: \"{summary.name}\"**\n\n{body}\n\n"
            f"- Total params: {summary.total_params:,}\n"
            f"- Trainable params: {summary.trainable_params:,}\n"
            f"- Non-trainable params: {summary.non_trainable_params:,}\n")
