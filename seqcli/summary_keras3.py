"""Keras 3's `model.summary()` text, drawn from seqcli's summary rows.

Keras 3 (`keras/src/utils/summary_utils.py`) hands its rows to rich, a
`Table(width=line_length, show_lines=True)` with the HEAVY_HEAD box and fixed
column widths, printed without colour to a file or pipe. seqcli draws the same
characters itself with the few pieces of rich's layout that the summary uses:
the column widths (`Table._calculate_column_widths`, `ratio_reduce`), cell
wrapping (`divide_line`: at word boundaries, an overlong word cut with "…"),
justification and the box. No rich, no numpy: the summary stays fast.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from dataclasses import dataclass

from seqcli.errors import SeqcliError
from seqcli.layers.base import format_shape
from seqcli.model import Sequential

DEFAULT_LINE_LENGTH = 88
TRAINABLE_EXTRA = 12  # Keras widens the table by 12 for the Trainable column
POSITIONS = (0.45, 0.80, 1.0)
HEADER = ("Layer (type)", "Output Shape", "Param #")
JUSTIFY = ("left", "left", "right")
PADDING = 2  # rich's default cell padding (0, 1): one space either side

# rich's box.HEAVY_HEAD: (left, horizontal, divider, right) for each kind of line
TOP = ("┏", "━", "┳", "┓")
HEAD_ROW = ("┡", "━", "╇", "┩")
ROW_LINE = ("├", "─", "┼", "┤")
BOTTOM = ("└", "─", "┴", "┘")
HEAD_EDGE, BODY_EDGE = "┃", "│"

# Keras's dtype_utils.DTYPE_TO_SIZE, in bytes
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1,
               "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "int64": 8,
               "uint64": 8, "bool": 1}
# Normalization's counter is created with dtype "int", which Keras 3 makes int32 on
# JAX (the reference backend: 64-bit types off) and int64 only on TensorFlow
JAX_DTYPES = {"int64": "int32"}


# Keras 3 layers that have no `build` of their own, so Keras marks them built as they are
# made (Layer._build_at_init): an unbuilt model shows them with "0", not "0 (unbuilt)".
# Recorded from Keras by tests/fixtures/make_look.py and checked by the tests.
BUILT_AT_INIT = frozenset((
    "Activation", "ActivityRegularization", "AlphaDropout", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "CenterCrop", "Cropping1D", "Cropping2D",
    "Cropping3D", "Dropout", "ELU", "Flatten", "GaussianDropout", "GaussianNoise",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Identity", "LeakyReLU",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "Permute", "ReLU", "RepeatVector",
    "Rescaling", "Reshape", "Resizing", "Softmax", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "UnitNormalization", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"))


@dataclass(frozen=True)
class WeightBytes:
    """The bytes of the model's weights, as Keras's footer sizes them."""

    trainable: int
    non_trainable: int


def weight_bytes(model) -> WeightBytes:
    """Trainable and non-trainable weight bytes (Normalization's count is an int64)."""
    trainable = non_trainable = 0
    for spec in model.plan.weight_specs():
        size = spec.size * DTYPE_BYTES[JAX_DTYPES.get(spec.dtype, spec.dtype)]
        if spec.trainable:
            trainable += size
        else:
            non_trainable += size
    return WeightBytes(trainable, non_trainable)


# ---------------------------------------------------------------- width rule

def terminal_columns() -> int:
    """shutil.get_terminal_size's columns: COLUMNS, else stdout's terminal, else 80."""
    return shutil.get_terminal_size().columns


def default_line_length(show_trainable: bool, columns: int | None = None) -> int:
    """Keras 3's rule: 88 (+12 with Trainable), capped at the terminal width less 4."""
    columns = terminal_columns() if columns is None else columns
    wanted = DEFAULT_LINE_LENGTH + (TRAINABLE_EXTRA if show_trainable else 0)
    return min(wanted, columns - 4)


def column_widths(line_length: int, show_trainable: bool) -> list[int]:
    """Each column's width, padding included, borders excluded (as rich lays it out)."""
    positions = [p * 0.90 for p in POSITIONS] + [1.0] if show_trainable else list(POSITIONS)
    asked, current = [], 0
    for position in positions:  # Keras's own widths
        width = int(position * line_length) - current
        if width < 4:
            raise SeqcliError(f"Insufficient console width to print summary: a line of "
                              f"{line_length} columns is too narrow for "
                              f"{len(positions)} columns; give a wider --line-length",
                              "--line-length")
        asked.append(width)
        current += width
    # rich adds the padding to each fixed width, then shrinks the columns evenly to
    # fit the table's width less its borders
    available = line_length - (len(asked) + 1)
    widths = [min(width + PADDING, available) for width in asked]
    excess = sum(widths) - available
    if excess > 0:
        widths = _ratio_reduce(excess, [1] * len(widths), widths, widths)
        widths = [max(width, 0) for width in widths]
    if sum(widths) < available:
        widths = [w + extra for w, extra in
                  zip(widths, _ratio_distribute(available - sum(widths), widths))]
    return widths


def _ratio_reduce(total, ratios, maximums, values):
    """rich's ratio_reduce (Python's rounding included: half to even)."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return list(values)
    remaining, result = total, []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            result.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _ratio_distribute(total, ratios):
    """rich's ratio_distribute, without minimums."""
    total_ratio, remaining, result = sum(ratios), total, []
    for ratio in ratios:
        share = -(-ratio * remaining // total_ratio) if total_ratio > 0 else remaining
        result.append(share)
        total_ratio -= ratio
        remaining -= share
    return result


# ---------------------------------------------------------------- cells and text

def cell_len(text: str) -> int:
    """Terminal cells a string takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(_char_cells(char) for char in text)


def _char_cells(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _chop(text: str, width: int) -> list[str]:
    """rich's chop_cells: pieces of at most `width` cells."""
    pieces, piece, used = [], "", 0
    for char in text:
        cells = _char_cells(char)
        if used + cells > width and piece:
            pieces.append(piece)
            piece, used = "", 0
        piece += char
        used += cells
    if piece:
        pieces.append(piece)
    return pieces


def _set_cells(text: str, width: int) -> str:
    """rich's set_cell_size: cut (or pad) to exactly `width` cells."""
    if text.isascii():
        return text[:width].ljust(width)
    out, used = "", 0
    for char in text:
        cells = _char_cells(char)
        if used + cells > width:
            break
        out += char
        used += cells
    return out + " " * (width - used)


_WORD = re.compile(r"\s*\S+\s*")


def _break_offsets(text: str, width: int, fold: bool) -> list[int]:
    """rich's divide_line: where to break `text` so that each line fits `width`."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        word_length = cell_len(word.rstrip())
        if width - offset >= word_length:
            offset += cell_len(word)
        elif word_length > width:
            if fold:
                pieces = _chop(word, width)
                for index, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if index == len(pieces) - 1:
                        offset = cell_len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = cell_len(word)
        elif offset and start:
            breaks.append(start)
            offset = cell_len(word)
    return breaks


def _divide(text: str, offsets: list[int]) -> list[str]:
    bounds = [0, *offsets, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def _rstrip_end(line: str, width: int) -> str:
    """Drop trailing whitespace, but only as far as it overflows `width`."""
    excess = len(line) - width
    if excess <= 0:
        return line
    spaces = len(line) - len(line.rstrip())
    return line[:len(line) - min(spaces, excess)]


def _truncate(line: str, width: int, ellipsis: bool) -> str:
    if cell_len(line) <= width:
        return line
    return _set_cells(line, width - 1) + "…" if ellipsis else _set_cells(line, width)


# rich.markup's patterns: what `escape` guards, and what its parser takes for a tag
_MARKUP_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPABLE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def markup_escape(text: str) -> str:
    """rich.markup.escape, which Keras applies to every name it prints."""
    text = _ESCAPABLE.sub(lambda match: f"{match[1]}{match[1]}\\{match[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def markup_plain(markup: str) -> str:
    """The text rich prints for console markup (rich.markup.render): tags dropped,
    escaped brackets and backslashes resolved. (rich would also turn emoji codes such
    as `:smile:` into emoji; seqcli leaves them as written.)"""
    if "[" not in markup:
        return markup
    out, position = [], 0
    for match in _MARKUP_TAG.finditer(markup):
        full, escapes, _ = match.groups()
        start, end = match.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        backslashes, escaped = divmod(len(escapes), 2)
        out.append("\\" * backslashes)
        if escaped:  # an escaped tag is text
            out.append(full[len(escapes):].replace("\\[", "["))
        position = end
    out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


def expand_tabs(text: str, size: int = 8) -> str:
    """rich's Text.expand_tabs: each tab becomes a space, then spaces up to the next
    multiple of `size` cells (wide characters count two)."""
    if "\t" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        out, position = "", 0
        for part in line.split("\t")[:-1]:
            position += cell_len(part) + 1
            out += part + " " + " " * (-position % size)
            position += -position % size
        lines.append(out + line.split("\t")[-1])
    return "\n".join(lines)


def wrap_cell(text: str, width: int, justify: str) -> list[str]:
    """A table cell's lines, each exactly `width` cells: tabs expanded, wrapped at words,
    an overlong word cut with "…" (a column's overflow is "ellipsis"), then justified."""
    if len(text) <= width and text.isascii() and text.isprintable():  # fits: no wrapping
        return [_justify(text, width, justify)]
    lines = []
    for piece in expand_tabs(text).split("\n"):
        for line in _divide(piece, _break_offsets(piece, width, fold=False)) or [""]:
            lines.append(_justify(_rstrip_end(line, width), width, justify))
    return lines


def _justify(line: str, width: int, justify: str) -> str:
    """rich's Lines.justify for one line: left pads; right and center strip first."""
    if justify == "left":
        line = _truncate(line, width, True)
        return line + " " * (width - cell_len(line))
    line = _truncate(line.rstrip(), width, True)
    gap = width - cell_len(line)
    left = gap // 2 if justify == "center" else gap
    return " " * left + line + " " * (gap - left)


def wrap_paragraph(text: str, width: int) -> list[str]:
    """console.print of a plain line: wrapped at words, overlong words folded."""
    lines, text = [], expand_tabs(text)
    for line in _divide(text, _break_offsets(text, width, fold=True)) or [""]:
        lines.append(_truncate(_rstrip_end(line, width), width, False))
    return lines


# ---------------------------------------------------------------- the table

def readable_size(size: float) -> str:
    """Keras's readable_memory_size: 9728 -> '9.50 KB'."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def table_rows(summary, show_trainable: bool, expand_nested: bool) -> list[list[str]]:
    """The table's body: one list of cell texts per layer (nested ones prefixed)."""
    body = []
    _add_rows(summary.rows, 0, show_trainable, expand_nested, body)
    return body


def _add_rows(rows, level: int, show_trainable: bool, expand_nested: bool, body) -> None:
    for row in rows:
        cells = [_name_cell(row.name, row.class_name, level), format_shape(row.output_shape),
                 f"{row.params:,}"]
        if show_trainable:
            cells.append(_trainable_mark(row.trainable, row.params))
        body.append(cells)
        if expand_nested:
            _add_rows(row.children, level + 1, show_trainable, expand_nested, body)


def _name_cell(name: str, class_name: str, level: int) -> str:
    """Keras's markup for the name cell, as rich prints it; nested rows indented."""
    prefix = "   " * level + "└ " if level else ""
    return markup_plain(f"{markup_escape(prefix + name)} ([color(33)]"
                        f"{markup_escape(class_name)}[/])")


def _trainable_mark(trainable: bool, params: int) -> str:
    return ("Y" if trainable else "N") if params else "-"  # "-": a layer without weights


def _rule(widths, left, horizontal, divider, right) -> str:
    return left + divider.join(horizontal * width for width in widths) + right


def _table_row(cells, widths, justify, edge, bottom_aligned) -> list[str]:
    rendered = []
    for text, width, how in zip(cells, widths, justify):
        content = max(width - PADDING, 0)
        lines = [" " + line + " " for line in wrap_cell(text, content, how)]
        if width < PADDING:  # narrower than its padding: rich cuts the cell
            lines = [_set_cells(line, width) for line in lines]
        rendered.append(lines)
    height = max(len(lines) for lines in rendered)
    for lines, width in zip(rendered, widths):
        blank = [" " * width] * (height - len(lines))
        lines[:] = blank + lines if bottom_aligned else lines + blank
    return [edge + edge.join(lines[i] for lines in rendered) + edge for i in range(height)]


def table_lines(header, justify, body, widths) -> list[str]:
    """rich's Table with HEAVY_HEAD and show_lines: the head, then rows between rules."""
    lines = [_rule(widths, *TOP)]
    lines += _table_row(header, widths, justify, HEAD_EDGE, bottom_aligned=True)
    lines.append(_rule(widths, *HEAD_ROW))
    for index, cells in enumerate(body):
        if index:
            lines.append(_rule(widths, *ROW_LINE))
        lines += _table_row(cells, widths, justify, BODY_EDGE, bottom_aligned=False)
    lines.append(_rule(widths, *BOTTOM))
    return lines


def render(summary, sizes: WeightBytes, show_trainable=False, expand_nested=False,
           line_length: int | None = None, columns: int | None = None) -> str:
    """The text Keras 3 prints. `line_length` as Keras's argument (default: its width
    rule for `columns`, the terminal's width); lines wrap at the wider of the two."""
    counts = (summary.trainable_params, summary.non_trainable_params)
    return _text(summary.name, table_rows(summary, show_trainable, expand_nested), counts,
                 sizes, show_trainable, line_length, columns)


def render_unbuilt(model, show_trainable=False, expand_nested=False,
                   line_length: int | None = None, columns: int | None = None) -> str:
    """What Keras 3 prints for a model without an input shape: every shape `?`, every
    count `0 (unbuilt)`, or `0` for layers Keras builds as it makes them (Keras 2
    refuses instead). A nested model with its own input shape is built, and counted."""
    from seqcli.summary import summarize

    body, counts, sizes = [], [0, 0], [0, 0]

    def add(layer, level: int) -> None:
        class_name = type(layer).__name__
        if isinstance(layer, Sequential) and layer.built:
            inner = summarize(layer)
            cells = [_name_cell(layer.name, class_name, level),
                     format_shape(layer.plan.output_shape), f"{inner.total_params:,}"]
            body.append(cells + ([_trainable_mark(layer.trainable, inner.total_params)]
                                 if show_trainable else []))
            if expand_nested:
                _add_rows(inner.rows, level + 1, show_trainable, True, body)
            counts[0] += inner.trainable_params
            counts[1] += inner.non_trainable_params
            inner_bytes = weight_bytes(layer)
            sizes[0] += inner_bytes.trainable
            sizes[1] += inner_bytes.non_trainable
            return
        count = "0" if class_name in BUILT_AT_INIT else "0 (unbuilt)"
        body.append([_name_cell(layer.name, class_name, level), "?", count]
                    + (["-"] if show_trainable else []))
        if expand_nested:
            for inner_layer in getattr(layer, "layers", ()):
                add(inner_layer, level + 1)

    for layer in model.layers:
        add(layer, 0)
    return _text(model.name, body, tuple(counts), WeightBytes(*sizes), show_trainable,
                 line_length, columns)


def _text(name, body, counts, sizes, show_trainable, line_length, columns) -> str:
    columns = terminal_columns() if columns is None else columns
    if line_length is None:
        line_length = default_line_length(show_trainable, columns)
    widths = column_widths(line_length, show_trainable)
    header = HEADER + (("Trainable",) if show_trainable else ())
    justify = JUSTIFY + (("center",) if show_trainable else ())
    console_width = max(columns, line_length)

    title = markup_plain(f'[bold]Model: "{markup_escape(name)}"[/]')
    lines = wrap_paragraph(title, console_width)
    lines += table_lines(header, justify, body, widths)
    trainable, non_trainable = counts
    for label, count, size in (
            ("Total", trainable + non_trainable, sizes.trainable + sizes.non_trainable),
            ("Trainable", trainable, sizes.trainable),
            ("Non-trainable", non_trainable, sizes.non_trainable)):
        lines += wrap_paragraph(f" {label} params: {count:,} ({readable_size(size)})",
                                console_width)
    return "\n".join(lines) + "\n"
