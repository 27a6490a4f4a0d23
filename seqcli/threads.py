"""How many threads numpy's BLAS may use around a piece of work.

A loop of many small products (a recurrent layer's timesteps, a training step on a
small batch) runs fastest with BLAS on one thread: OpenBLAS's workers otherwise wake
for each product and spin between them, taking a core from numpy's own element-wise
work, which on a busy machine costs several times the product itself. The limit is
set and restored through threadpoolctl (its controller is made once: it scans the
loaded libraries)."""

from __future__ import annotations

import contextlib
import threading

_controller = None
_lock = threading.Lock()
_depth = 0  # nested single_blas() blocks: only the outermost sets and restores


def _get_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def single_blas():
    """BLAS on one thread inside the block; as it was afterwards."""
    global _depth
    with _lock:
        _depth += 1
        limiter = _get_controller().limit(limits=1, user_api="blas") if _depth == 1 else None
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if limiter is not None:
                limiter.restore_original_limits()


# the usual ways to tell a process how many threads to use; Dask's nanny sets both to 1
# in each worker (a worker per core), where threads of seqcli's own would oversubscribe
THREAD_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cores() -> int:
    """The cores this process may run on, or fewer where the environment says so."""
    import os

    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    for name in THREAD_LIMITS:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            count = min(count, int(value))
    return count


_pool = None  # (the executor, the process id it belongs to)
_inside = threading.local()  # set on a thread while it runs a part of a split


def run_split(tasks, worker, parts=None):
    """Runs worker(part) for `parts` contiguous parts of `tasks` (default: one per core)
    on threads, with BLAS on one thread each, and returns when all are done. numpy
    releases the GIL in copies and products, so the parts run side by side; each
    worker gets its own part and writes only its own outputs."""
    global _pool
    parts = min(parts or cores(), len(tasks))
    if parts <= 1 or getattr(_inside, "busy", False):  # a part never splits again
        worker(tasks)
        return
    import os

    from concurrent.futures import ThreadPoolExecutor, wait

    with _lock:
        if _pool is None or _pool[1] != os.getpid():  # a forked child has none of the threads
            _pool = (ThreadPoolExecutor(max_workers=cores(), thread_name_prefix="seqcli"),
                     os.getpid())
        pool = _pool[0]
    size = -(-len(tasks) // parts)
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    with single_blas():
        futures = [pool.submit(_part, worker, chunk) for chunk in chunks[1:]]
        try:
            _part(worker, chunks[0])  # this thread takes a part too
        finally:
            wait(futures)  # no part is still writing when this returns or raises
        for future in futures:
            future.result()  # a part's error, once all have ended


def _part(worker, chunk):
    _inside.busy = True
    try:
        worker(chunk)
    finally:
        _inside.busy = False
