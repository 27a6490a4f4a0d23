"""Reading and writing .npy/.npz safely: never unpickling, dtypes checked."""

from __future__ import annotations

import io
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


def read_npy(path: str, stdin=None, mmap: bool = True):
    """An array from a .npy file (memory-mapped) or from standard input for '-'."""
    where = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            stream = stdin or sys.stdin.buffer
            data = stream.read()
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
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


def _check_header(path: str) -> None:
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
        except ValueError:
            return  # np.load gives the precise message
        reader = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if reader is None:
            return
        shape, _, dtype = reader(handle)
        if dtype.hasobject:
            raise SeqcliError("the array holds pickled Python objects, which seqcli never "
                              "loads; save plain numbers", path)
        size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if size > MAX_ARRAY_BYTES:
            raise SeqcliError(f"the array declares shape {shape} ({size:,} bytes), more than "
                              f"the {MAX_ARRAY_BYTES:,}-byte limit", path)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "allow_pickle" in text or "Object arrays" in text:
        return "it holds pickled Python objects, which seqcli never loads"
    return text


def read_npz(path: str) -> dict:
    """Every array of an .npz archive, each checked to be numeric."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise SeqcliError("expected an .npz archive (this is a single .npy array)", path)
            return {key: check_numeric(archive[key], f"{path}[{key}]") for key in archive.files}
    except SeqcliError:
        raise
    except (ValueError, OSError, EOFError, KeyError) as exc:
        raise SeqcliError(f"not a readable .npz archive: {_reason(exc)}", path) from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise SeqcliError(f"not a readable .npz archive: {_reason(exc)}", path) from None


def write_npy(path: str, array) -> None:
    """Write one array as .npy, atomically."""
    with atomic_writer(path, binary=True) as handle:
        np.save(handle, array, allow_pickle=False)


def write_npz(path: str, arrays: dict) -> None:
    """Write named arrays as an .npz archive, atomically."""
    with atomic_writer(path, binary=True) as handle:
        np.savez(handle, **arrays)
