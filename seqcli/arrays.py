"""Reading and writing .npy/.npz safely: never unpickling, dtypes checked."""

from __future__ import annotations

import io
import os
import sys

import numpy as np

from seqcli.errors import SeqcliError
from seqcli.files import atomic_writer

MAX_ARRAY_BYTES = 8 * 2**30  # refuse a declared array larger than this, before reading it


def check_numeric(array, where: str, what: str = "array"):
    """Refuse dtypes that make no sense for a model (strings, objects, complex, ...)."""
    kind = array.dtype.kind
    if kind not in "biuf" or array.dtype.fields is not None:
        raise SeqcliError(f"the {what} has dtype {array.dtype}, which a model cannot take; "
                          "expected numbers (float32, float64 or integers)", where)
    return array


RELEASE_BYTES = 32 * 2**20  # a streamed input keeps at most about this much resident


class NpyRows:
    """A .npy file mapped into memory and read a batch of rows at a time.

    Rows are zero-copy views of the mapping; `release` tells the kernel to drop
    pages already used, so a 2 GB input costs about one batch of resident memory.
    """

    def __init__(self, path: str, shape: tuple, dtype, offset: int):
        import mmap

        self.path, self.shape, self.dtype, self.offset = path, shape, dtype, offset
        self.ndim, self.size = len(shape), int(np.prod(shape, dtype=np.int64))
        self.row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        with open(path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self._released = 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("NpyRows reads row ranges only")
        start, stop, _ = key.indices(self.shape[0])
        rows = max(stop - start, 0)
        return np.frombuffer(self._map, dtype=self.dtype, count=rows * self.row_bytes
                             // max(self.dtype.itemsize, 1),
                             offset=self.offset + start * self.row_bytes
                             ).reshape(rows, *self.shape[1:])

    def release(self, start: int, stop: int) -> None:
        """Rows before `stop` were used: drop their pages from resident memory, in
        RELEASE_BYTES windows (one system call per window, not per batch)."""
        import mmap

        page = mmap.PAGESIZE
        used = (self.offset + stop * self.row_bytes) // page * page  # keep a shared page
        if used - self._released >= RELEASE_BYTES and hasattr(self._map, "madvise"):
            self._map.madvise(mmap.MADV_DONTNEED, self._released, used - self._released)
            self._released = used


def open_rows(path: str):
    """The .npy at `path` as NpyRows (checked like read_npy), or an array for
    what rows cannot express (Fortran order)."""
    handle = open_file(path)
    with handle:
        try:
            version = np.lib.format.read_magic(handle)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(handle)
                                     if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(handle))
        except ValueError:
            return read_npy(path)  # gives the precise error
        offset = handle.tell()
    if fortran or len(shape) == 0:
        return read_npy(path)
    check_declared(shape, dtype, path, os.path.getsize(path) - offset)
    check_numeric(np.empty(0, dtype=dtype), path, "input")
    return NpyRows(path, shape, dtype, offset)


def read_npy(path: str, stdin=None, mmap: bool = True):
    """An array from a .npy file (memory-mapped) or from standard input for '-'."""
    where = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            stream = stdin or sys.stdin.buffer
            data = stream.read()
            _check_magic(data[:16], where)
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            with open_file(path) as handle:
                _check_magic(handle.read(16), where)
            _check_header(path)
            array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except SeqcliError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise SeqcliError(f"not a readable .npy array: {_reason(exc)}", where) from None
    if not isinstance(array, np.ndarray):
        raise SeqcliError("expected a .npy file holding one array (this is an .npz archive)",
                          where)
    return check_numeric(array, where, "input")


def read_npy_bytes(data: bytes, where: str):
    """An array from a .npy file's bytes (standard input), checked as from a file."""
    _check_magic(data[:16], where)
    stream = io.BytesIO(data)
    try:
        shape, dtype = read_header(stream)
        check_declared(shape, dtype, where, len(data) - stream.tell())
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except SeqcliError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise SeqcliError(f"not a readable .npy array: {_reason(exc)}", where) from None
    return check_numeric(array, where, "input")


NPY_MAGIC = b"\x93NUMPY"


def open_file(path: str):
    """`path` opened for reading; a missing file, a folder or a file without read
    permission is one line naming it (an empty name shown as '')."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SeqcliError(exc.strerror or str(exc), path or "''") from None


def _check_magic(head: bytes, where: str) -> None:
    """Say what a file that is not a .npy array is (numpy calls everything
    without the .npy magic "pickled data", which misleads for a CSV or YAML file)."""
    if head.startswith(NPY_MAGIC):
        return
    raise SeqcliError(f"not a .npy array: {describe_bytes(head)}", where)


def describe_bytes(head: bytes) -> str:
    """A short description of what a file's first bytes look like."""
    if not head:
        return "the file is empty"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return "it holds pickled Python objects, which seqcli never loads"
    if head.startswith(b"PK"):
        return "it is an npz archive (a zip of several arrays): give one .npy array"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file (Keras weights go to --weights)"
    from seqcli.streams import looks_like_text

    if not looks_like_text(head):
        return "it starts with bytes that are no known array format"
    return "it is text (numbers as text go in a .csv or .tsv file, or save them with numpy.save)"


def _check_header(path: str) -> None:
    with open(path, "rb") as handle:
        try:
            shape, dtype = read_header(handle)
        except ValueError:
            return  # np.load gives the precise message
        available = os.path.getsize(path) - handle.tell()
    check_declared(shape, dtype, path, available)


def read_header(stream) -> tuple:
    """(shape, dtype) from a .npy header, without reading the data."""
    version = np.lib.format.read_magic(stream)
    reader = {(1, 0): np.lib.format.read_array_header_1_0,
              (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if reader is None:
        raise ValueError(f"unsupported .npy format version {version}")
    shape, _, dtype = reader(stream)
    return shape, dtype


def check_declared(shape, dtype, where: str, available: int | None = None) -> None:
    """Refuse object arrays and sizes over the limit (or over what the file holds)."""
    if dtype.hasobject:
        raise SeqcliError("the array holds pickled Python objects, which seqcli never "
                          "loads; save plain numbers", where)
    size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise SeqcliError(f"the array declares shape {shape} ({size:,} bytes), more than "
                          f"the {MAX_ARRAY_BYTES:,}-byte limit", where)
    if available is not None and size > available:
        raise SeqcliError(f"the header declares shape {shape} ({size:,} bytes) but only "
                          f"{available:,} bytes are stored: truncated or forged", where)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "allow_pickle" in text or "Object arrays" in text:
        return "it holds pickled Python objects, which seqcli never loads"
    return text


MAX_COMPRESSION_RATIO = 1000  # a member inflating more than this is a zip bomb


def read_npz(path, where: str | None = None) -> dict:
    """Every array of an .npz archive (a path, or a binary stream named by `where`),
    each checked from its header before it is read."""
    import zipfile

    source, path = path, where or path  # `path` names it in messages from here on
    if isinstance(source, str):
        with open_file(source) as handle:
            head = handle.read(16)
    else:
        head = source.read(16)
        source.seek(0)
    if not head.startswith(b"PK"):
        raise SeqcliError(f"not an .npz archive: {_describe_for_npz(head)}", path)
    try:
        with zipfile.ZipFile(source) as archive:
            return {_member_key(info, path): _read_member(archive, info, path)
                    for info in archive.infolist() if not info.is_dir()}
    except SeqcliError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError,
            RuntimeError) as exc:
        raise SeqcliError(f"not a readable .npz archive: {_reason(exc)}", path) from None


def _describe_for_npz(head: bytes) -> str:
    if head.startswith(NPY_MAGIC):
        return "it is one .npy array; an .npz holds named arrays (numpy.savez)"
    if head.startswith(b"\x89HDF"):
        return "it is an HDF5 file"
    return describe_bytes(head).replace("numpy.save)", "numpy.savez)")


def _member_key(info, path: str) -> str:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or not name.endswith(".npy"):
        raise SeqcliError(f"the archive member {name!r} is not a plain array name "
                          "(absolute, '..', a drive, or not .npy)", path)
    return name[:-4]


def _read_member(archive, info, path: str):
    where = f"{path}[{info.filename[:-4]}]"
    if info.file_size > MAX_ARRAY_BYTES + 65536:
        raise SeqcliError(f"the member declares {info.file_size:,} bytes, more than the "
                          f"{MAX_ARRAY_BYTES:,}-byte limit", where)
    if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO \
            and info.file_size > 2**20:
        raise SeqcliError(f"the member inflates {info.file_size / info.compress_size:,.0f}-fold "
                          f"({info.compress_size:,} to {info.file_size:,} bytes): a zip bomb?",
                          where)
    with archive.open(info) as stream:
        shape, dtype = read_header(stream)
    check_declared(shape, dtype, where, available=info.file_size)
    with archive.open(info) as stream:
        array = np.lib.format.read_array(stream, allow_pickle=False)
    return check_numeric(array, where)


def write_npz(path: str, arrays: dict) -> None:
    """Write named arrays as an .npz archive, atomically."""
    with atomic_writer(path, binary=True) as handle:
        np.savez(handle, **arrays)
