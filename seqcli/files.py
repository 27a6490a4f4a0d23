"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

from seqcli.errors import SeqcliError


@contextmanager
def atomic_writer(path: str, binary: bool = False):
    """Yield a file handle; on success it replaces `path` whole, on failure nothing changes.

    Writes through a symlink to its target and keeps an existing file's mode.
    """
    import tempfile

    if path == "-":
        yield from _stdout_writer(binary)
        return
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise SeqcliError("is a directory; expected a file to write", path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=folder)
    except OSError as exc:
        raise SeqcliError(f"cannot write here: {exc.strerror or exc}", path) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8",
                       newline=None if binary else "") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise SeqcliError(f"cannot write: {exc.strerror or exc}", path) from None
        raise


def check_writable(path: str, where: str = "", folder_ok: bool = False) -> None:
    """Fail now, before any work, if `path` cannot be written: a missing or read-only
    folder, a directory in the way. Tried as the write itself goes: a temporary file in
    the target's folder, removed at once. `folder_ok`: the target may be a folder (a
    Dask output), so only its parent is tried."""
    import tempfile

    where = where or path
    if path == "-":
        return
    target = os.path.realpath(path.rstrip("/") if folder_ok else path)
    if os.path.isdir(target) and not folder_ok:
        raise SeqcliError("is a directory; expected a file to write", where)
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise SeqcliError(f"cannot write: no folder {os.path.dirname(path) or '.'!r}", where)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                   dir=folder)
    except OSError as exc:
        raise SeqcliError(f"cannot write here: {exc.strerror or exc}", where) from None
    os.close(fd)
    _remove_quietly(tmp)


def writable(ctx, param, value):
    """A click callback: an output option's file must be writable before work starts."""
    if value is not None:
        check_writable(value, f"{param.opts[0]} {value}")
    return value


def binary_writable(ctx, param, value):
    """`writable` for binary outputs, where `-` must not be a terminal."""
    if value == "-":
        refuse_binary_terminal()
    return writable(ctx, param, value)


def shown(path: str) -> str:
    """A destination as messages name it: '-' is standard output."""
    return "standard output" if path == "-" else path


def refuse_same_file(*destinations) -> None:
    """Two outputs of one command given the same file: the second write would replace
    the first. `destinations` are (option, path or None)."""
    import click

    seen = {}
    for option, path in destinations:
        if path is None or path == "-":
            continue
        target = os.path.realpath(path)
        if target in seen:
            raise click.UsageError(f"{seen[target]} and {option} are the same file ({path}); "
                                   "the second would replace the first")
        seen[target] = option


def refuse_binary_terminal() -> None:
    import sys

    if sys.stdout.isatty():
        raise SeqcliError("refusing to write binary data to a terminal; redirect it "
                          "(> file) or pipe it", "-o -")


def _stdout_writer(binary: bool):
    """'-' is standard output, written only once the whole output is made (an error
    midway leaves stdout empty). Binary output to a terminal is refused."""
    import io
    import sys

    if binary:
        refuse_binary_terminal()
    buffer = io.BytesIO() if binary else io.StringIO()
    yield buffer
    if binary:
        sys.stdout.flush()
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()


def write_text(path: str, text: str) -> None:
    with atomic_writer(path) as handle:
        handle.write(text)


def _mode_for(target: str) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
