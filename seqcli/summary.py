"""Model summaries: collect rows from shapes alone, then render them.

The text layout is Keras 2's `model.summary()` (the one the guide prints):
65 columns, columns at 29/55/65, long names wrapped, thousands separators in
the totals. Rows come from shape inference, so no array is allocated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from seqcli.layers.base import Shape, format_shape
from seqcli.model import Sequential


@dataclass
class Row:
    name: str
    class_name: str
    output_shape: Shape
    params: int
    trainable_params: int
    trainable: bool
    children: list["Row"] = field(default_factory=list)

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
    input_shape = model.batch_input_shape
    return Summary(model.name, input_shape, _rows(model, input_shape, parent_trainable=True))


def _rows(model: Sequential, input_shape: Shape, parent_trainable: bool) -> list[Row]:
    rows = []
    outputs = model.trace(input_shape)
    for layer, in_shape, out_shape in zip(model.layers, model.layer_inputs(input_shape, outputs),
                                          outputs):
        trainable = parent_trainable and layer.trainable
        specs = layer.weight_specs(in_shape)
        row = Row(layer.name, type(layer).__name__, out_shape,
                  params=sum(s.size for s in specs),
                  trainable_params=sum(s.size for s in specs if s.trainable and trainable),
                  trainable=trainable)
        if isinstance(layer, Sequential):
            row.children = _rows(layer, in_shape, trainable)
        rows.append(row)
    return rows


# ---------------------------------------------------------------- text (Keras 2)

LINE_LENGTH = 65
POSITIONS = (29, 55, 65)  # int(65 * p) for p in Keras's [0.45, 0.85, 1.0]


def render_text(summary: Summary, show_trainable=False, expand_nested=False) -> str:
    line_length = LINE_LENGTH + (11 if show_trainable else 0)
    positions = POSITIONS + ((line_length,) if show_trainable else ())
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Trainable"] if show_trainable else [])
    lines = [f'Model: "{summary.name}"', "_" * line_length]
    lines += _format_row(header, positions)
    lines.append("=" * line_length)

    def emit(row: Row, level: int, is_nested_last: bool) -> None:
        fields = [f"{row.name} ({row.class_name})", format_shape(row.output_shape), row.params]
        if show_trainable:
            fields.append("Y" if row.trainable else "N")
        lines.extend(_format_row(fields, positions, level))
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
    }


def _row_dict(row: Row) -> dict:
    result = {"name": row.name, "class_name": row.class_name,
              "output_shape": list(row.output_shape), "params": row.params,
              "trainable_params": row.trainable_params,
              "non_trainable_params": row.non_trainable_params, "trainable": row.trainable}
    if row.children:
        result["layers"] = [_row_dict(child) for child in row.children]
    return result


def render_json(summary: Summary) -> str:
    return json.dumps(to_json_dict(summary), indent=2) + "\n"


def render_markdown(summary: Summary, show_trainable=False, expand_nested=False) -> str:
    from tabulate import tabulate

    header = ["Layer (type)", "Output Shape", "Param #"] + (["Trainable"] if show_trainable else [])
    table = []

    def add(row: Row, prefix: str) -> None:
        cells = [f"{prefix}{row.name} ({row.class_name})", format_shape(row.output_shape),
                 f"{row.params:,}"]
        table.append(cells + (["Y" if row.trainable else "N"] if show_trainable else []))
        if expand_nested:
            for child in row.children:
                add(child, prefix + row.name + "/")

    for row in summary.rows:
        add(row, "")
    body = tabulate(table, headers=header, tablefmt="pipe", disable_numparse=True,
                    colalign=("left", "left", "right") + (("center",) if show_trainable else ()))
    return (f"**Model: \"{summary.name}\"**\n\n{body}\n\n"
            f"- Total params: {summary.total_params:,}\n"
            f"- Trainable params: {summary.trainable_params:,}\n"
            f"- Non-trainable params: {summary.non_trainable_params:,}\n")
