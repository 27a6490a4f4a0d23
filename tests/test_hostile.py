"""Hostile input, surface by surface: each gets one clean, located line and changes nothing.

Every case asserts the exit status, that stderr ends in one `seqcli: error:` line naming
where the problem is and saying what is wrong, that no traceback appears, and that every
file in the folder is byte-identical afterwards (no output half-written).
"""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from tests.conftest import SPECS
from tests.test_cli import assert_clean_error

GOOD = "name: m\ninput_shape: [4]\nlayers:\n  - Dense: {units: 2}\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")) + \
    "layers: []\n"


def npy(array, allow_pickle=False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def forged_npy(shape, payload=b"\x00" * 16) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def npz(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


W = {"dense/kernel.npy": npy(np.zeros((4, 2), np.float32)),
     "dense/bias.npy": npy(np.zeros(2, np.float32))}
X4 = npy(np.ones((3, 4), np.float32))
Y2 = npy(np.ones((3, 2), np.float32))
D = npz({"x.npy": X4, "y.npy": Y2})
EMPTY = npz({"x.npy": npy(np.ones((0, 4), np.float32)), "y.npy": npy(np.ones((0, 2), np.float32))})
FIT = ["fit", "s.yaml", "--data", "d.npz", "-o", "w.npz"]
KERAS_JSON = os.path.join(os.path.dirname(SPECS), "tests", "fixtures", "keras_files",
                          "mnist_convnet.json")

# (id, files, command args, exit status, location prefix, words)
CASES = [
    # spec files
    ("yaml-python-tag", {"s.yaml": "layers:\n  - !!python/object/apply:os.system [echo hi]\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "!!python"), "tag"),
    ("yaml-python-name", {"s.yaml": GOOD + "compile: !!python/name:os.system\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "!!python"), "not allowed"),
    ("billion-laughs", {"s.yaml": BOMB}, ["summary", "s.yaml"], 1, "s.yaml:", "expands to more"),
    ("self-alias", {"s.yaml": "a: &a [*a]\nlayers: []\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "&a"), "cycle"),
    ("deep-yaml", {"s.yaml": "layers: " + "[" * 5000 + "]" * 5000 + "\n"},
     ["summary", "s.yaml"], 1, "s.yaml:1:", "nests deeper than 100"),
    ("scalar-layer-args", {"s.yaml": "input_shape: [5, 3]\nlayers:\n  - LSTM: 4\n"},
     ["summary", "s.yaml"], 1, "s.yaml:3:11", "e.g. `LSTM: {units: 4}`"),
    ("list-layer-args", {"s.yaml": "input_shape: [5]\nlayers:\n  - Nope: [3]\n"},
     ["summary", "s.yaml"], 1, "s.yaml:3:11", "e.g. `Nope: {name: value}`"),
    ("deep-json", {"s.json": '{"layers": ' + "[" * 5000 + "]" * 5000 + "}"},
     ["summary", "s.json"], 1, "s.json", "nested too deeply"),
    ("duplicate-key", {"s.yaml": GOOD + "name: again\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "name: again"), "duplicate key 'name'"),
    ("json-nan", {"s.json": '{"layers": [{"Dropout": {"rate": NaN}}]}'},
     ["summary", "s.json"], 1, "s.json", "NaN is not valid JSON"),
    ("json-infinity", {"s.json": '{"layers": [{"Dropout": {"rate": -Infinity}}]}'},
     ["summary", "s.json"], 1, "s.json", "-Infinity is not valid JSON"),
    ("yaml-nan", {"s.yaml": "layers:\n  - Dropout: {rate: .nan}\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", ".nan"), "not a finite number"),
    ("bool-as-int", {"s.yaml": "layers:\n  - Dense: {units: true}\n"}, ["summary", "s.yaml"],
     1, ("s.yaml", "true"), "units=True"),
    ("1e3-as-int", {"s.yaml": "layers:\n  - Dense: {units: 1e3}\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "1e3"), "units=1000.0"),
    ("octal-012", {"s.yaml": "layers:\n  - Dense: {units: 012}\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "012"), "leading zero"),
    ("no-as-bool", {"s.yaml": "layers:\n  - Dense: {units: 2, use_bias: no}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "no}"), "expected true or false"),
    ("string-kernel", {"s.yaml": "layers:\n  - Conv2D: {filters: 2, kernel_size: '3'}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "'3'"), "tuple of 2 integers"),
    ("unknown-top-key", {"s.yaml": GOOD + "layer: []\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "layer: []"), "did you mean 'layers'"),
    ("unknown-argument", {"s.yaml": "layers:\n  - Dense: {units: 2, activaton: relu}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "activaton"), "did you mean 'activation'"),
    ("softmax-axis-past-rank", {"s.yaml": GOOD + "  - Softmax: {axis: 2}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "Softmax"), "Invalid axis 2 for Softmax"),
    ("layernorm-axis-past-rank", {"s.yaml": GOOD + "  - LayerNormalization: {axis: [1, 3]}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "LayerNormalization"), "Invalid axis 3"),
    ("empty-file", {"s.yaml": ""}, ["summary", "s.yaml"], 1, "s.yaml", "empty"),
    ("list-document", {"s.yaml": "- Dense: {units: 2}\n"}, ["summary", "s.yaml"], 1,
     "s.yaml:1:1", "a spec is a mapping"),
    ("scalar-document", {"s.yaml": "hello\n"}, ["summary", "s.yaml"], 1, "s.yaml:1:1",
     "a spec is a mapping"),
    ("binary-junk", {"s.yaml": b"\x7fELF\x00\x01\x02"}, ["summary", "s.yaml"], 1, "s.yaml",
     "binary"),
    ("not-utf8", {"s.yaml": b"layers: [\xff\xfe]\n"}, ["summary", "s.yaml"], 1, "s.yaml",
     "not UTF-8"),
    ("nested-self", {"s.yaml": "layers:\n  - Sequential: {spec: s.yaml}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "s.yaml}"), "includes itself"),
    ("nested-missing", {"s.yaml": "layers:\n  - Sequential: {spec: gone.yaml}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "gone.yaml"), "cannot read the nested spec"),
    ("yaml-syntax", {"s.yaml": "layers:\n  - Dense: {units: 2\n"}, ["summary", "s.yaml"], 1,
     "s.yaml:3:1", "invalid YAML"),
    ("json-syntax", {"s.json": '{"layers": [}'}, ["summary", "s.json"], 1, "s.json:1:13",
     "invalid JSON"),
    ("lambda", {"s.yaml": "layers:\n  - Lambda: {function: 'lambda x: x'}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "Lambda"), "never runs code"),
    ("non-string-key", {"s.yaml": "layers: []\n1: x\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "1: x"), "keys must be strings"),
    ("merge-key", {"s.yaml": "base: &b {units: 2}\nlayers:\n  - Dense: {<<: *b}\n"},
     ["summary", "s.yaml"], 1, ("s.yaml", "{<<"), "merge keys"),
    # array files
    ("pickled-npy", {"s.yaml": GOOD, "x.npy": npy(np.array([{"a": 1}], dtype=object), True)},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "never loads"),
    ("huge-header", {"s.yaml": GOOD, "x.npy": forged_npy((10**7, 10**6))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "more than the"),
    ("truncated-npy", {"s.yaml": GOOD, "x.npy": forged_npy((100, 4))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "truncated"),
    ("text-as-npy", {"s.yaml": GOOD, "x.npy": "1,2,3,4\n"},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "it is text"),
    # a file that is not .npy is described as what it is, never as "pickled" (issue 16)
    # Keras's loss arguments and positional arguments, checked as Keras checks them
    ("loss-smoothing-out-of-range", {"s.yaml": GOOD + "compile:\n  loss: {BinaryCrossentropy: "
                                     "{label_smoothing: 2}}\n", "d.npz": D},
     ["fit", "s.yaml", "--data", "d.npz", "-o", "w.npz"], 1, ("s.yaml", "{BinaryCrossentropy"),
     "`label_smoothing` must be a number from 0 to 1; received 2"),
    ("loss-reduction-none", {"s.yaml": GOOD, "d.npz": D},
     ["fit", "s.yaml", "--data", "d.npz", "-o", "w.npz", "--loss", "mse(reduction=None)"], 1,
     "--loss", "would leave one loss per sample"),
    ("optimizer-too-many-positional", {"s.yaml": GOOD + "compile: {loss: mse, optimizer: "
                                       "{SGD: [0.1, 0.9, true, 1, 1, 1, 1, 1, 1, 1, 1]}}\n",
                                       "d.npz": D},
     ["fit", "s.yaml", "--data", "d.npz", "-o", "w.npz"], 1, ("s.yaml", "{SGD"),
     "SGD takes at most 10 positional arguments"),
    ("focal-gamma-not-a-number", {"s.yaml": GOOD + "compile:\n  loss: "
                                  "{BinaryFocalCrossentropy: {gamma: high}}\n", "d.npz": D},
     ["fit", "s.yaml", "--data", "d.npz", "-o", "w.npz"], 1,
     ("s.yaml", "{BinaryFocalCrossentropy"), "`gamma` must be a number; received 'high'"),
    ("dice-batch-axis", {"s.yaml": GOOD, "d.npz": D},
     ["evaluate", "s.yaml", "--data", "d.npz", "--loss", "Dice(axis=[0, 1])"], 1, "--loss",
     "dice's `axis` takes in the batch axis 0"),
    ("tversky-too-many-positional", {"s.yaml": GOOD, "d.npz": D},
     ["evaluate", "s.yaml", "--data", "d.npz", "--loss", "Tversky(0.5, 0.5, 'sum', 't', -1, "
      "None, 1)"], 1, "--loss", "Tversky takes at most 6 positional arguments"),
    ("loss-axis-past-rank", {"s.yaml": GOOD, "d.npz": D},
     ["evaluate", "s.yaml", "--data", "d.npz", "--loss", "BinaryCrossentropy(axis=3)"], 1,
     "", "`axis` 3 is out of range for an output of rank 2"),
    # a bare class name is a layer (issue 16); anything else bare is located
    ("bare-entry-number", {"s.yaml": "layers:\n  - 5\n"}, ["summary", "s.yaml"], 1,
     "s.yaml:2:5", "or a bare class name (`- Flatten`)"),
    # one reader of standard input per command, refused before anything is read
    ("two-stdin-readers", {"s.yaml": GOOD},
     ["run", "s.yaml", "--input", "-", "--weights", "-"], 2,
     "--input and --weights cannot both read standard input", ""),
    # CSV/TSV is an input format (issue 16): each cell is checked and located
    ("csv-bad-cell", {"s.yaml": GOOD, "x.csv": "a,b,c,d\n1,2,3,4\n1,x,3,4\n"},
     ["run", "s.yaml", "--input", "x.csv"], 1, "x.csv:3:3", "'x' is not a number"),
    ("csv-ragged", {"s.yaml": GOOD, "x.tsv": "1\t2\t3\t4\n1\t2\t3\n"},
     ["extract", "s.yaml", "--input", "x.tsv", "--all", "-o", "f.npz"], 1, "x.tsv:2:1",
     "this line has 3 values; the first line has 4"),
    ("csv-mixed-header", {"s.yaml": GOOD, "x.csv": "a,b,1,d\n1,2,3,4\n"},
     ["run", "s.yaml", "--input", "x.csv"], 1, "x.csv:1:5", "mixes names and numbers"),
    ("csv-nan-cell", {"s.yaml": GOOD, "x.csv": "1,2,3,4\n1,nan,3,4\n"},
     ["run", "s.yaml", "--input", "x.csv"], 1, "", "holds NaN or Inf (first in sample 1)"),
    ("yaml-as-input", {"s.yaml": GOOD},
     ["extract", "s.yaml", "--input", "s.yaml", "--layer", "dense", "-o", "f.npz"], 1,
     "s.yaml",
     "not a .npy array: it is text"),
    ("random-bytes-input", {"s.yaml": GOOD, "x.bin": bytes(range(250, 256)) * 7},
     ["run", "s.yaml", "--input", "x.bin"], 1, "x.bin", "no known array format"),
    ("control-bytes-input", {"s.yaml": GOOD, "x.bin": bytes(range(256)) * 4},
     ["run", "s.yaml", "--input", "x.bin"], 1, "x.bin", "no known array format"),
    ("empty-input-file", {"s.yaml": GOOD, "x.npy": b""},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "the file is empty"),
    ("garbage-on-stdin", {"s.yaml": GOOD},
     ["run", "s.yaml", "--input", "-"], 1, "<stdin>", "not a .npy array"),
    # options (issue 16)
    ("input-shape-empty-size", {"s.yaml": GOOD},
     ["summary", "s.yaml", "--input-shape", "4,,5"], 2,
     "Invalid value for '--input-shape'", "empty size"),
    ("layers-empty-name", {"s.yaml": GOOD}, ["freeze", "s.yaml", "--layers", ","], 2,
     "Invalid value for '--layers'", "empty layer name"),
    ("layers-twice", {"s.yaml": GOOD}, ["freeze", "s.yaml", "--layers", "dense,dense"], 2,
     "Invalid value for '--layers'", "more than once"),
    ("hdf5-as-input", {"s.yaml": GOOD, "x.h5": b"\x89HDF\r\n\x1a\n" + bytes(40)},
     ["run", "s.yaml", "--input", "x.h5"], 1, "x.h5", "HDF5"),
    ("npz-as-npy", {"s.yaml": GOOD, "x.npy": npz({"x.npy": X4})},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "npz archive"),
    ("string-dtype", {"s.yaml": GOOD, "x.npy": npy(np.array([["a", "b", "c", "d"]]))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "dtype <U1"),
    ("complex-dtype", {"s.yaml": GOOD, "x.npy": npy(np.ones((2, 4), np.complex64))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "complex64"),
    ("datetime-dtype", {"s.yaml": GOOD, "x.npy": npy(np.zeros((2, 4), "datetime64[s]"))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "datetime64"),
    ("structured-dtype", {"s.yaml": GOOD,
                          "x.npy": npy(np.zeros((2, 4), [("a", "f4"), ("b", "i4")]))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "cannot take"),
    ("wrong-input-shape", {"s.yaml": GOOD, "x.npy": npy(np.ones((2, 5), np.float32))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy: Input 0", "expected shape=(None, 4)"),
    ("summary-input-shape", {"s.yaml": GOOD, "x.npy": npy(np.ones((2, 5), np.float32))},
     ["summary", "s.yaml", "--input", "x.npy"], 1, "x.npy: Input 0", "expected shape=(None, 4)"),
    ("extract-input-shape", {"s.yaml": GOOD, "x.npy": npy(np.ones((2, 5), np.float32))},
     ["extract", "s.yaml", "--input", "x.npy", "--all", "-o", "f.npz"], 1, "x.npy: Input 0",
     "found shape=(None, 5)"),
    ("empty-sample-axis", {"s.yaml": "input_shape: [null, 3]\nlayers:\n  - LSTM: {units: 2}\n",
                           "x.npy": npy(np.ones((3, 0, 3), np.float32))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy", "an axis of size 0"),
    ("data-rank-in-a-layer", {"s.yaml": "layers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n",
                              "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy"], 1, ("s.yaml", "Conv2D"),
     "expected ndim=4, found ndim=2. Full shape received: (None, 4) (for the data in x.npy)"),
    ("nan-input", {"s.yaml": GOOD, "x.npy": npy(np.array([[1, 2, 3, 4], [0, np.nan, 0, 0]],
                                                         np.float32))},
     ["run", "s.yaml", "--input", "x.npy", "-o", "y.npy"], 1, "x.npy: the input",
     "NaN or Inf (first in sample 1)"),
    # values from the command line are blamed on their option; data on its file (issue 16)
    ("loss-typo", {"s.yaml": GOOD, "d.npz": D}, FIT + ["--loss", "msee"], 1, "--loss",
     "unknown loss 'msee' (did you mean 'mse'?)"),
    ("optimizer-typo", {"s.yaml": GOOD, "d.npz": D}, FIT + ["--loss", "mse", "--optimizer",
                                                              "adamm"], 1, "--optimizer",
     "did you mean 'adam'"),
    ("optimizer-not-a-call", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--optimizer", "3"], 1, "--optimizer (column 1 of the call)",
     "expected optimizer name or call"),
    ("metric-typo", {"s.yaml": GOOD, "d.npz": D}, ["evaluate", "s.yaml", "--data", "d.npz",
                                                    "--loss", "mse", "--metrics", "acuracy"],
     1, "--metrics", "did you mean 'accuracy'"),
    ("spec-loss-typo", {"s.yaml": GOOD + "compile: {loss: msee}\n", "d.npz": D}, FIT, 1,
     ("s.yaml", "msee"), "unknown loss 'msee'"),
    ("evaluate-without-loss", {"s.yaml": GOOD, "d.npz": D},
     ["evaluate", "s.yaml", "--data", "d.npz"], 1, "s.yaml", "no loss to score"),
    ("targets-shape-named", {"s.yaml": GOOD, "d.npz": npz({"x.npy": npy(np.ones((1100, 4))),
                                                           "y.npy": npy(np.ones((1100, 3)))})},
     ["evaluate", "s.yaml", "--data", "d.npz", "--loss", "mse"], 1, "d.npz",
     "the targets have shape (1100, 3) but the model outputs (1100, 2)"),
    ("validation-targets", {"s.yaml": GOOD, "d.npz": D, "v.npz": npz(
        {"x.npy": X4, "y.npy": npy(np.ones((3, 5), np.float32))})},
     FIT + ["--loss", "mse", "--validation-data", "v.npz"], 1, "v.npz", "shape (3, 5)"),
    ("validation-inputs", {"s.yaml": GOOD, "d.npz": D, "v.npz": npz(
        {"x.npy": npy(np.ones((3, 5), np.float32)), "y.npy": Y2})},
     FIT + ["--loss", "mse", "--validation-data", "v.npz"], 1, "v.npz: Input 0",
     "found shape=(None, 5)"),
    # --monitor names a logged value, and only with a callback that watches it (issue 16)
    ("monitor-unknown", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--early-stopping", "1", "--monitor", "nosuch"], 1, "--monitor",
     "cannot monitor 'nosuch'"),
    ("monitor-unused", {"s.yaml": GOOD, "d.npz": D}, FIT + ["--loss", "mse", "--monitor", "loss"],
     2, "--monitor is what", "give one of them"),
    # no rows (issue 16)
    ("fit-no-rows", {"s.yaml": GOOD, "d.npz": EMPTY}, FIT + ["--loss", "mse"], 1, "d.npz",
     "0 samples"),
    ("validation-no-rows", {"s.yaml": GOOD, "d.npz": D, "v.npz": EMPTY},
     FIT + ["--loss", "mse", "--validation-data", "v.npz"], 1, "v.npz", "0 samples"),
    ("evaluate-no-rows", {"s.yaml": GOOD, "d.npz": EMPTY},
     ["evaluate", "s.yaml", "--data", "d.npz", "--loss", "mse"], 1, "d.npz", "0 samples"),
    # every destination is checked before any work starts (issue 16)
    ("fit-output-folder-missing", {"s.yaml": GOOD, "d.npz": D}, FIT[:-2] + [
        "--loss", "mse", "-o", "gone/w.npz"], 1, "-o gone/w.npz", "no folder 'gone'"),
    ("fit-checkpoint-folder-missing", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--checkpoint", "gone/best.npz"], 1, "--checkpoint gone/best.npz",
     "no folder"),
    ("fit-history-folder-missing", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--history", "gone/h.csv"], 1, "--history gone/h.csv", "no folder"),
    ("fit-checkpoint-to-stdout", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--checkpoint", "-"], 2, "--checkpoint is rewritten", "not '-'"),
    ("run-output-folder-missing", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "-o", "gone/y.npy"], 1, "-o gone/y.npy", "no folder"),
    ("run-zarr-without-dask", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "-o", "y.zarr"], 1, "-o y.zarr", "--engine dask"),
    ("extract-zarr-without-dask", {"s.yaml": GOOD, "x.npy": X4},
     ["extract", "s.yaml", "--input", "x.npy", "--all", "-o", "f.zarr/"], 1, "-o f.zarr/",
     "--engine dask"),
    ("extract-output-folder-missing", {"s.yaml": GOOD, "x.npy": X4},
     ["extract", "s.yaml", "--input", "x.npy", "--all", "-o", "gone/f.npz"], 1,
     "-o gone/f.npz", "no folder"),
    ("init-output-folder-missing", {"s.yaml": GOOD}, ["init", "s.yaml", "-o", "gone/w.npz"], 1,
     "-o gone/w.npz", "no folder"),
    ("convert-output-folder-missing", {"s.yaml": GOOD}, ["convert", "s.yaml", "-o",
                                                          "gone/m.keras"], 1, "-o gone/m.keras",
     "no folder"),
    ("new-output-folder-missing", {}, ["new", "-o", "gone/m.yaml"], 1, "-o gone/m.yaml",
     "no folder"),
    # nothing reaches a stream before the first batch has passed its checks (issue 16)
    ("nan-first-batch-streamed", {"s.yaml": GOOD, "x.npy": npy(np.full((3, 4), np.nan,
                                                                       np.float32))},
     ["run", "s.yaml", "--input", "x.npy", "-o", "-"], 1, "x.npy: the input", "NaN or Inf"),
    ("nan-targets", {"s.yaml": GOOD, "d.npz": npz({"x.npy": X4, "y.npy": npy(
        np.full((3, 2), np.inf, np.float32))})}, FIT + ["--loss", "mse"], 1,
     "d.npz: the targets hold", "NaN or Inf"),
    ("embedding-index-out-of-range", {"s.yaml": "input_shape: [2]\nlayers:\n  - Embedding: "
                                               "{input_dim: 3, output_dim: 2}\n",
                                      "x.npy": npy(np.array([[1, 7]], np.float32))},
     ["run", "s.yaml", "--input", "x.npy"], 1, "x.npy: layer 'embedding'", "from 0 to 2"),
    ("precision-not-a-number", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--precision", "lots"], 2,
     "Invalid value for '--precision'", "or full"),
    ("precision-with-output", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--precision", "3", "-o", "y.npy"], 2,
     "--precision is for printed outputs", "exactly"),
    # weights archives
    ("npz-path-member", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz({**W, "../evil.npy": X4})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "not a plain array name"),
    ("npz-absolute-member", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz({**W, "/etc/x.npy": X4})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz", "absolute"),
    ("npz-pickled-member", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {**W, "dense/bias.npy": npy(np.array([None, None], dtype=object), True)})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz[dense/bias]",
     "never loads"),
    ("npz-forged-member", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {**W, "dense/kernel.npy": forged_npy((4000, 2000))})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz[dense/kernel]",
     "truncated or forged"),
    ("npz-corrupt", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(W)[:-30]},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "not a readable .npz"),
    ("npz-wrong-shape", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {**W, "dense/kernel.npy": npy(np.zeros((2, 4), np.float32))})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "expected (4, 2)"),
    # Keras 3 variable paths (`sequential/dense/kernel`) map to keys only unambiguously
    ("keras-path-and-key-twice", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {**W, "sequential/dense/kernel.npy": npy(np.zeros((4, 2), np.float32))})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "are both weight 'dense/kernel'"),
    ("keras-paths-of-two-models", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {"a/dense/kernel.npy": npy(np.zeros((4, 2), np.float32)),
         "b/dense/bias.npy": npy(np.zeros(2, np.float32))})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "Keras paths of 2 different models"),
    # sizes
    ("huge-dense-init", {"s.yaml": "input_shape: [4]\nlayers:\n  - Dense: {units: 1000000000000}\n"},
     ["init", "s.yaml", "-o", "w.npz"], 1, "this needs about", "--max-memory"),
    ("batch-over-budget", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--max-memory", "100"], 1, "this needs about",
     "over the 100 bytes limit"),
    ("bad-max-memory", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--max-memory", "lots"], 2, "Invalid value",
     "512M"),
    # the command line: values a user mistypes, found trying every option (issue 16)
    ("summary-scalar-input", {"s.yaml": "layers:\n  - Dense: {units: 2}\n",
                              "x.npy": npy(np.float32(3))},
     ["summary", "s.yaml", "--input", "x.npy"], 1, "x.npy", "is a scalar"),
    ("negative-seed", {"s.yaml": GOOD}, ["init", "s.yaml", "-o", "w.npz", "--seed", "-1"], 2,
     "Invalid value for '--seed'", "x>=0"),
    ("nan-validation-split", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--validation-split", "nan"], 2,
     "Invalid value for '--validation-split'", "not a finite number"),
    ("nan-learning-rate", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--learning-rate", "nan"], 2,
     "Invalid value for '--learning-rate'", "not a finite number"),
    ("inf-min-lr", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--reduce-lr-on-plateau", "1", "--min-lr", "inf"], 2,
     "Invalid value for '--min-lr'", "not a finite number"),
    ("class-weight-twice", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--class-weight", "0:1,0:2"], 2,
     "Invalid value for '--class-weight'", "class 0 given more than once"),
    ("class-weight-inf", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--class-weight", "0:inf"], 2,
     "Invalid value for '--class-weight'", "finite number >= 0"),
    ("spec-to-a-keras-name", {}, ["freeze", "--all", "-o", "frozen.keras"], 2,
     "Invalid value for '-o' / '--output'", "seqcli convert"),
    ("new-spec-to-an-npz-name", {}, ["new", "-o", "model.npz"], 2,
     "Invalid value for '-o' / '--output'", ".yaml, .yml or .json"),
    ("init-weights-to-an-onnx-name", {"s.yaml": GOOD}, ["init", "s.yaml", "-o", "w.onnx"], 2,
     "-o w.onnx", "seqcli convert"),
    ("fit-checkpoint-to-an-npy-name", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--checkpoint", "best.npy"], 2, "--checkpoint best.npy",
     "one array"),
    ("convert-two-outputs-one-file", {"s.yaml": GOOD},
     ["convert", "s.yaml", "-o", "out.yaml", "--weights-out", "./out.yaml"], 2,
     "-o and --weights-out are the same file", "replace the first"),
    ("fit-checkpoint-is-the-output", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--checkpoint", "w.npz"], 2,
     "-o and --checkpoint are the same file", "replace the first"),
    ("run-output-named-npz", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "-o", "y.npz"], 2, "-o y.npz", "give a .npy name"),
    ("extract-output-named-npy", {"s.yaml": GOOD, "x.npy": X4},
     ["extract", "s.yaml", "--input", "x.npy", "--all", "-o", "f.npy"], 2, "-o f.npy",
     "give a .npz name"),
    ("input-shape-zero", {"s.yaml": "layers:\n  - Dense: {units: 2}\n"},
     ["summary", "s.yaml", "--input-shape", "3,0"], 2, "Invalid value for '--input-shape'",
     "a size must be 1 or more; got 0"),
    ("freeze-unknown-layer", {}, ["freeze", "--layers", "dens"], 1, "--layers",
     "did you mean 'dense'?"),
    ("new-empty-name", {}, ["new", "--name", "", "-o", "n.yaml"], 1, "--name",
     "non-empty string"),
    ("min-lr-without-plateau", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--min-lr", "0.1"], 2, "--min-lr sets up",
     "--reduce-lr-on-plateau"),
    ("missing-weights", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "nosuch.npz"], 1, "nosuch.npz",
     "No such file or directory"),
    ("npy-as-weights", {"s.yaml": GOOD, "x.npy": X4},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "x.npy"], 1, "x.npy",
     "not an .npz archive: it is one .npy array"),
    ("yaml-as-data", {"s.yaml": GOOD}, FIT[:3] + ["s.yaml"] + FIT[4:] + ["--loss", "mse"], 1,
     "s.yaml", "not an .npz archive: it is text"),
    ("empty-input-name", {"s.yaml": GOOD}, ["run", "s.yaml", "--input", ""], 1, "''",
     "No such file"),
    ("missing-x", {"s.yaml": GOOD, "y.npy": Y2},
     ["evaluate", "s.yaml", "--x", "nosuch.npy", "--y", "y.npy", "--loss", "mse"], 1,
     "nosuch.npy", "No such file or directory"),
    ("input-shape-does-not-fit", {"s.yaml": GOOD}, ["summary", "s.yaml", "--input-shape", "5"],
     1, "--input-shape 5", "expected shape=(None, 4)"),
    ("check-unbuilt", {"s.yaml": "layers:\n  - Dense: {units: 2}\n"},
     ["check", "s.yaml"], 1, "s.yaml", "or with --input-shape"),
    ("plot-unbuilt", {"s.yaml": "layers:\n  - Dense: {units: 2}\n"},
     ["plot", "s.yaml", "-o", "m.svg"], 1, "s.yaml", "or with --input-shape"),
    ("add-bad-argument-is-placed-in-the-call", {"s.yaml": GOOD + "compile: {loss: mse}\n"},
     ["add", "s.yaml", "-i", "Dense(3, use_bias=1)"], 1, "<layer call>:1:19",
     "argument `use_bias`"),
    ("add-bad-positional-argument-is-placed-in-the-call", {"s.yaml": GOOD},
     ["add", "s.yaml", "-i", "Dense(3, 'nope')"], 1, "<layer call>:1:10",
     "argument `activation`"),
    ("add-misfit-layer-is-placed-in-the-call", {"s.yaml": GOOD},
     ["add", "s.yaml", "-i", "Conv2D(3, 3)"], 1, "<layer call>: layers[1] (Conv2D",
     "expected ndim=4"),
    ("convert-to-stdout", {"s.yaml": GOOD}, ["convert", "s.yaml", "-o", "-"], 1, "-o -",
     "standard output has none"),
    ("plot-to-stdout", {"s.yaml": GOOD}, ["plot", "s.yaml", "-o", "-"], 2,
     "Invalid value for '-o' / '--output'", "standard output has none"),
    ("sgd-momentum-over-one", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "mse", "--optimizer", "SGD(momentum=2.0)"], 1, "--optimizer",
     "`momentum` must be a float between [0, 1]"),
    ("one-hot-targets-for-sparse-loss", {"s.yaml": GOOD, "d.npz": D},
     FIT + ["--loss", "sparse_categorical_crossentropy"], 1, "d.npz",
     "one-hot targets like these go with categorical_crossentropy"),
    ("summary-spec-and-input-both-stdin", {}, ["summary", "-", "--input", "-"], 2,
     "the spec and the input", "standard input"),
    ("two-yaml-documents", {"s.yaml": GOOD + "---\nname: n\n"}, ["summary", "s.yaml"], 1,
     ("s.yaml", "---"), "a spec is one YAML document"),
    ("nan-sample-weight", {"s.yaml": GOOD, "d.npz": D,
                           "sw.npy": npy(np.array([1, np.nan, 1], np.float32))},
     FIT + ["--loss", "mse", "--sample-weight", "sw.npy"], 1, "sw.npy",
     "NaN or Inf (first in sample 1)"),
    ("edit-keras-json", {"m.json": open(KERAS_JSON).read()},
     ["freeze", "m.json", "--all", "-i"], 1, "m.json", "seqcli convert m.json -o model.yaml"),
    ("tf-keras-weight-names", {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {"dense/kernel:0.npy": npy(np.zeros((4, 2), np.float32)),
         "dense/bias:0.npy": npy(np.zeros(2, np.float32))})},
     ["run", "s.yaml", "--input", "x.npy", "--weights", "w.npz"], 1, "w.npz",
     "(did you mean 'dense/bias'?)"),
    # the command line
    ("directory-input", {"s.yaml": GOOD}, ["run", "s.yaml", "--input", "."], 2,
     "Invalid value", "directory"),
    ("missing-spec", {}, ["summary", "nothere.yaml"], 1, "nothere.yaml", "No such file"),
    ("in-place-stdin", {}, ["freeze", "--all", "-i"], 2, "-i/--in-place", "standard input"),
    ("unknown-option", {"s.yaml": GOOD}, ["summary", "s.yaml", "--colour"], 2, "No such option",
     "--colour"),
]


def write_files(folder, files):
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_hostile_input(cli, tmp_path, monkeypatch, case):
    _, files, args, status, where, words = case
    if isinstance(where, tuple):  # (file, marker): where the marker first stands in it
        name, marker = where
        text = files[name]
        offset = text.index(marker)
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        where = f"{name}:{text.count(chr(10), 0, offset) + 1}:{column}"
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, files)
    before = snapshot(tmp_path)
    stdin = GOOD if args[0] == "freeze" else None
    result = cli(*args, input=stdin)
    assert_clean_error(result, status, words)
    assert result.stderr.strip().splitlines()[-1].startswith(f"seqcli: error: {where}")
    assert result.stdout_bytes == b""  # nothing half-written to a pipe either
    assert snapshot(tmp_path) == before


def test_absurd_spec_size_is_refused_before_reading(cli, tmp_path, monkeypatch):
    from seqcli import spec

    monkeypatch.setattr(spec, "MAX_SPEC_BYTES", 64)
    (tmp_path / "s.yaml").write_text(GOOD * 4)
    assert_clean_error(cli("summary", str(tmp_path / "s.yaml")), 1, "larger than 64 bytes")


def test_zip_bomb_member_is_refused(cli, tmp_path, monkeypatch):
    from seqcli import arrays

    monkeypatch.setattr(arrays, "MAX_COMPRESSION_RATIO", 50)
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"s.yaml": GOOD, "x.npy": X4, "w.npz": npz(
        {**W, "extra.npy": npy(np.zeros(2**20, np.float32))}, zipfile.ZIP_DEFLATED)})
    result = cli("run", "s.yaml", "--input", "x.npy", "--weights", "w.npz")
    assert_clean_error(result, 1, "w.npz[extra]", "inflates", "zip bomb")


def test_an_unreadable_file_is_one_line(cli, tmp_path, monkeypatch):
    import builtins

    real_open = builtins.open
    (tmp_path / "s.yaml").write_text(GOOD)

    def guarded(path, *args, **kwargs):
        if str(path).endswith("s.yaml"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    assert_clean_error(cli("summary", str(tmp_path / "s.yaml")), 1, "Permission denied")


def test_empty_batch_gives_an_empty_output_of_the_right_shape(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"x.npy": npy(np.zeros((0, 250, 250, 3), np.float32))})
    result = cli("run", os.path.join(SPECS, "guide_cnn.yaml"), "--input", "x.npy", "-o", "y.npy")
    assert result.exit_code == 0, result.stderr
    y = np.load("y.npy")
    assert y.shape == (0, 10) and y.dtype == np.float32
    extracted = cli("extract", os.path.join(SPECS, "guide_cnn.yaml"), "--input", "x.npy",
                    "--all", "-o", "f.npz")
    assert extracted.exit_code == 0, extracted.stderr
    assert np.load("f.npz")["conv2d"].shape == (0, 123, 123, 32)


def test_inputs_are_cast_explicitly_and_activations_stay_finite(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = "input_shape: [6]\nlayers:\n" + "".join(
        f"  - Activation: {{activation: {a}}}\n" for a in ("softmax", "sigmoid", "softplus",
                                                             "elu", "log_softmax", "mish"))
    write_files(tmp_path, {"s.yaml": spec,
                           "ints.npy": npy(np.array([[1, 2, 3, 4, 5, 6]], np.int64)),
                           "big.npy": npy(np.array([[1e4, -1e4, 3e4, 0, -3e4, 88.0]]))})
    for name in ("ints.npy", "big.npy"):
        result = cli("run", "s.yaml", "--input", name, "-o", "y.npy")
        assert result.exit_code == 0, result.stderr
        y = np.load("y.npy")
        assert y.dtype == np.float32 and np.isfinite(y).all()


def test_a_failing_write_leaves_the_old_weights(cli, tmp_path, monkeypatch):
    from seqcli import files

    monkeypatch.chdir(tmp_path)
    cli("init", os.path.join(SPECS, "guide_layers.yaml"), "-o", "w.npz")
    before = snapshot(tmp_path)
    real_fdopen = os.fdopen

    class DiskFull:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: DiskFull(real_fdopen(*a, **k)))
    result = cli("init", os.path.join(SPECS, "guide_layers.yaml"), "-o", "w.npz", "--seed", "5")
    assert_clean_error(result, 1, "w.npz", "No space left on device")
    assert snapshot(tmp_path) == before


def test_stdout_closed_early_is_quiet(tmp_path):
    """`seqcli run ... -o - | head -c 1`: 58 MB streamed over seconds, long after head has
    gone, so the writes really hit the closed pipe; the exit is quiet, no traceback."""
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", np.ones((32, 250, 250, 3), np.float32))
    features = os.path.join(SPECS, "guide_features.yaml")
    shell = (f"{sys.executable} -m seqcli run {features} --input x.npy -o - --batch-size 1"
             " 2> err.txt | head -c 1 > /dev/null; echo ${PIPESTATUS[0]} > status.txt")
    subprocess.run(["bash", "-c", shell], cwd=tmp_path, timeout=120,
                   env={**os.environ, "PYTHONPATH": os.path.dirname(SPECS)})
    err = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in err and "Error" not in err, err
    assert (tmp_path / "status.txt").read_text().strip() == "1"


def test_a_named_pipe_as_input_is_refused_without_opening_it(cli, tmp_path, monkeypatch):
    """bash's <(...) gives a pipe that can be read once only: opening it here would hang
    or lose the data, so the message points to standard input instead."""
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"s.yaml": GOOD})
    os.mkfifo(tmp_path / "pipe")
    result = cli("run", "s.yaml", "--input", "pipe")
    assert_clean_error(result, 1, "not a regular file", "'--input -'")


def test_control_bytes_on_stdin_are_not_read_as_text(cli, tmp_path, monkeypatch):
    """Standard input is sniffed by the same rule as a file: bytes that decode as UTF-8
    but hold control characters are binary, not a CSV table."""
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"s.yaml": GOOD})
    result = cli("run", "s.yaml", "--input", "-", input=bytes(range(128)) * 4)  # all ASCII
    assert_clean_error(result, 1, "no known array format")
