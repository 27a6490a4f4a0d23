"""Standard input as a data or weights file: `--input -`, `--x -`, `--data -`, `--weights -`.

One option per command may read standard input (a second is a usage error). It is
read whole, up to MAX_STDIN_BYTES, and its format is sniffed from its first bytes,
never taken on trust: a .npy array, an .npz archive, numbers as CSV/TSV text, or (for
weights) Keras's HDF5 or `.keras` archive, which are read by path and so are first
copied to a private temporary folder that is removed when the command ends.
"""

from __future__ import annotations

import io
import os
import sys

from seqcli.errors import SeqcliError

MAX_STDIN_BYTES = 2 * 2**30  # more than this is refused: give a file path instead
WHERE = "<stdin>"
NPY, ZIP, HDF5 = b"\x93NUMPY", b"PK\x03\x04", b"\x89HDF\r\n\x1a\n"


def claim(what: str) -> None:
    """Note that `what` reads standard input in this command; a second reader is a
    usage error (the first would have taken every byte)."""
    import click

    context = click.get_current_context(silent=True)
    if context is None:
        return
    root = context.find_root()
    taken = root.meta.get("seqcli.stdin")
    if taken is not None and taken != what:
        raise click.UsageError(f"{taken} and {what} cannot both read standard input ('-')")
    root.meta["seqcli.stdin"] = what


def claim_all(**options) -> None:
    """Claim standard input for each option given as '-', before anything is read, so
    that two of them are one usage error (names: keyword_with_underscores -> --dashes)."""
    for name, value in options.items():
        if value == "-":
            claim(name if name == "SPEC" else "--" + name.replace("_", "-"))


def read(what: str, stream=None) -> bytes:
    """Every byte of standard input (for `what`), at most MAX_STDIN_BYTES."""
    claim(what)
    stream = stream if stream is not None else sys.stdin
    stream = getattr(stream, "buffer", stream)
    data = stream.read(MAX_STDIN_BYTES + 1)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_STDIN_BYTES:
        raise SeqcliError(f"standard input holds more than {MAX_STDIN_BYTES:,} bytes; give "
                          f"{what} a file path instead", WHERE)
    return data


def kind_of(data: bytes) -> str:
    """"npy", "zip", "hdf5", "text" or "other", from the first bytes."""
    if data.startswith(NPY):
        return "npy"
    if data.startswith(ZIP):
        return "zip"
    if data.startswith(HDF5):
        return "hdf5"
    return "text" if looks_like_text(data[:4096]) else "other"


def looks_like_text(head: bytes) -> bool:
    """UTF-8 without control characters other than white space (the head may end
    inside a character, so up to 3 trailing bytes may be cut)."""
    for cut in range(min(4, len(head) + 1)):
        try:
            text = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return not any(ord(c) < 32 and c not in "\t\n\r\f" or c == "\x7f" for c in text)
    return False


def read_array(what: str, stream=None):
    """An array from standard input: a .npy array, or numbers as CSV/TSV text."""
    from seqcli import arrays, tables

    data = read(what, stream)
    kind = kind_of(data)
    if kind == "npy":
        return arrays.read_npy_bytes(data, WHERE)
    if kind == "text" and data.strip():
        return tables.parse(data, WHERE)
    found = arrays.describe_bytes(data[:16]) if data else "standard input is empty"
    raise SeqcliError(f"not a .npy array nor numbers as CSV/TSV text: {found}", WHERE)


def open_input(path: str, what: str, rows: bool = True):
    """An input array from a path or '-': a .npy (memory-mapped rows when `rows`), or
    numbers as CSV/TSV text (a .csv, .tsv or .txt file, or sniffed on standard input)."""
    from seqcli import arrays, tables

    if path == "-":
        return read_array(what)
    if tables.is_table(path):
        return tables.read(path)
    return arrays.open_rows(path) if rows else arrays.read_npy(path, mmap=False)


def read_npz(what: str, stream=None) -> dict:
    """The arrays of an .npz archive on standard input, each checked as from a file."""
    from seqcli import arrays

    data = read(what, stream)
    if kind_of(data) != "zip":
        raise SeqcliError(f"expected an .npz archive; {arrays.describe_bytes(data[:16])}",
                          WHERE)
    return arrays.read_npz(io.BytesIO(data), WHERE)


def spooled_weights(stream=None) -> str:
    """`--weights -`: the bytes in a private temporary file (removed when the command
    ends), so the weights readers, which take paths, read them; an .npz, Keras's HDF5
    weights or a .keras archive."""
    from seqcli import arrays

    data = read("--weights", stream)
    kind = kind_of(data)
    if kind not in ("zip", "hdf5"):
        raise SeqcliError("expected weights (.npz, Keras .weights.h5 or .h5, or a .keras "
                          f"archive); {arrays.describe_bytes(data[:16])}", WHERE)
    return _spool(data, ".npz" if kind == "zip" else ".h5")


def _spool(data: bytes, suffix: str) -> str:
    import atexit
    import shutil
    import tempfile

    import click

    folder = tempfile.mkdtemp(prefix="seqcli-stdin-")  # private: mode 0700
    path = os.path.join(folder, "stdin" + suffix)
    with open(path, "wb") as handle:
        handle.write(data)

    def remove():
        shutil.rmtree(folder, ignore_errors=True)

    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().call_on_close(remove)
    else:
        atexit.register(remove)
    return path
