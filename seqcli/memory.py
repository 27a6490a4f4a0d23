"""How this process's C allocator treats freed memory, set once by the commands that
compute batches (run, extract, evaluate and fit).

glibc's malloc gives a freed block of 128 KiB or more straight back to the kernel,
and trims the top of its heap whenever 128 KiB there are free; the next array of that
size then gets fresh pages, each zeroed by the kernel and faulted in on first touch. A
numpy forward or training step makes and drops the same large arrays on every batch,
so it paid those faults every time: a third of the CPU time of training the small CNN
in benchmarks/, and half of an LSTM's forward pass. Keeping freed memory for reuse
costs nothing in peak use (the next batch needs the same sizes again); the memory goes
back when the process ends.

The library leaves the policy alone: a long-lived process such as a Dask worker is
better off returning memory, and Dask's own advice is the opposite setting."""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # the most glibc accepts on 64-bit systems
TRIM_THRESHOLD = 1 << 30

_applied = None  # after the first call: whether the settings took


def keep_freed_memory() -> bool:
    """Blocks up to 32 MiB come from the heap and a free heap top is kept (up to 1 GiB)
    rather than given back. False where the C library is not glibc, or where the user
    has set glibc's malloc settings in the environment (theirs stand)."""
    global _applied
    if _applied is None:
        _applied = not _user_settings() and _set_glibc_thresholds()
    return _applied


def _user_settings() -> bool:
    import os

    return any(name.startswith("MALLOC_") for name in os.environ) or \
        "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def _set_glibc_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except (ImportError, OSError):  # a Python built without ctypes
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt does nothing
        return False
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
