"""Row-sharded inputs for the Dask engine: one .npy, many .npy shards, or a Zarr array.

A `Source` is plain data (paths, row counts, a shape), small enough to ship to every
worker once; each worker opens the files itself and reads only its rows. Rows are
numbered across the shards in sorted order, so chunk k of a sharded input holds the
same rows as chunk k of the shards concatenated into one file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from seqcli.errors import SeqcliError

GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class Shard:
    path: str  # absolute: a worker's current folder is not the client's
    rows: int
    name: str  # as the user gave it, for messages


@dataclass(frozen=True)
class Source:
    """Where the rows are: .npy shards in order (`shards`), or a Zarr array."""

    shape: tuple  # (total rows, *one sample)
    dtype: str
    shards: tuple = ()
    zarr_store: str = ""  # absolute
    zarr_path: str = ""
    name: str = ""  # the Zarr array as the user gave it

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def is_zarr(self) -> bool:
        return bool(self.zarr_store)

    def describe(self) -> str:
        if self.is_zarr:
            return self.name
        if len(self.shards) == 1:
            return self.shards[0].name
        return f"{len(self.shards)} .npy shards"

    def locate(self, row: int) -> tuple[str, int]:
        """(file, row within it) of global row `row`: what an error names."""
        if self.is_zarr:
            return self.name, row
        for shard in self.shards:
            if row < shard.rows:
                return shard.name, row
            row -= shard.rows
        return self.shards[-1].name, row + self.shards[-1].rows


def _zarr_name(store: str, path: str) -> str:
    return f"{store}/{path}" if path else store


# ---------------------------------------------------------------- finding the input

def open_source(text: str, what: str = "--input") -> Source:
    """The input named by `text`: a Zarr array (`data.zarr`, `store.zarr/path`), a glob
    or a folder of .npy shards (sorted by name), or one .npy file."""
    from seqcli import tables

    store, inner = split_zarr(text)
    if store is not None:
        return _zarr_source(store, inner, what)
    if tables.is_table(text):
        raise SeqcliError("--engine dask reads .npy files or a Zarr array, not CSV/TSV "
                          "text; save the numbers with numpy.save, or leave out --engine",
                          f"{what} {text}")
    if any(c in text for c in GLOB_CHARACTERS) and not os.path.exists(text):
        paths = sorted(glob.glob(text))
        if not paths:
            raise SeqcliError("no file matches this pattern", what + " " + text)
    elif os.path.isdir(text):
        paths = sorted(os.path.join(text, name) for name in os.listdir(text)
                       if name.endswith(".npy") and not name.startswith("."))
        if not paths:
            raise SeqcliError("the folder holds no .npy files (and is not a Zarr array)",
                              text)
    elif os.path.exists(text):
        paths = [text]
    else:
        raise SeqcliError("no such file, folder or Zarr array", text)
    return _npy_source(paths)


def split_zarr(text: str) -> tuple[str | None, str]:
    """('store.zarr', 'inner/path') when a component of `text` ends in .zarr, or names
    a folder holding Zarr metadata; (None, '') otherwise."""
    parts = text.rstrip("/").split("/")
    for index, part in enumerate(parts):
        store = "/".join(parts[:index + 1]) or "/"
        if part.endswith(".zarr") or (os.path.isdir(store) and _has_zarr_metadata(store)):
            return store, "/".join(parts[index + 1:])
    return None, ""


def _has_zarr_metadata(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, name))
               for name in ("zarr.json", ".zarray", ".zgroup"))


def _npy_source(paths: list[str]) -> Source:
    """Every shard's header read and checked: numbers, and one sample shape for all."""
    from seqcli import arrays

    shards, sample, dtypes = [], None, set()
    for path in paths:
        with open(path, "rb") as handle:
            try:
                shape, dtype = arrays.read_header(handle)
            except (ValueError, OSError) as exc:
                raise SeqcliError(f"not a readable .npy array: {exc}", path) from None
            arrays.check_declared(shape, dtype, path,
                                  os.path.getsize(path) - handle.tell())
        arrays.check_numeric(_empty(dtype), path, "input")
        if len(shape) == 0:
            raise SeqcliError("the shard is a scalar; expected rows (a batch axis first)",
                              path)
        if sample is None:
            sample, first = tuple(shape[1:]), path
        elif tuple(shape[1:]) != sample:
            raise SeqcliError(f"the shard's rows have shape {tuple(shape[1:])}, but "
                              f"{first} has rows of shape {sample}; every shard must "
                              "hold rows of one shape", path)
        shards.append(Shard(os.path.abspath(path), int(shape[0]), path))
        dtypes.add(str(dtype))
    total = sum(shard.rows for shard in shards)
    dtype = dtypes.pop() if len(dtypes) == 1 else "mixed"
    return Source((total, *sample), dtype, shards=tuple(shards))


def _empty(dtype):
    import numpy as np

    return np.empty(0, dtype=dtype)


def _zarr_source(store: str, inner: str, what: str) -> Source:
    array = open_zarr(store, inner, what)
    from seqcli import arrays

    where = _zarr_name(store, inner)
    arrays.check_numeric(array, where, "input")
    if len(array.shape) == 0:
        raise SeqcliError("the Zarr array is a scalar; expected rows (a batch axis first)",
                          where)
    return Source(tuple(int(d) for d in array.shape), str(array.dtype),
                  zarr_store=os.path.abspath(store), zarr_path=inner, name=where)


def open_zarr(store: str, inner: str, what: str = "--input"):
    """The Zarr array at `inner` in the store folder `store`, read-only."""
    import zarr

    where = _zarr_name(store, inner)
    if not os.path.isdir(store):
        raise SeqcliError("no such Zarr store (a folder)", f"{what} {store}")
    try:
        found = zarr.open(store=store, path=inner or None, mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError) as exc:
        raise SeqcliError(f"not a readable Zarr array: {str(exc) or type(exc).__name__}",
                          where) from None
    if not isinstance(found, zarr.Array):
        names = sorted(name for name, _ in found.arrays())
        hint = f"; its arrays: {', '.join(names)} (name one as {store}/NAME)" if names else ""
        raise SeqcliError(f"this is a Zarr group, not an array{hint}", where)
    return found


# ---------------------------------------------------------------- reading rows (on a worker)

class RowReader:
    """Reads global row ranges of a Source, opening each shard once per reader."""

    def __init__(self, source: Source):
        self.source = source
        self._opened: dict[int, object] = {}

    def read(self, start: int, stop: int):
        """Rows [start, stop) in their stored dtype (a batch may span two shards)."""
        import numpy as np

        if self.source.is_zarr:
            return np.asarray(self._zarr()[start:stop])
        parts, offset = [], 0
        for index, shard in enumerate(self.source.shards):
            low, high = max(start - offset, 0), min(stop - offset, shard.rows)
            if low < high:
                parts.append(np.asarray(self._shard(index)[low:high]))
            offset += shard.rows
            if offset >= stop:
                break
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _zarr(self):
        if "zarr" not in self._opened:
            self._opened["zarr"] = open_zarr(self.source.zarr_store, self.source.zarr_path,
                                             self.source.name)
        return self._opened["zarr"]

    def _shard(self, index: int):
        if index not in self._opened:
            from seqcli import arrays

            shard = self.source.shards[index]
            try:
                rows = arrays.open_rows(shard.path)
            except OSError as exc:
                raise SeqcliError(f"a worker cannot read {shard.path}: "
                                  f"{exc.strerror or exc} (the workers must see the files "
                                  "at the same path)", shard.name) from None
            expected = (shard.rows, *self.source.shape[1:])
            if tuple(rows.shape) != expected:  # the file changed after the run started
                raise SeqcliError(f"the shard now holds shape {tuple(rows.shape)}, not the "
                                  f"{expected} read when the run started", shard.name)
            self._opened[index] = rows
        return self._opened[index]
