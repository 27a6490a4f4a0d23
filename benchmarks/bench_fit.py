"""`fit` throughput (training samples per second over one epoch) against Keras 3 on JAX
(jit-compiled; run in its own process, since Keras picks its backend once per process)
and against PyTorch CPU with a plain training loop. Same model, data, batch size (32),
loss and optimizer (Adam) on every side; seqcli also keeps the spec's accuracy metric."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from seqcli import spec, training, weights
from timing import THREADS, compare, peer

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(os.path.dirname(HERE), "specs", "digits")
BATCH = 32

SMALL_CNN = """
name: small_cnn
input_shape: [32, 32, 3]
compile:
  optimizer: {adam: {learning_rate: 0.001}}
  loss: {sparse_categorical_crossentropy: {from_logits: true}}
  metrics: [accuracy]
layers:
  - Conv2D: {filters: 32, kernel_size: 3, activation: relu}
  - MaxPooling2D: {pool_size: 2}
  - Conv2D: {filters: 64, kernel_size: 3, activation: relu}
  - MaxPooling2D: {pool_size: 2}
  - Flatten: {}
  - Dense: {units: 10}
"""

KERAS_FIT = """
import json, sys, time
import numpy as np
import keras
from keras import layers
kind, data_path, lr, epochs = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
data = np.load(data_path)
x, y = data["x"], data["y"]
if kind == "mlp":
    stack = [keras.Input(shape=(64,))] + [layers.Dense(32, activation="relu") for _ in range(3)]
else:
    stack = [keras.Input(shape=(32, 32, 3)), layers.Conv2D(32, 3, activation="relu"),
             layers.MaxPooling2D(2), layers.Conv2D(64, 3, activation="relu"),
             layers.MaxPooling2D(2), layers.Flatten()]
model = keras.Sequential(stack + [layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
class Clock(keras.callbacks.Callback):
    times = []
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)
model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[Clock()])
print(json.dumps(Clock.times[1:]))  # the first epoch compiles
"""


def _data(kind):
    if kind == "mlp":
        data = np.load(os.path.join(DIGITS, "train.npz"))
        return data["x"].astype(np.float32), data["y"]
    rng = np.random.default_rng(0)
    return rng.random((1024, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, 1024)


def _seqcli_epoch(loaded, x, y):
    model = loaded.model
    compiled = training.compile_settings(loaded.compile)
    trained = weights.fresh(model)
    options = training.FitOptions(epochs=1, batch_size=BATCH)
    return lambda: training.fit(model, trained, x, y, compiled, options)


def _torch_epoch(torch, kind, x, y, lr):
    nn = torch.nn
    if kind == "mlp":
        net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                            nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
        tx = torch.from_numpy(x)
    else:
        net = nn.Sequential(nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(64 * 6 * 6, 10))
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    ty = torch.from_numpy(np.asarray(y, dtype=np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(tx))
        for start in range(0, len(tx), BATCH):
            index = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(net(tx[index]), ty[index]).backward()
            optimizer.step()

    return epoch


def _keras_epoch_seconds(kind, x, y, lr, epochs=6):
    """The best epoch time of Keras 3 on JAX, in a process of its own (None if absent)."""
    if peer("keras") is None or peer("jax") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="seqcli-bench-") as folder:
        path = os.path.join(folder, "data.npz")
        np.savez(path, x=x, y=y)
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        out = subprocess.run([sys.executable, "-c", KERAS_FIT, kind, path, str(lr), str(epochs)],
                             check=True, capture_output=True, text=True, env=env)
    return min(json.loads(out.stdout.strip().splitlines()[-1]))


def fit(results):
    torch = peer("torch")
    if torch is not None:
        torch.set_num_threads(THREADS)
    cases = (("digits MLP (1,437 samples of 64)", "mlp",
              spec.load(os.path.join(DIGITS, "mlp.yaml")), 0.01),
             ("small CNN (1,024 samples of 32x32x3)", "cnn",
              spec.load_text(SMALL_CNN, "<bench>"), 0.001))
    for name, kind, loaded, lr in cases:
        x, y = _data(kind)
        ours = _seqcli_epoch(loaded, x, y)
        keras_time = _keras_epoch_seconds(kind, x, y, lr)
        if torch is not None:
            mine, torch_time = compare(ours, _torch_epoch(torch, kind, x, y, lr), repeat=5)
        else:
            mine, torch_time = compare(ours, lambda: None, repeat=5)
        rate = len(x) / mine
        for peer_name, seconds, goal in (("Keras 3 on JAX (jit)", keras_time, 1.0),
                                         ("PyTorch, plain loop", torch_time, 0.7)):
            missing = seconds is None or (peer_name.startswith("PyTorch") and torch is None)
            results.append({"target": f"fit, {name}, batch {BATCH} (samples/s per epoch) "
                                      f"vs {peer_name}",
                            "seqcli": f"{rate:,.0f} samples/s",
                            "peer_figure": "not installed: skipped" if missing else
                            f"{peer_name}: {len(x) / seconds:,.0f} samples/s",
                            "ratio": None if missing else seconds / mine, "goal": goal})
