"""Outputs of the Dask engine, written under a temporary name and renamed when whole.

`-o out.zarr`: a Zarr array (a group of arrays, one per layer, for extract) whose
chunks the workers write in parallel. `-o folder/`: one .npy per input chunk,
`part-00000.npy`, ... (one subfolder per layer for extract), also written by the
workers. Both are built in a hidden `.NAME.*.tmp` folder beside the target and
renamed into place after the last chunk, so an interrupted or failed run leaves
nothing that looks complete. The workers must see the same folder (a local cluster
does; a remote one needs a shared filesystem).

`-o out.npy` (or `-`), `-o out.npz` and printing are assembled by the client.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass

from seqcli.errors import SeqcliError
from seqcli.files import owner_tag, remove_stale

PART_NAME = "part-{:05d}.npy"


@dataclass(frozen=True)
class Sink:
    """Where workers write chunk `index` (rows start..stop) of each named output.

    kind: "zarr" or "folder" (written by workers); "npy", "npz" or "print" (by the client).
    `layers`: the output names; `[""]` for run's single output.
    """

    kind: str
    target: str
    temporary: str = ""
    layers: tuple = ("",)


def kind_of(output: str | None, extract: bool = False) -> str:
    if output is None:
        return "print"
    if output == "-":
        return "npy"
    bare = output.rstrip("/")
    if bare.endswith(".zarr"):
        return "zarr"
    if output.endswith("/") or os.path.isdir(output):
        return "folder"
    if extract and output.endswith(".npz"):
        return "npz"
    if not extract and output.endswith(".npy"):
        return "npy"
    wanted = "out.zarr, folder/ or out.npz" if extract else "out.zarr, folder/ or out.npy"
    raise SeqcliError(f"cannot tell what to write from the name; give {wanted}", f"-o {output}")


def check_layer_names(names) -> None:
    """Layer names become array or folder names: no separators, no hidden names."""
    for name in names:
        if not name or "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
            raise SeqcliError("this layer name cannot name an output array or folder; "
                              "rename the layer (letters, digits, _ and -)", f"--layer {name}")


# ---------------------------------------------------------------- prepared by the client

def prepare(kind: str, output: str, layers, shapes: dict, chunk_rows: int) -> Sink:
    """Make the hidden temporary output (Zarr arrays created, chunked like the run)."""
    layers = tuple(layers)
    if kind not in ("zarr", "folder"):
        return Sink(kind, output, "", layers)
    target = os.path.abspath(output.rstrip("/"))
    check_target(kind, output)
    folder, name = os.path.split(target)
    remove_stale(folder)  # what a killed run left
    try:
        temporary = tempfile.mkdtemp(prefix=f".{name}{owner_tag()}.", suffix=".tmp",
                                     dir=folder)
    except OSError as exc:
        raise SeqcliError(f"cannot write here: {exc.strerror or exc}", output) from None
    sink = Sink(kind, target, temporary, layers)
    try:
        if kind == "zarr":
            _create_zarr(sink, shapes, chunk_rows)
        else:
            for layer in layers:
                if layer:
                    os.mkdir(os.path.join(temporary, layer))
    except BaseException:
        abort(sink)
        raise
    return sink


def _create_zarr(sink: Sink, shapes: dict, chunk_rows: int) -> None:
    import zarr

    if sink.layers == ("",):
        shape = shapes[""]
        zarr.create_array(store=sink.temporary, shape=shape, dtype="float32",
                          chunks=(chunk_rows, *shape[1:]), zarr_format=3)
        return
    group = zarr.open_group(store=sink.temporary, mode="w", zarr_format=3)
    for layer in sink.layers:
        shape = shapes[layer]
        group.create_array(layer, shape=shape, dtype="float32",
                           chunks=(chunk_rows, *shape[1:]))


def check_target(kind: str, output: str | None) -> None:
    """An existing target is replaced only if it is a Zarr store or a folder of chunk
    files a previous run wrote: never a user's other folder."""
    if kind not in ("zarr", "folder"):
        return
    target = output.rstrip("/")
    if not os.path.lexists(target):
        return
    if not os.path.isdir(target) or os.path.islink(target):
        raise SeqcliError(f"exists and is not a folder; the {kind} output is a folder "
                          "(remove it or choose another name)", output)
    entries = os.listdir(target)
    if not entries or (kind == "zarr" and "zarr.json" in entries) or (
            kind == "folder" and _looks_like_parts(target)):
        return
    raise SeqcliError(f"exists and is not a seqcli {kind} output; it will not be "
                      "replaced (remove it or choose another name)", output)


def _looks_like_parts(folder: str) -> bool:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            if not _looks_like_parts(entry.path):
                return False
        elif not (entry.name.startswith("part-") and entry.name.endswith(".npy")):
            return False
    return True


# ---------------------------------------------------------------- written by a worker

def write_chunk(sink: Sink, index: int, start: int, outputs: dict) -> None:
    """Write one chunk's outputs ({layer: array}) into the temporary output."""
    if not os.path.isdir(sink.temporary):  # the run was cancelled and cleaned up
        raise SeqcliError("the temporary output is gone (the run was stopped)",
                          sink.temporary)
    if sink.kind == "zarr":
        import zarr

        for layer, array in outputs.items():
            stored = zarr.open_array(store=sink.temporary, path=layer or None, mode="r+")
            stored[start:start + len(array)] = array  # whole Zarr chunks: no overlap
    else:
        import numpy as np

        from seqcli.files import atomic_writer

        for layer, array in outputs.items():
            path = os.path.join(sink.temporary, layer, PART_NAME.format(index))
            with atomic_writer(path, binary=True) as handle:  # a retried chunk overwrites
                np.save(handle, np.ascontiguousarray(array, dtype=np.float32))


# ---------------------------------------------------------------- finished by the client

def commit(sink: Sink) -> None:
    """Rename the complete temporary output into place (replacing an old one)."""
    if not sink.temporary:
        return
    _fsync_tree(sink.temporary)
    old = None
    if os.path.lexists(sink.target):
        folder, name = os.path.split(sink.target)
        old = tempfile.mkdtemp(prefix=f".{name}{owner_tag()}.", suffix=".old",
                               dir=folder)
        os.replace(sink.target, old)  # over the empty placeholder
    os.chmod(sink.temporary, 0o777 & ~_umask())
    os.replace(sink.temporary, sink.target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def abort(sink: Sink) -> None:
    if sink.temporary:
        shutil.rmtree(sink.temporary, ignore_errors=True)


def _fsync_tree(folder: str) -> None:
    for root, _, names in os.walk(folder):
        for name in names:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
