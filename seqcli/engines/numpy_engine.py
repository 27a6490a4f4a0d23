"""The default engine: seqcli's own numpy forward pass."""

from __future__ import annotations

from seqcli.model import Pass, Sequential
from seqcli.weights import nest


class NumpyEngine:
    name = "numpy"

    def __init__(self, model: Sequential, weights: dict):
        self.model, self.weights = model, weights
        self.params = nest(weights)

    def forward(self, batch, keep=()) -> Pass:
        """The batch's output, the outputs of the top-level layers named in `keep`, and
        the layers' extra loss terms."""
        return self.model.run(self.params, batch, keep=frozenset(keep))
