"""Numbers as CSV or TSV text: one sample per line, as `--input x.csv` (and `--x`, `--y`).

A file ending in .csv is comma-separated, .tsv tab-separated; .txt and standard input
are sniffed from the first line (a tab, else a comma, else one column). The first line
is a header when every cell is a name, and data when every cell is a number; a line
mixing both is refused. Every cell is checked: a bad one is named by file:line:col.
Blank lines are skipped; `nan` and `inf` are numbers (the finite check then decides).
"""

from __future__ import annotations

import re

from seqcli.errors import SeqcliError

SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None}
FLOAT32_MAX = 3.4028234663852886e38
MAX_TABLE_BYTES = 1 * 2**30  # larger text is refused: save the numbers as .npy
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)",
                    re.IGNORECASE)


def is_table(path: str) -> bool:
    return path.lower().endswith(tuple(SUFFIXES))


def read(path: str):
    """The numbers in a CSV/TSV file, as a float32 array (rows, columns)."""
    return parse(_read_bytes(path), path, _delimiter_of(path))


def shape(path: str, data: bytes | None = None) -> tuple[int, int]:
    """(rows, columns) of a CSV/TSV file (or of `data` read from standard input), every
    cell checked, without numpy (`summary --input x.csv` imports none)."""
    if data is None:
        return _shape(_table(_read_bytes(path), path, _delimiter_of(path)))
    return _shape(_table(data, path, None))


def parse(data: bytes, where: str, delimiter: str | None = None):
    """A float32 array (rows, columns) from CSV/TSV bytes; `delimiter` None: sniffed."""
    import numpy as np

    values, width = _table(data, where, delimiter)
    return np.array(values, dtype=np.float64).reshape(len(values), width).astype(np.float32)


def _shape(table) -> tuple[int, int]:
    values, width = table
    return len(values), width


def _read_bytes(path: str) -> bytes:
    import os

    try:
        if os.path.getsize(path) > MAX_TABLE_BYTES:
            raise SeqcliError(f"the text is larger than {MAX_TABLE_BYTES:,} bytes; save the "
                              "numbers with numpy.save and give the .npy", path)
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise SeqcliError(exc.strerror or str(exc), path) from None


def _delimiter_of(path: str) -> str | None:
    import os

    return SUFFIXES.get(os.path.splitext(path)[1].lower())


def _table(data: bytes, where: str, delimiter: str | None) -> tuple[list, int]:
    """(rows of floats, the number of columns), the header (if any) left out."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeqcliError(f"not UTF-8 text (byte {exc.start}); expected numbers as CSV or "
                          "TSV text, or a .npy array", where) from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1)
             if line.strip()]
    if not lines:
        raise SeqcliError("no header and no rows: the text is empty", where)
    if delimiter is None:
        first = lines[0][1]
        delimiter = "\t" if "\t" in first else "," if "," in first else None
    header = _is_header(lines[0], delimiter, where)
    width = len(_cells(lines[0][1], delimiter))
    values = []
    for number, line in (lines[1:] if header else lines):
        cells = _cells(line, delimiter)
        if len(cells) != width:
            raise SeqcliError(f"this line has {len(cells)} values; the "
                              f"{'header' if header else 'first line'} has {width}",
                              f"{where}:{number}:1")
        values.append([_number(cell, f"{where}:{number}:{start + 1}")
                       for start, cell in cells])
    return values, width


def _cells(line: str, delimiter: str | None) -> list[tuple[int, str]]:
    """(column offset, text) of each cell, spaces and one pair of quotes stripped."""
    parts = line.split(delimiter) if delimiter else [line]
    cells, offset = [], 0
    for part in parts:
        stripped = part.strip()
        start = offset + (part.index(stripped) if stripped else 0)
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            stripped, start = stripped[1:-1].strip(), start + 1
        cells.append((start, stripped))
        offset += len(part) + (len(delimiter) if delimiter else 0)
    return cells


def _is_header(first, delimiter, where) -> bool:
    number, line = first
    cells = _cells(line, delimiter)
    numeric = [bool(NUMBER.fullmatch(cell)) for _, cell in cells]
    if all(is_number or not cell for (_, cell), is_number in zip(cells, numeric)):
        return False  # a row of numbers (an empty cell is then named as one)
    if not any(numeric):
        empty = next(((start, cell) for start, cell in cells if not cell), None)
        if empty is None:
            return True
        raise SeqcliError("an empty cell in the header; name every column",
                          f"{where}:{number}:{empty[0] + 1}")
    start, cell = next((c for c, is_number in zip(cells, numeric) if is_number), cells[0])
    raise SeqcliError(f"the first line mixes names and numbers ({cell!r}): a header holds "
                      "only names, a row only numbers", f"{where}:{number}:{start + 1}")


def _number(cell: str, where: str) -> float:
    if not cell:
        raise SeqcliError("an empty cell; every cell needs a number", where)
    if not NUMBER.fullmatch(cell):
        shown = cell if len(cell) <= 40 else cell[:37] + "..."
        raise SeqcliError(f"{shown!r} is not a number", where)
    value = float(cell)
    if abs(value) > FLOAT32_MAX and value != float("inf") and value != float("-inf"):
        raise SeqcliError(f"{cell!r} is beyond float32's range (±3.4e38)", where)
    return value
