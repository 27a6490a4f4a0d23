"""Atomic file writes: a temporary file in the same folder, then a rename.

The temporary file is named `.TARGET.seqcli-PID.RANDOM.tmp`: recognisable, and owned by
a process. One left behind by a process that was killed (its PID gone) is removed by the
next atomic write in that folder (the Dask engine's temporary folders likewise).
"""

from __future__ import annotations

import functools
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
    if _is_special(path):  # /dev/null, a named pipe: written in place, never replaced
        yield from _special_writer(path, binary)
        return
    remove_stale(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}{owner_tag()}.",
                                   suffix=".tmp", dir=folder)
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


def _is_special(path: str) -> bool:
    """Whether `path` (links followed as open() follows them) is a device or a pipe.
    Asked of the path, not its realpath: /dev/stdout into a pipe resolves to a name
    like `/proc/PID/fd/pipe:[N]` that exists nowhere, yet opens."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _special_writer(path: str, binary: bool):
    """A device or pipe is not a file to replace (renaming over /dev/null, as root, would
    swap the device for a plain file): it is opened and written as it is. Binary output
    is made in memory first: an .npz's zip writer seeks and asks its position, which a
    device like /dev/null answers with 0, and the sizes it then computes break it."""
    import io

    try:
        with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8",
                  newline=None if binary else "") as handle:
            if not binary:
                yield handle
                return
            buffer = io.BytesIO()
            yield buffer
            handle.write(buffer.getvalue())
    except OSError as exc:
        raise SeqcliError(f"cannot write: {exc.strerror or exc}", path) from None


MARK = ".seqcli-"  # .TARGET.seqcli-PID-HOST.RANDOM.tmp


@functools.cache
def host_tag() -> str:
    """8 hex digits naming this machine: a PID says nothing about a process on another
    host writing into a shared folder (Dask workers elsewhere). Computed at the first
    write, not at import: hashlib and socket cost a command that writes nothing ~5 ms."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def owner_tag(pid: int | None = None) -> str:
    """The part of a temporary name that says whose it is: `.seqcli-PID-HOST`."""
    return f"{MARK}{os.getpid() if pid is None else pid}-{host_tag()}"


def remove_stale(folder: str) -> list[str]:
    """Remove the temporary files (and the Dask engine's temporary folders) of writes
    whose process has died, killed while writing; the names removed. One whose owner
    may be alive is left alone."""
    import shutil

    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        pid = _owner(entry.name)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            pass  # another process cleaned it first, or it is not ours to remove
    return removed


def _owner(name: str) -> int | None:
    """The PID in `.TARGET.seqcli-PID-HOST.RANDOM.tmp` (or `.old`, a replaced Dask output
    on its way out) written on this host, or None for any other name."""
    if not (name.startswith(".") and name.endswith((".tmp", ".old"))) or MARK not in name:
        return None
    pid, _, host = name.rsplit(MARK, 1)[1].split(".", 1)[0].partition("-")
    return int(pid) if pid.isdigit() and host == host_tag() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive, not ours to judge
    return True


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
    if _is_special(path):  # /dev/null, a pipe: written in place, so it needs no folder
        if not os.access(path, os.W_OK):
            raise SeqcliError("cannot write: permission denied", where)
        return
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise SeqcliError(f"cannot write: no folder {os.path.dirname(path) or '.'!r}", where)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}{owner_tag()}.",
                                   suffix=".tmp", dir=folder)
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
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask. Linux tells it in /proc; elsewhere os.umask can only read it
    by setting it, for a moment in which another thread's new file would get mode 0o666."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
