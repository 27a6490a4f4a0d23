"""Faults as a user's machine has them: a disk that fills during a write, a process killed
in the middle of one. The target is always the old file or the complete new one; a
temporary file left by a killed process is recognisable and removed by the next write in
its folder; every failure is one line, never a traceback.

The disk fills by a file-size limit (`ulimit -f`): the child ignores SIGXFSZ, so its
writes past the limit fail with EFBIG ("File too large"), as ENOSPC would on a full disk.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from seqcli.files import owner_tag

from tests.conftest import ROOT, SPECS

LAYERS = os.path.join(SPECS, "guide_layers.yaml")  # 3 numbers in, 4 out
DIGITS = os.path.join(SPECS, "digits")
MLP = os.path.join(DIGITS, "mlp.yaml")
TRAIN = os.path.join(DIGITS, "train.npz")


def seqcli(args, cwd, limit=None, **popen):
    """`python -m seqcli ARGS` in `cwd`; with `limit`, under a file-size limit (bytes)."""
    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored: the write sees EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PYTHONPATH": ROOT, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "seqcli", *map(str, args)], cwd=cwd,
                            env=env, preexec_fn=limited if limit else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def finished(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out.decode(), err.decode()


def snapshot(folder) -> dict:
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Inputs and old outputs, made once: each case copies them."""
    path = tmp_path_factory.mktemp("faults")
    np.save(path / "x.npy", np.random.default_rng(0).random((40, 3), dtype=np.float32))
    for args in (["init", LAYERS, "-o", "w.npz"], ["init", MLP, "-o", "mlp.npz"]):
        assert finished(seqcli(args, path))[0] == 0
    with open(path / "m.yaml", "w") as handle:
        handle.write(open(MLP).read())
    return path


# every kind of write: (arguments, the file it replaces, the limit in bytes)
WRITES = [
    (["init", LAYERS, "-o", "out.npz", "--seed", "3"], "out.npz", 200),
    (["run", LAYERS, "--input", "x.npy", "--weights", "w.npz", "-o", "out.npy"], "out.npy", 200),
    (["extract", LAYERS, "--input", "x.npy", "--weights", "w.npz", "--all", "-o", "out.npz"],
     "out.npz", 200),
    (["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o", "out.npz"], "out.npz", 2000),
    (["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o", "out.keras"], "out.keras", 2000),
    (["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o", "out.weights.h5"], "out.weights.h5",
     2000),
    (["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o", "/dev/null", "--checkpoint",
      "out.npz"], "out.npz", 2000),
    (["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o", "/dev/null", "--history",
      "out.csv"], "out.csv", 20),
    (["convert", LAYERS, "--weights", "w.npz", "-o", "out.keras"], "out.keras", 200),
    (["convert", LAYERS, "--weights", "w.npz", "-o", "out.weights.h5"], "out.weights.h5", 200),
    (["convert", LAYERS, "--weights", "w.npz", "-o", "out.onnx"], "out.onnx", 100),
    (["convert", LAYERS, "-o", "out.json"], "out.json", 20),
    (["convert", LAYERS, "--weights", "w.npz", "-o", "out.npz"], "out.npz", 200),
    (["convert", LAYERS, "--weights", "w.npz", "-o", "spec.yaml", "--weights-out", "out.npz"],
     "out.npz", 400),
    (["plot", LAYERS, "-o", "out.svg"], "out.svg", 100),
    (["new", "--input-shape", "3", "-o", "out.yaml"], "out.yaml", 10),
    (["freeze", LAYERS, "--all", "-o", "out.yaml"], "out.yaml", 20),
    (["freeze", "m.yaml", "--all", "-i"], "m.yaml", 20),
    (["add", "m.yaml", "-i", "Dense(3)"], "m.yaml", 20),
    (["pop", "m.yaml", "-i"], "m.yaml", 20),
]


@pytest.mark.parametrize("args,target,limit", WRITES,
                         ids=lambda v: " ".join(v[:1] + v[-2:]) if isinstance(v, list) else None)
def test_a_disk_that_fills_leaves_the_old_file(folder, tmp_path, args, target, limit):
    for name, data in snapshot(folder).items():
        (tmp_path / name).write_bytes(data)
    if not (tmp_path / target).exists():
        (tmp_path / target).write_bytes(b"the old file\n")
    before = snapshot(tmp_path)
    status, _, err = finished(seqcli(args, tmp_path, limit=limit))
    assert status == 1, err
    assert err.strip().splitlines()[-1] == f"seqcli: error: {target}: cannot write: File too large"
    assert "Traceback" not in err and all(line.startswith("seqcli: ") for line in err.splitlines())
    assert snapshot(tmp_path) == before  # the old file, and no temporary file left


def wait_for_temporary(folder, target, process, size, timeout=60):
    """The name of `target`'s temporary file once it holds `size` bytes, while `process`
    still runs (None if it ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        for name in os.listdir(folder):
            if name.startswith(f".{target}{owner_tag(process.pid)}.") and name.endswith(".tmp"):
                try:
                    if os.path.getsize(os.path.join(folder, name)) >= size:
                        return name
                except FileNotFoundError:
                    pass  # renamed into place in between
        time.sleep(0.002)
    return None


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_killed_while_writing_a_large_run_output(tmp_path):
    """SIGKILL with 8 MB of a 40 MB output written: the old output stays whole, the
    temporary file is named for the target and the killed process, and the next write
    in the folder removes it."""
    with open(tmp_path / "wide.yaml", "w") as handle:
        handle.write("input_shape: [16]\nlayers:\n  - Dense: {units: 1000}\n")
    np.save(tmp_path / "x.npy", np.ones((10_000, 16), np.float32))
    old = b"the old output\n"
    (tmp_path / "y.npy").write_bytes(old)
    process = seqcli(["run", "wide.yaml", "--input", "x.npy", "-o", "y.npy", "--batch-size",
                      "4"], tmp_path)
    leftover = wait_for_temporary(tmp_path, "y.npy", process, 8 * 2**20)
    assert leftover is not None, "the run ended before the kill"
    kill(process)
    assert (tmp_path / "y.npy").read_bytes() == old
    assert os.path.exists(tmp_path / leftover)
    status, _, err = finished(seqcli(["init", "wide.yaml", "-o", "w.npz"], tmp_path))
    assert status == 0, err
    assert not os.path.exists(tmp_path / leftover)
    assert sorted(os.listdir(tmp_path)) == ["w.npz", "wide.yaml", "x.npy", "y.npy"]


def test_killed_while_writing_a_checkpoint(tmp_path):
    """A 32 MB checkpoint, killed while being written: the checkpoint is the old one,
    complete, never a torn one; the temporary file goes with the next write."""
    with open(tmp_path / "big.yaml", "w") as handle:
        handle.write("input_shape: [2000]\ncompile: {loss: mse, optimizer: sgd}\n"
                     "layers:\n  - Dense: {units: 4000}\n  - Dense: {units: 1}\n")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((16, 2000), dtype=np.float32),
             y=rng.random((16, 1), dtype=np.float32))
    old = snapshot_of_a_run(tmp_path)
    # a small learning rate: the loss falls every epoch, so every epoch writes a checkpoint
    process = seqcli(["fit", "big.yaml", "--data", "d.npz", "-o", "/dev/null", "--epochs",
                      "1000", "--batch-size", "16", "--checkpoint", "c.npz",
                      "--monitor", "loss", "--learning-rate", "1e-6"], tmp_path)
    leftover = wait_for_temporary(tmp_path, "c.npz", process, 4 * 2**20)
    assert leftover is not None, "no checkpoint was caught being written"
    kill(process)
    checkpoint = (tmp_path / "c.npz").read_bytes()
    assert checkpoint == old or complete_weights(tmp_path / "c.npz")
    assert os.path.exists(tmp_path / leftover)
    assert finished(seqcli(["new", "-o", "n.yaml"], tmp_path))[0] == 0
    assert not os.path.exists(tmp_path / leftover)


def snapshot_of_a_run(folder) -> bytes:
    """A first, complete checkpoint (one epoch), as the old file."""
    status, _, err = finished(seqcli(["fit", "big.yaml", "--data", "d.npz", "-o", "/dev/null",
                                      "--epochs", "1", "--checkpoint", "c.npz",
                                      "--learning-rate", "1e-6"], folder))
    assert status == 0, err
    return (folder / "c.npz").read_bytes()


def complete_weights(path) -> bool:
    with np.load(path) as data:
        return sorted(data.files) == ["dense/bias", "dense/kernel", "dense_1/bias",
                                      "dense_1/kernel"] and data["dense/kernel"].shape == (2000,
                                                                                           4000)


def test_only_the_temporary_files_of_dead_processes_are_removed(tmp_path):
    from seqcli import files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = {f".y.npy{owner_tag(dead.pid)}.abc123.tmp": False,   # killed: removed
                 f".y.npy{owner_tag(alive.pid)}.def456.tmp": True,   # still writing: kept
                 f".w.npz{owner_tag(os.getpid())}.x.tmp": True,       # this process's own
                 ".y.npy.abc123.tmp": True,                        # not seqcli's
                 f".y.npy.seqcli-{dead.pid}-0badf00d.k.tmp": True,  # another host's
                 "notes.seqcli-1.tmp": True}                       # not hidden: not ours
        for name in names:
            (tmp_path / name).write_bytes(b"partial")
        for name in (f".y.zarr{owner_tag(dead.pid)}.q.tmp", f".y.zarr{owner_tag(dead.pid)}.r.old"):
            (tmp_path / name / "part").mkdir(parents=True)  # the Dask engine's folders
            (tmp_path / name / "part" / "0.npy").write_bytes(b"partial")
        assert sorted(files.remove_stale(str(tmp_path))) == [
            f".y.npy{owner_tag(dead.pid)}.abc123.tmp", f".y.zarr{owner_tag(dead.pid)}.q.tmp",
            f".y.zarr{owner_tag(dead.pid)}.r.old"]
        assert sorted(os.listdir(tmp_path)) == sorted(n for n, kept in names.items() if kept)
    finally:
        alive.kill()
        alive.wait()


def test_a_device_is_written_in_place_never_renamed_over(tmp_path):
    """`-o /dev/null` and a named pipe: opened and written, not replaced by a plain file
    (as root, renaming over /dev/null would have put a file in the device's place)."""
    pipe = tmp_path / "pipe.npz"
    os.mkfifo(pipe)
    reader = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE)
    status, _, err = finished(seqcli(["init", LAYERS, "-o", "pipe.npz"], tmp_path))
    received = reader.communicate(timeout=30)[0]
    assert status == 0, err
    assert received.startswith(b"PK") and os.path.exists(pipe)
    assert not os.path.isfile(pipe)  # still the pipe
    status, _, err = finished(seqcli(["fit", MLP, "--data", TRAIN, "--epochs", "1", "-o",
                                      "/dev/null"], tmp_path))
    assert status == 0, err
    assert not os.path.isfile("/dev/null") and os.listdir(tmp_path) == ["pipe.npz"]


def test_small_weights_to_dev_null(tmp_path):
    """An .npz to /dev/null: the zip writer asked the device its position, got 0, and
    failed on the sizes it computed from that ("internal error: argument out of range")."""
    (tmp_path / "m.yaml").write_text("input_shape: [2]\nlayers:\n  - Dense: {units: 3}\n")
    status, _, err = finished(seqcli(["init", "m.yaml", "-o", "/dev/null"], tmp_path))
    assert status == 0, err
    assert "wrote 2 weights" in err and os.listdir(tmp_path) == ["m.yaml"]


def test_dev_stdout_into_a_pipe_is_written(tmp_path):
    """`-o /dev/stdout | next`: the path resolves to `/proc/PID/fd/pipe:[N]`, a name that
    exists nowhere, yet opens; it was refused as 'cannot write here'."""
    process = seqcli(["init", LAYERS, "-o", "/dev/stdout"], tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.startswith(b"PK") and os.listdir(tmp_path) == []
    status, out, err = finished(seqcli(["new", "-o", "/dev/stdout"], tmp_path))
    assert status == 0, err
    assert out.startswith("name: sequential") and os.listdir(tmp_path) == []


def test_the_dask_engines_temporary_folder_is_marked_and_cleans_up_after_a_kill(tmp_path):
    from seqcli import sinks

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out{owner_tag(dead.pid)}.abc.tmp"
    (stale / "dense").mkdir(parents=True)
    sink = sinks.prepare("folder", str(tmp_path / "out"), ["dense"], {}, 4)
    try:
        assert os.path.basename(sink.temporary).startswith(f".out{owner_tag(os.getpid())}.")
        assert not stale.exists()
    finally:
        sinks.abort(sink)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_the_umask_gives_and_the_umask_is_left_alone(tmp_path,
                                                                              umask):
    from seqcli import files

    before = os.umask(umask)
    try:
        files.write_text(str(tmp_path / "new.yaml"), "layers: []\n")
        assert os.umask(umask) == umask  # still the umask set above
    finally:
        os.umask(before)
    assert stat.S_IMODE(os.stat(tmp_path / "new.yaml").st_mode) == 0o666 & ~umask


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux's /proc")
def test_the_umask_is_read_without_setting_it(monkeypatch):
    """Setting the umask to read it leaves a moment in which another thread's new file
    (a Dask worker thread's, say) would get mode 0o666."""
    from seqcli import files

    umask = os.umask(0o027)
    os.umask(umask)

    def refuse(mask):
        raise AssertionError("os.umask was called")

    monkeypatch.setattr(os, "umask", refuse)
    assert files._umask() == umask
