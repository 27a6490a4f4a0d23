"""Recurrent layers against PyTorch CPU: LSTM, GRU and a Bidirectional LSTM at batch 32,
100 timesteps, 64 features and 64 units; the forward pass, and forward plus backward
(the gradients of every weight and of the input, as training needs)."""

from __future__ import annotations

import numpy as np

from seqcli import spec, weights
from timing import THREADS, compare, peer, skipped

BATCH, STEPS, FEATURES, UNITS = 32, 100, 64, 64
GOAL = 0.7

CASES = (("LSTM", "LSTM: {units: 64}", "LSTM", False),
         ("GRU", "GRU: {units: 64}", "GRU", False),
         ("Bidirectional LSTM", "Bidirectional: {layer: {LSTM: {units: 64}}}", "LSTM", True))


def _seqcli(entry):
    text = f"input_shape: [{STEPS}, {FEATURES}]\nlayers:\n  - {entry}\n"
    model = spec.load_text(text, "<bench>").model
    params = weights.nest(weights.fresh(model))
    rng = np.random.default_rng(0)

    def forward(x):
        return model.forward(params, x)

    def train(x):
        result = model.run(params, x, training=True, rng=rng)
        return model.backward(params, result, np.ones_like(result.output))

    return forward, train


def _torch(torch, kind, bidirectional):
    net = getattr(torch.nn, kind)(FEATURES, UNITS, batch_first=True,
                                  bidirectional=bidirectional)

    def last(x):  # Keras's return_sequences=False: each direction's last output
        out, _ = net(x)
        if not bidirectional:
            return out[:, -1]
        return torch.cat([out[:, -1, :UNITS], out[:, 0, UNITS:]], dim=1)

    def forward(x):
        with torch.inference_mode():
            return last(x)

    def train(x):
        net.zero_grad(set_to_none=True)
        x = x.detach().requires_grad_(True)
        last(x).sum().backward()
        return x.grad

    return forward, train


def recurrent(results):
    torch = peer("torch")
    if torch is None:
        results.append(skipped("recurrent layers vs PyTorch", "PyTorch", GOAL))
        return
    torch.set_num_threads(THREADS)
    x = np.random.default_rng(0).random((BATCH, STEPS, FEATURES), dtype=np.float32)
    tx = torch.from_numpy(x)
    for name, entry, kind, both in CASES:
        ours_forward, ours_train = _seqcli(entry)
        their_forward, their_train = _torch(torch, kind, both)
        for what, ours, theirs in (("forward", ours_forward, their_forward),
                                   ("forward+backward", ours_train, their_train)):
            mine, peer_time = compare(lambda: ours(x), lambda: theirs(tx), repeat=7)
            results.append({"target": f"{name} {what}, batch {BATCH}, {STEPS} steps, "
                                      f"{UNITS} units (per call)",
                            "seqcli": f"{mine * 1e3:.2f} ms",
                            "peer_figure": f"PyTorch: {peer_time * 1e3:.2f} ms",
                            "ratio": peer_time / mine, "goal": GOAL})
