"""Read a .npy header (shape and dtype) without numpy and without loading data."""

from __future__ import annotations

import ast
import struct

from seqcli.errors import SeqcliError

MAGIC = b"\x93NUMPY"


def read_shape(path: str, stream=None) -> tuple:
    """The array shape declared by a .npy file's header."""
    where = "<stdin>" if path == "-" else path
    try:
        if stream is not None:
            return _parse(stream, where)
        with open(path, "rb") as handle:
            return _parse(handle, where)
    except OSError as exc:
        raise SeqcliError(exc.strerror or str(exc), where) from None


def _parse(handle, where) -> tuple:
    prefix = handle.read(8)
    if len(prefix) < 8 or prefix[:6] != MAGIC:
        raise SeqcliError("not a .npy file (no NUMPY magic at its start)", where)
    major = prefix[6]
    size_format = "<H" if major == 1 else "<I"
    raw_size = handle.read(struct.calcsize(size_format))
    if len(raw_size) != struct.calcsize(size_format) or major not in (1, 2, 3):
        raise SeqcliError("a .npy file with a damaged header", where)
    (length,) = struct.unpack(size_format, raw_size)
    if length > 65536:
        raise SeqcliError("a .npy header of absurd length", where)
    try:
        header = ast.literal_eval(handle.read(length).decode("latin1"))
        shape = tuple(header["shape"])
    except (ValueError, SyntaxError, KeyError, TypeError, RecursionError, MemoryError):
        raise SeqcliError("a .npy file with a damaged header", where) from None
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SeqcliError(f"a .npy header with an invalid shape {shape}", where)
    return shape
