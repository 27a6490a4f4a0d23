"""How benchmarks/run.py times things on a shared machine: alternating rounds, best of
each side, a pause between sides so that the other side's worker threads go idle."""

from __future__ import annotations

import os
import statistics
import subprocess
import time

THREADS = os.cpu_count() or 1
SETTLE = 0.3  # seconds: thread pools (OpenMP, OpenBLAS) spin-wait a while after use


def best(function, repeat=5, number=1) -> float:
    """Best seconds per call over `repeat` rounds of `number` calls (after a warm-up)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def compare(ours, theirs, repeat=7, number=1) -> tuple[float, float]:
    """Best seconds per call of two functions, measured in alternating rounds so that
    a busy moment on a shared machine falls on both alike; between rounds a pause
    lets the other side's spinning worker threads go idle."""
    ours(), theirs()
    best_ours = best_theirs = float("inf")
    for _ in range(repeat):
        for function, which in ((ours, 0), (theirs, 1)):
            time.sleep(SETTLE)
            function()  # warm this side's threads again
            start = time.perf_counter()
            for _ in range(number):
                function()
            seconds = (time.perf_counter() - start) / number
            if which == 0:
                best_ours = min(best_ours, seconds)
            else:
                best_theirs = min(best_theirs, seconds)
    return best_ours, best_theirs


def wall(args, repeat, env=None, pick=statistics.median) -> float:
    """Wall-clock seconds of a whole process (median of `repeat` runs, or `pick`)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return pick(times)


def peer(name):
    try:
        return __import__(name)
    except ImportError:
        return None


def skipped(target, what, goal):
    return {"target": target, "seqcli": "-", "peer_figure": f"{what} not installed: skipped",
            "ratio": None, "goal": goal}
