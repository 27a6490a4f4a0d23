"""The allocator settings of the compute commands (seqcli/memory.py): freed blocks are
kept for the next batch instead of going back to the kernel."""

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

from seqcli import memory

glibc = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")


PROBE = """
import ctypes, sys
import numpy as np
from seqcli import memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = MallInfo2
applied = memory.keep_freed_memory() if sys.argv[1] == "set" else None
mapped = mallinfo2().hblkhd  # bytes in blocks mapped on their own
block = np.ones(2**20, dtype=np.float32)  # 4 MiB
print(applied, mallinfo2().hblkhd - mapped)
"""


def _probe(mode, **settings):
    """(what keep_freed_memory said, bytes newly mapped for a 4 MiB array), in a fresh
    process (glibc's threshold moves as blocks are freed) with glibc's defaults but for
    `settings`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("MALLOC_") and name != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True,
                         capture_output=True, text=True, env={**env, **settings})
    applied, mapped = out.stdout.split()
    return applied, int(mapped)


@pytest.mark.skipif(not glibc, reason="needs glibc 2.33 or later (mallinfo2)")
def test_after_the_settings_a_large_array_comes_from_the_heap_not_a_fresh_mapping():
    assert _probe("default")[1] >= 4 * 2**20  # by default: a mapping of its own
    assert _probe("set") == ("True", 0)


@pytest.mark.skipif(not glibc, reason="needs glibc 2.33 or later (mallinfo2)")
@pytest.mark.parametrize("setting", [{"MALLOC_TRIM_THRESHOLD_": "0"},
                                     {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}])
def test_the_users_own_malloc_settings_stand(setting):
    applied, mapped = _probe("set", **setting)
    assert applied == "False" and mapped >= 4 * 2**20


@pytest.mark.parametrize("command", ["run", "extract", "evaluate", "fit"])
def test_the_compute_commands_make_the_settings(cli, tmp_path, monkeypatch, command):
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [3]\ncompile: {optimizer: sgd, loss: mse}\n"
                    "layers:\n  - Dense: {units: 2}\n")
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.ones((4, 3), np.float32))
    np.save(y, np.ones((4, 2), np.float32))
    w = tmp_path / "w0.npz"
    np.savez(w, **{"dense/kernel": np.ones((3, 2), np.float32),
                   "dense/bias": np.zeros(2, np.float32)})
    args = {"run": ["run", spec, "--input", x],
            "extract": ["extract", spec, "--input", x, "--all", "-o", tmp_path / "f.npz"],
            "evaluate": ["evaluate", spec, "--x", x, "--y", y, "--weights", w],
            "fit": ["fit", spec, "--x", x, "--y", y, "-o", tmp_path / "w.npz"]}[command]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert calls == [1]
