"""The Dask engine on a real distributed cluster over loopback TCP: every output is
compared, byte for byte, with the one-process numpy run on the same rows.

One LocalCluster (scheduler in this process, two single-threaded worker processes)
serves the whole module; the commands reach it with --scheduler, as a user would
reach a cluster someone else started.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from tests.conftest import ROOT  # noqa: E402
from tests.test_cli import assert_clean_error  # noqa: E402

SPEC = """name: sharded
layers:
  - Input: {shape: [96]}
  - Dense: {units: 256, activation: relu, kernel_regularizer: {L2: {l2: 0.001}},
           activity_regularizer: {L1: {l1: 0.0001}}}
  - BatchNormalization: {}
  - Dense: {units: 128, activation: tanh}
  - Dropout: {rate: 0.5}
  - Dense: {units: 5}
"""
ROWS = 1000
SHARDS = {"b.npy": (300, 555), "a.npy": (0, 300), "c.npy": (555, ROWS)}  # made out of order
LOSS = "SparseCategoricalCrossentropy(from_logits=True)"
METRICS = ["accuracy", "accuracy,sparse_top_k_categorical_accuracy",
           "accuracy,SparseCategoricalCrossentropy(from_logits=True),"
           "sparse_top_k_categorical_accuracy"]
# Dask's workers run one BLAS thread each (its nanny's default); OpenBLAS's one-thread
# kernels round differently from its threaded ones, so the one-process reference runs
# with one BLAS thread too (seqcli/dask_engine.py says why)
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_process(*args) -> str:
    """`seqcli ARGS` with the numpy engine in a process of its own; its stdout."""
    result = subprocess.run([sys.executable, "-m", "seqcli", *map(str, args)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **ONE_BLAS_THREAD, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module", autouse=True)
def keep_environment():
    """A nanny writes its workers' settings (OPENBLAS_NUM_THREADS=1, ...) into the
    environment of the process that starts it: give the other tests theirs back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def cluster():
    import logging

    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)
    client = Client(local)
    yield local, client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The spec, weights, inputs and targets, and the one-process results, made once."""
    folder = tmp_path_factory.mktemp("one_process")
    with open(folder / "model.yaml", "w") as handle:
        handle.write(SPEC)
    np.save(folder / "x.npy", np.random.default_rng(5).standard_normal((ROWS, 96))
            .astype(np.float32))
    np.save(folder / "y.npy", np.random.default_rng(6).integers(0, 5, ROWS))
    common = [folder / "model.yaml", "--weights", folder / "w.npz"]
    one_process("init", folder / "model.yaml", "-o", folder / "w.npz", "--seed", "3")
    for batch in (32, 16):
        one_process("run", *common, "--input", folder / "x.npy", "--batch-size", batch,
                    "-o", folder / f"reference{batch}.npy")
    one_process("extract", *common, "--input", folder / "x.npy", "--all",
                "-o", folder / "features.npz")
    for index, metrics in enumerate(METRICS):
        scores = one_process("evaluate", *common, "--x", folder / "x.npy", "--y",
                             folder / "y.npy", "--loss", LOSS, "--metrics", metrics,
                             "--format", "json", "--batch-size", "25")
        (folder / f"scores{index}.json").write_text(scores)
    return folder


@pytest.fixture
def data(prepared, tmp_path, monkeypatch):
    """A fresh folder with those files, and x.npy as three shards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQCLI_DASK_SCHEDULER", raising=False)
    for name in os.listdir(prepared):
        shutil.copy(prepared / name, name)
    x = np.load("x.npy")
    os.mkdir("shards")
    for name, (start, stop) in SHARDS.items():
        part = x[start:stop]
        np.save(f"shards/{name}", part.astype(np.float64) if name == "c.npy" else part)
    return x


def reference(batch: int = 32):
    return np.load(f"reference{batch}.npy")


def address(cluster):
    return cluster[0].scheduler_address


def run_dask(cli, cluster, source, output, *args):
    result = cli("run", "model.yaml", "--input", source, "--weights", "w.npz", "--engine",
                 "dask", "--scheduler", address(cluster), "-o", output, *args)
    assert result.exit_code == 0, result.stderr
    return result


def same_bytes(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def looks_complete(name: str) -> bool:
    return os.path.exists(name)


def leftovers() -> list:
    return sorted(glob.glob(".*.tmp") + glob.glob(".*.old"))


# ---------------------------------------------------------------- inputs and outputs

def test_shards_in_sorted_order_to_zarr_are_bit_identical(cli, data, cluster):
    result = run_dask(cli, cluster, "shards/*.npy", "out.zarr", "--chunk-rows", "96")
    stored = zarr.open_array("out.zarr", mode="r")
    assert same_bytes(stored[:], reference())
    assert stored.chunks == (96, 5)  # one Zarr chunk per task: workers never share one
    assert f"Dask scheduler {address(cluster)} with 2 workers" in result.stderr
    assert "11 chunks of up to 96 rows (1,000 rows from 3 .npy shards)" in result.stderr
    assert "seqcli: 11/11 chunks, 1,000/1,000 rows" in result.stderr  # plain lines in a pipe
    assert leftovers() == []


def test_a_folder_of_shards_to_parts_and_to_one_npy(cli, data, cluster):
    run_dask(cli, cluster, "shards", "parts/", "--chunk-rows", "320")
    parts = sorted(os.listdir("parts"))
    assert parts == ["part-00000.npy", "part-00001.npy", "part-00002.npy", "part-00003.npy"]
    loaded = [np.load(os.path.join("parts", name)) for name in parts]
    assert [len(part) for part in loaded] == [320, 320, 320, 40]
    assert same_bytes(np.concatenate(loaded), reference())
    run_dask(cli, cluster, "shards", "parts/", "--chunk-rows", "640")  # replaces its own
    assert sorted(os.listdir("parts")) == ["part-00000.npy", "part-00001.npy"]
    run_dask(cli, cluster, "shards/", "out.npy")  # default chunk size
    assert same_bytes(np.load("out.npy"), reference())
    assert leftovers() == []


def test_zarr_in_and_out(cli, data, cluster):
    group = zarr.open_group("store.zarr", mode="w")
    group.create_array("inputs", data=data, chunks=(70, 96))  # chunks unlike the run's
    root = zarr.create_array("data.zarr", shape=data.shape, dtype="float64", chunks=(128, 96))
    root[:] = data.astype(np.float64)
    run_dask(cli, cluster, "store.zarr/inputs", "from_group.zarr", "--chunk-rows", "128")
    run_dask(cli, cluster, "data.zarr", "from_root.npy", "--batch-size", "16")
    assert same_bytes(zarr.open_array("from_group.zarr", mode="r")[:], reference())
    assert same_bytes(np.load("from_root.npy"), reference(16))
    assert_clean_error(cli("run", "model.yaml", "--input", "store.zarr", "--engine", "dask",
                           "--scheduler", address(cluster)), 1, "store.zarr",
                       "a Zarr group, not an array", "inputs")


def test_extract_every_layer_matches_one_process(cli, data, cluster):
    reference = np.load("features.npz")
    common = ["extract", "model.yaml", "--input", "shards", "--weights", "w.npz", "--all",
              "--engine", "dask", "--scheduler", address(cluster), "--chunk-rows", "160"]
    for output in ("features.zarr", "features.npz", "features/"):
        result = cli(*common, "-o", output)
        assert result.exit_code == 0, result.stderr
    stored = zarr.open_group("features.zarr", mode="r")
    packed = np.load("features.npz")
    assert sorted(stored.array_keys()) == sorted(reference.files) == sorted(packed.files)
    for name in reference.files:
        assert same_bytes(stored[name][:], reference[name])
        assert same_bytes(packed[name], reference[name])
        parts = sorted(glob.glob(f"features/{name}/part-*.npy"))
        assert len(parts) == 7
        assert same_bytes(np.concatenate([np.load(p) for p in parts]), reference[name])


@pytest.mark.parametrize("index", range(len(METRICS)))
def test_evaluate_reduces_exactly_as_one_process(cli, data, cluster, index):
    sharded = cli("evaluate", "model.yaml", "--x", "shards", "--y", "y.npy", "--weights",
                  "w.npz", "--loss", LOSS, "--metrics", METRICS[index], "--format", "json",
                  "--batch-size", "25", "--engine", "dask", "--scheduler", address(cluster),
                  "--chunk-rows", "75")
    assert sharded.exit_code == 0, sharded.stderr
    with open(f"scores{index}.json") as handle:
        single = json.load(handle)
    assert json.loads(sharded.stdout) == single  # equal floats, not close
    assert single["loss"] > 0 and len(single) == 2 + index


def test_evaluate_takes_the_weighted_metrics_too_and_names_them_as_one_process(data, cluster):
    """A spec's weighted_metrics are logged by evaluate (unweighted: it has no sample
    weights), numbered after the plain ones: the same keys and floats on Dask."""
    with open("model.yaml", "a") as handle:
        handle.write("compile:\n  metrics: [accuracy, sparse_top_k_categorical_accuracy]\n"
                     "  weighted_metrics: [accuracy, sparse_top_k_categorical_accuracy]\n")
    common = ["model.yaml", "--weights", "w.npz", "--y", "y.npy", "--loss", LOSS,
              "--format", "json", "--batch-size", "25"]
    single = json.loads(one_process("evaluate", *common, "--x", "x.npy"))
    sharded = one_process("evaluate", *common, "--x", "shards", "--engine", "dask",
                          "--scheduler", address(cluster), "--chunk-rows", "75")
    assert json.loads(sharded) == single
    assert list(single) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy",
                            "weighted_accuracy", "weighted_sparse_top_k_categorical_accuracy"]


# ---------------------------------------------------------------- faults

def test_a_worker_killed_mid_run_still_gives_identical_complete_output(data, cluster):
    """SIGKILL the process of a worker that is computing a chunk; the scheduler gives its
    chunks to the other worker (and to the one the nanny restarts)."""
    from seqcli import cli_dask

    local, client = cluster
    rows = np.random.default_rng(7).standard_normal((3000, 96)).astype(np.float32)
    np.save("big.npy", rows)
    failures = []

    def run():
        try:
            cli_dask.run("model.yaml", "big.npy", "w.npz", "big.zarr", 8, 2**33, False,
                         address(cluster), 8)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    victim = None
    while worker.is_alive() and victim is None:
        busy = [w for w, keys in client.processing().items()
                if any("seqcli-run" in str(key) for key in keys)]
        if busy and os.path.isdir(next(iter(glob.glob(".big.zarr.*.tmp")), "")):
            victim = busy[0]
        else:
            time.sleep(0.005)
    assert victim is not None, f"the run ended before a worker could be killed: {failures}"
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    was_running = worker.is_alive()
    worker.join(120)
    assert was_running and not worker.is_alive() and failures == []
    one_process("run", "model.yaml", "--input", "big.npy", "--weights", "w.npz",
                "--batch-size", "8", "-o", "expected.npy")
    assert same_bytes(zarr.open_array("big.zarr", mode="r")[:], np.load("expected.npy"))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, with a new process
    assert pid not in client.run(os.getpid).values()


def test_data_errors_name_the_shard_and_row_and_leave_no_output(cli, data, cluster):
    bad = np.load("shards/c.npy")
    bad[123, 7] = np.nan
    np.save("shards/c.npy", bad)
    common = ["run", "model.yaml", "--input", "shards", "--weights", "w.npz", "--engine",
              "dask", "--scheduler", address(cluster), "--chunk-rows", "64"]
    assert_clean_error(cli(*common, "-o", "out.zarr"), 1, "shards/c.npy:", "row 123",
                       "sample 678", "--allow-nonfinite")
    assert not looks_complete("out.zarr") and leftovers() == []
    assert cli(*common, "-o", "out.zarr", "--allow-nonfinite").exit_code == 0
    assert np.isnan(zarr.open_array("out.zarr", mode="r")[678]).all()

    np.save("shards/d.npy", np.zeros((10, 95), np.float32))
    assert_clean_error(cli(*common, "-o", "parts/"), 1, "shards/d.npy", "(95,)", "(96,)")
    assert not looks_complete("parts")
    assert_clean_error(cli(*common[:-1], "100", "-o", "x.zarr"), 1, "--chunk-rows",
                       "multiple of --batch-size 32", "use 96 or 128")
    assert_clean_error(cli(*common[:3], "nothing/*.npy", *common[4:], "-o", "x.zarr"), 1,
                       "nothing/*.npy", "no file matches")


def test_an_interrupted_run_leaves_nothing_that_looks_complete(data, cluster):
    rows = np.random.default_rng(8).standard_normal((4000, 96)).astype(np.float32)
    np.save("big.npy", rows)
    command = [sys.executable, "-m", "seqcli", "run", "model.yaml", "--input", "big.npy",
               "--weights", "w.npz", "--engine", "dask", "--scheduler", address(cluster),
               "--batch-size", "8", "--chunk-rows", "8", "-o", "big.zarr"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": ROOT})
    line = process.stderr.readline()
    while line and "chunks, " not in line:  # the first chunk is written
        line = process.stderr.readline()
    assert line, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, rest  # Ctrl-C: interrupted, as shells report it
    assert rest.strip().splitlines()[-1] == "seqcli: error: interrupted"
    assert not looks_complete("big.zarr") and leftovers() == []


# ---------------------------------------------------------------- clusters

def test_a_separately_started_scheduler_with_two_workers(cli, data, tmp_path, monkeypatch):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, reached through
    $SEQCLI_DASK_SCHEDULER (workers without a nanny: they get one BLAS thread from us)."""
    from distributed import Client

    dask_command = os.path.join(os.path.dirname(sys.executable), "dask")
    scheduler_file = str(tmp_path / "scheduler.json")
    env = {**os.environ, **ONE_BLAS_THREAD, "PYTHONPATH": ROOT}
    started = [subprocess.Popen([dask_command, "scheduler", "--host", "127.0.0.1", "--port",
                                 "0", "--dashboard-address", "127.0.0.1:0",
                                 "--scheduler-file", scheduler_file],
                                env=env, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            started.append(subprocess.Popen(
                [dask_command, "worker", "--scheduler-file", scheduler_file, "--nthreads",
                 "1", "--no-nanny", "--host", "127.0.0.1", "--dashboard-address",
                 "127.0.0.1:0"],
                env=env, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        with Client(scheduler_file=scheduler_file, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            scheduler = client.scheduler.address
        assert scheduler.startswith("tcp://127.0.0.1:")
        monkeypatch.setenv("SEQCLI_DASK_SCHEDULER", scheduler)
        result = cli("run", "model.yaml", "--input", "shards/*.npy", "--weights", "w.npz",
                     "--engine", "dask", "-o", "out.zarr")
        assert result.exit_code == 0, result.stderr
        assert f"Dask scheduler {scheduler} with 2 workers" in result.stderr
        assert same_bytes(zarr.open_array("out.zarr", mode="r")[:], reference())
    finally:  # a worker closing gracefully may wait on its scheduler: no need here
        for process in started:
            process.kill()
            process.wait(30)


def test_without_a_scheduler_a_local_cluster_on_loopback(cli, data):
    result = cli("run", "model.yaml", "--input", "shards", "--weights", "w.npz", "--engine",
                 "dask", "-o", "local.npy")
    assert result.exit_code == 0, result.stderr
    assert "Dask scheduler tcp://127.0.0.1:" in result.stderr
    assert same_bytes(np.load("local.npy"), reference())


def test_usage_errors(cli, data, monkeypatch):
    assert_clean_error(cli("run", "model.yaml", "--input", "x.npy", "--chunk-rows", "64"), 2,
                       "need --engine dask")
    assert_clean_error(cli("run", "model.yaml", "--input", "shards"), 2, "is a directory",
                       "--engine dask")
    assert_clean_error(cli("run", "model.yaml", "--input", "shards/*.npy"), 1,
                       "--input shards/*.npy", "no such file", "--engine dask")
    assert_clean_error(cli("run", "model.yaml", "--input", "x.npy", "--engine", "dask",
                           "--scheduler", "tcp://127.0.0.1:9", "-o", "y.zarr"), 1,
                       "--scheduler tcp://127.0.0.1:9", "cannot reach the Dask scheduler")
    assert_clean_error(cli("run", "model.yaml", "--input", "x.npy", "--engine", "dask",
                           "-o", "y.txt"), 1, "out.zarr, folder/ or out.npy")
    with open("x.csv", "w") as handle:  # the numpy engine's text input: named, not "not .npy"
        handle.write("1,2\n")
    assert_clean_error(cli("run", "model.yaml", "--input", "x.csv", "--engine", "dask",
                           "-o", "y.zarr"), 1, "--input x.csv", "not CSV/TSV text",
                       "numpy.save")
    os.mkdir("mine")
    with open("mine/notes.txt", "w") as handle:
        handle.write("keep me")
    assert_clean_error(cli("run", "model.yaml", "--input", "x.npy", "--engine", "dask",
                           "--scheduler", "tcp://127.0.0.1:9", "-o", "mine/"), 1,
                       "mine/", "not a seqcli folder output")
    assert os.listdir("mine") == ["notes.txt"]
    monkeypatch.setitem(sys.modules, "zarr", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "seqcli.dask_engine", raising=False)
    assert_clean_error(cli("run", "model.yaml", "--input", "x.npy", "--engine", "dask"), 1,
                       "pip install 'seqcli[dask]'")


def test_targets_that_do_not_fit_are_shown_whole_not_as_the_probed_head(cli, tmp_path,
                                                                        monkeypatch):
    """The check reads the first 1024 targets; the message gives all of their shape."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.yaml").write_text(SPEC)
    np.save("x.npy", np.zeros((1500, 96), np.float32))
    np.save("y.npy", np.zeros((1500, 3), np.float32))
    result = cli("evaluate", "model.yaml", "--x", "x.npy", "--y", "y.npy", "--loss", "mse",
                 "--engine", "dask")
    assert_clean_error(result, 1, "y.npy", "the targets have shape (1500, 3) but the model "
                       "outputs (1500, 5)")


def test_progress_is_a_bar_on_a_terminal_and_lines_in_a_pipe():
    import io

    from seqcli.dask_engine import ChunkProgress

    terminal, pipe = io.StringIO(), io.StringIO()
    bar, lines = ChunkProgress(terminal, True, 20, 2000), ChunkProgress(pipe, False, 20, 2000)
    for _ in range(20):
        bar.update(100)
        lines.update(100)
    drawn = terminal.getvalue().split("\r")[1:]
    assert len(drawn) == 20 and drawn[0].startswith("[>" + "." * 29 + "] 1/20 chunks, 100/2,000")
    assert drawn[-1].startswith("[" + "=" * 30 + "] 20/20 chunks, 2,000/2,000 rows")
    assert drawn[-1].endswith("\n") and "\n" not in "".join(drawn[:-1])
    printed = pipe.getvalue().splitlines()
    assert len(printed) == 10 and "\r" not in pipe.getvalue()  # one line per tenth
    assert printed[0].startswith("seqcli: 2/20 chunks, 200/2,000 rows, ")
    assert printed[-1].startswith("seqcli: 20/20 chunks, 2,000/2,000 rows, ")


def test_a_keras_file_with_its_own_weights(cli, data, cluster):
    """A .keras archive brings its weights; the workers get them as they get --weights."""
    model = os.path.join(ROOT, "tests", "fixtures", "keras_files", "mnist_convnet.keras")
    images = np.random.default_rng(9).random((200, 12, 12, 1), dtype=np.float32)
    np.save("images.npy", images)
    one_process("run", model, "--input", "images.npy", "-o", "expected.npy")
    result = cli("run", model, "--input", "images.npy", "--engine", "dask", "--scheduler",
                 address(cluster), "--chunk-rows", "64", "-o", "out.zarr")
    assert result.exit_code == 0, result.stderr
    assert "fresh weights" not in result.stderr
    assert same_bytes(zarr.open_array("out.zarr", mode="r")[:], np.load("expected.npy"))
